"""Builds foil's Python module with CMake for `pip install --no-build-isolation .`.

The module links the libtorch of the system's PyTorch (Debian's python3-torch), so it is built
here rather than fetched: in FOIL_BUILD_DIR when set, else in build/ (the README's build
folder, reused as it is when configured; otherwise configured without the test suite after
installing the Debian packages the module needs). See docs/python.md, "Installing".
"""
import os
import pathlib
import re
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


def version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(foil VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    """Builds the CMake target foil_python and copies the module where setuptools wants it."""

    def build_extension(self, ext):
        build = pathlib.Path(os.environ.get("FOIL_BUILD_DIR", ROOT / "build")).resolve()
        if not (build / "CMakeCache.txt").exists():
            subprocess.run(["bash", str(ROOT / "scripts/install-deps.sh"), "--python"], check=True)
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build),
                            "-DCMAKE_BUILD_TYPE=Release", "-DFOIL_BUILD_TESTS=OFF"], check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "foil_python", "-j",
                        str(os.cpu_count() or 1)], check=True)
        built = sorted((build / "python" / "foil").glob("_foil*.so"))
        if not built:
            raise RuntimeError(f"foil: no Python module was built in {build} (CMake needs "
                               "pybind11-dev and python3-torch: scripts/install-deps.sh)")
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], target)


setup(
    version=version(),
    packages=["foil"],
    package_dir={"": "python"},
    ext_modules=[Extension("foil._foil", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own scratch goes beside CMake's, not over the build/ folder it shares.
    options={"build": {"build_base": "build/setuptools"},
             "egg_info": {"egg_base": "build"}},
)
