# The Python module `foil` (python/): built where Debian's python3-torch and pybind11-dev are
# present. It links the libtorch python3-torch runs on, so tensors and scripted modules cross
# without copies. build/python is an importable folder (PYTHONPATH); `cmake --install` puts
# the package in the system Python's dist-packages under the prefix.
option(FOIL_BUILD_PYTHON "Build the Python module where its dependencies are found" ON)
if(NOT FOIL_BUILD_PYTHON)
  message(STATUS "foil: no Python module (FOIL_BUILD_PYTHON=OFF)")
  return()
endif()
find_program(FOIL_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
set(Python3_EXECUTABLE ${FOIL_PYTHON})
find_package(Python3 COMPONENTS Interpreter Development.Module)
find_package(pybind11 CONFIG QUIET)
find_library(FOIL_TORCH_PYTHON torch_python HINTS ${TORCH_INSTALL_PREFIX}/lib)
set(FOIL_PYTHON_TORCH 1)
if(Python3_FOUND)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import torch" RESULT_VARIABLE FOIL_PYTHON_TORCH
                  OUTPUT_QUIET ERROR_QUIET)
endif()
if(NOT (pybind11_FOUND AND FOIL_TORCH_PYTHON AND FOIL_PYTHON_TORCH EQUAL 0))
  message(STATUS "foil: no Python module (needs pybind11-dev and python3-torch)")
  return()
endif()
set(FOIL_PYTHON_DIR ${PROJECT_BINARY_DIR}/python)
pybind11_add_module(foil_python MODULE python/foil_module.cpp python/patch_bindings.cpp)
set_target_properties(foil_python PROPERTIES OUTPUT_NAME _foil
                                             LIBRARY_OUTPUT_DIRECTORY ${FOIL_PYTHON_DIR}/foil)
target_link_libraries(foil_python PRIVATE foil_lib ${FOIL_TORCH_PYTHON})
target_compile_definitions(foil_python PRIVATE TORCH_API_INCLUDE_EXTENSION_H)
# The pure-Python part beside the extension.
file(GLOB FOIL_PYTHON_SOURCES CONFIGURE_DEPENDS python/foil/*.py)
foreach(src IN LISTS FOIL_PYTHON_SOURCES)
  get_filename_component(name ${src} NAME)
  configure_file(${src} ${FOIL_PYTHON_DIR}/foil/${name} COPYONLY)
endforeach()
# Installed where that interpreter looks under both prefixes a Debian machine uses:
# lib/python3.X/dist-packages is on its path under /usr (the .deb, python3-foil) and under
# /usr/local. The module is built for that Python version only, so the versioned folder is
# the right place for it.
set(FOIL_PYTHON_SITE lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/dist-packages)
install(TARGETS foil_python LIBRARY DESTINATION ${FOIL_PYTHON_SITE}/foil COMPONENT python)
install(FILES ${FOIL_PYTHON_SOURCES} DESTINATION ${FOIL_PYTHON_SITE}/foil COMPONENT python)
