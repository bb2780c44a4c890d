"""foil from Python (pytest, run through CTest): the extension against the CLI on the same
model, images and seed, the caller's tensors, explanations against hook computations, and
bad input raising ValueError with one line."""
import json
import os
import subprocess
import sys

import pytest
import torch

import foil

FIXTURES = os.environ["FOIL_FIXTURES"]
FOIL = os.environ["FOIL_BINARY"]
SCRIPTED = os.path.join(FIXTURES, "fashion_cnn.pt")
DATA = "fashion-mnist:test:40"
# The CLI on as many threads as this process's LibTorch: float sums split over threads differ
# in their last bits, and the comparisons below are bit for bit.
THREADS = ["--threads", str(torch.get_num_threads())]


@pytest.fixture(scope="module")
def model():
    return foil.Model(torch.jit.load(SCRIPTED), name="fashion_cnn.pt")


@pytest.fixture(scope="module")
def data():
    images, labels, names = foil.load_data(DATA)
    return images, labels


def cli(tmp_path, *args):
    out = tmp_path / "out"
    r = subprocess.run([FOIL, *THREADS, "attack", "--model", SCRIPTED, "--data", DATA, "--out", str(out),
                        *args], capture_output=True, text=True, env={**os.environ,
                                                                     "FOIL_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    return out


def test_pgd_equals_the_cli_bit_for_bit(tmp_path, model, data):
    images, labels = data
    adv = foil.PGD(model, eps=0.1, alpha=0.02, steps=5, seed=7)(images, labels)
    out = cli(tmp_path, "--attack", "pgd", "--eps", "0.1", "--alpha", "0.02", "--steps", "5",
              "--seed", "7", "--save-adv", str(tmp_path / "adv.pt"))
    assert out.exists()
    assert torch.equal(adv, torch.load(tmp_path / "adv.pt"))
    assert not torch.equal(adv, images)  # the attack did something


def test_the_callers_tensors_are_untouched_and_the_result_is_on_their_device(model, data):
    images, labels = data
    before, before_labels = images.clone(), labels.clone()
    adv = foil.MIFGSM(model, eps=0.05, alpha=0.01, steps=3)(images, labels)
    assert torch.equal(images, before) and torch.equal(labels, before_labels)
    assert adv.device == images.device and adv.dtype == torch.float32
    assert adv.shape == images.shape
    assert (adv - images).abs().max().item() <= 0.05 + 1e-6
    assert adv.min().item() >= 0 and adv.max().item() <= 1


def test_evaluate_gives_the_cli_json(tmp_path, model, data):
    images, labels = data
    got = foil.evaluate(model, images, labels, foil.Attack(model, "apgd-ce", eps=0.1, steps=10))
    out = cli(tmp_path, "--attack", "apgd-ce", "--eps", "0.1", "--steps", "10")
    want = json.loads((out / "attack.json").read_text())
    for key in ["n", "clean_accuracy", "robust_accuracy", "attack_success_rate", "checks",
                "perturbation", "per_item", "final_check", "gradient_evaluations", "attack",
                "threat"]:
        assert got[key] == want[key], key
    assert 0 <= got["robust_accuracy"] <= got["clean_accuracy"] <= 1


def test_autoattack_reports_its_stages(model, data):
    images, labels = data
    r = foil.evaluate(model, images[:16], labels[:16],
                      foil.AutoAttack(model, norm="Linf", eps=0.1, version="fast", steps=10))
    stages = r["stages"] if "stages" in r else r["stage_robust_accuracy"]
    assert len(stages) >= 2
    assert r["robust_accuracy"] <= r["clean_accuracy"]


def test_audit_gives_the_cli_numbers_and_its_results_folder(tmp_path, model, data):
    images, labels = data
    got = foil.audit(model, images, labels, linf_eps=[0.05], l2_eps=[0.5], curve="none",
                     steps=5, corruptions="gaussian_noise", severities="3",
                     out=str(tmp_path / "py"))
    r = subprocess.run([FOIL, *THREADS, "audit", "--model", SCRIPTED, "--data", DATA, "--linf-eps", "0.05",
                        "--l2-eps", "0.5", "--curve", "none", "--steps", "5", "--corruptions",
                        "gaussian_noise", "--severities", "3", "--out", str(tmp_path / "cli")],
                       capture_output=True, text=True, env={**os.environ, "FOIL_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    want = json.loads((tmp_path / "cli" / "audit.json").read_text())
    for key in ["n", "clean_accuracy", "checks", "corruptions"]:
        assert got[key] == want[key], key
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert len(got["results"]) == 2  # one Linf and one L2 budget
    assert strip(got["results"]) == strip(want["results"])
    for name in ["audit.json", "audit.csv", "run.json", "report.html"]:
        assert (tmp_path / "py" / name).is_file(), name
    assert not (tmp_path / "py.partial").exists()


def test_segment_audit_gives_the_cli_numbers(tmp_path):
    # A crop of the model's own size: the CLI scores it at the photo's resolution, which is the
    # logits' own, as foil.audit scores tensors.
    selfie = os.path.join(os.environ["FOIL_ASSETS"], "human", "models", "selfie.json")
    photo = os.path.join(os.environ["FOIL_ASSETS"], "photos", "astronaut.png") + "@100,0,256,256"
    images, _, _ = foil.load_data(photo)
    got = foil.audit(foil.load_model(selfie), images, linf_eps=[4 / 255], steps=3, examples=0)
    r = subprocess.run([FOIL, *THREADS, "audit", "--model", selfie, "--data", photo, "--linf-eps",
                        str(4 / 255), "--steps", "3", "--examples", "0", "--out",
                        str(tmp_path / "cli")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    want = json.loads((tmp_path / "cli" / "audit_segment.json").read_text())
    assert got["task"] == want["task"] == "segment"
    assert [row["row"] for row in got["rows"]] == [row["row"] for row in want["rows"]]
    for g, w in zip(got["rows"], want["rows"]):
        assert g["miou"] == w["miou"] and g["pixels"] == w["pixels"] == 256 * 256, g["row"]
    assert want["rows"][-1]["miou"] < want["rows"][1]["miou"]  # cospgd below the noise


def test_patch_train_equals_the_cli_patch_bit_for_bit(tmp_path, model):
    spec = "fashion-mnist:train:120"
    r = subprocess.run([FOIL, *THREADS, "patch", "train", "--model", SCRIPTED, "--data", spec, "--epochs",
                        "1", "--target", "3", "--seed", "5", "--eval-data",
                        "fashion-mnist:test:60", "--out", str(tmp_path / "cli")],
                       capture_output=True, text=True, env={**os.environ, "FOIL_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    patch = foil.patch.train(model, data=spec, eval_data="fashion-mnist:test:60", epochs=1,
                             target=3, seed=5, out=str(tmp_path / "py"))
    assert torch.equal(patch.params, torch.load(tmp_path / "cli" / "patch.pt"))
    assert not torch.all(patch.params == 0.5)  # it trained away from the grey start
    want = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert patch.summary == want
    assert (tmp_path / "py" / "patch.pt").read_bytes() == (tmp_path / "cli" / "patch.pt").read_bytes()
    assert (tmp_path / "py" / "report.html").exists()
    # Evaluating the trained object and the CLI's file gives the same numbers.
    mine = foil.patch.evaluate(model, patch, data="fashion-mnist:test:60", target=3, seed=2)
    cli_file = foil.patch.evaluate(model, str(tmp_path / "cli" / "patch.pt"),
                                   data="fashion-mnist:test:60", target=3, seed=2)
    assert mine["models"] == cli_file["models"]


def test_patch_on_tensors_is_evaluated_on_the_held_out_tensors(model, data):
    images, labels = foil.load_data("fashion-mnist:train:60")[:2]
    held_images, held_labels = data
    before = held_images.clone()
    patch = foil.patch.train(model, images, labels, eval_images=held_images,
                             eval_labels=held_labels, epochs=1, area=0.1, cells=3, target=0)
    assert patch.summary["eval_data"] == "python: eval_images"
    evaluation = patch.summary["evaluation"][0]
    assert evaluation["n"] == len(held_images) and not patch.summary["eval_on_train"]
    again = foil.patch.evaluate(model, patch, held_images, held_labels, target=0, repeats=1,
                                seed=1)["models"][0]
    for key in ["clean_accuracy", "patched_accuracy", "target_success", "fooling_rate"]:
        assert evaluation[key] == pytest.approx(again[key]), key
    # apply pastes the patch's pixels, side x side of them, and nothing else.
    pasted = patch.apply(held_images[:3], seed=4)
    side = patch.options["side"]
    changed = (pasted != held_images[:3]).flatten(1).sum(1)
    assert (changed <= side * side).all() and torch.equal(held_images, before)


def test_gradcam_equals_the_hook_computation_on_resnet18():
    ref = torch.jit.load(os.path.join(FIXTURES, "reference.pt"))
    net = foil.Model(torch.jit.load(os.path.join(FIXTURES, "resnet18.pt")))
    x, cls = ref.resnet_x, ref.resnet_cls
    for method, key in [("gradcam", "gradcam"), ("hirescam", "hirescam"),
                        ("ablationcam", "ablationcam")]:
        maps = getattr(foil.explain, method)(net, x, layer="layer3", target=cls)
        want = getattr(ref, "resnet_cam_" + key)
        assert maps.shape == want.shape
        assert ((maps - want).abs().max() / want.abs().max()).item() <= 1e-4, method
    # No target: each image's predicted class.
    assert torch.equal(foil.explain.gradcam(net, x, layer="layer3"),
                       foil.explain.gradcam(net, x, layer="layer3", target=net(x).argmax(1)))


def test_model_files_load_as_the_cli_opens_them(data):
    images, labels = data
    m = foil.load_model(os.path.join(os.environ["FOIL_TEST_MODELS"], "cnn.foil"))
    assert m.info["num_classes"] == 10
    assert (m(images).argmax(1) == labels).float().mean().item() > 0.5


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: foil.PGD(m)(x.double(), y), "float32"),
    (lambda m, x, y: foil.PGD(m)(x * 255, y), "[0, 1]"),
    (lambda m, x, y: foil.PGD(m)(x[0], y), "N x C x H x W"),
    (lambda m, x, y: foil.PGD(m)(x, y + 10), "labels"),
    (lambda m, x, y: foil.PGD(m)(x, y.float()), "integer"),
    (lambda m, x, y: foil.PGD(m)(x, y[:3]), "one label per image"),
    (lambda m, x, y: foil.PGD(m)(torch.rand(2, 3, 28, 28), y[:2]), "input"),
    (lambda m, x, y: foil.PGD(m, eps=-1)(x, y), "eps"),
    (lambda m, x, y: foil.PGD(m, epsilon=0.1)(x, y), "epsilon"),
    (lambda m, x, y: foil.PGD(m, seed=-1)(x, y), "seed"),
    (lambda m, x, y: foil.PGD(m, steps="ten")(x, y), "steps"),
    # An option the attack does not read (the CLI refuses its flag the same way).
    (lambda m, x, y: foil.PGD(m, max_queries=100)(x, y), "max_queries: not used by pgd"),
    (lambda m, x, y: foil.FGSM(m, steps=5)(x, y), "steps: not used by fgsm"),
    (lambda m, x, y: foil.Attack(m, "ti-fgsm", ti_kernel=-1)(x, y), "ti_kernel: expected"),
    (lambda m, x, y: foil.Attack(m, "nope")(x, y), "nope"),
    (lambda m, x, y: foil.explain.gradcam(m, x, layer="nope"), "nope"),
    (lambda m, x, y: foil.Model(torch.nn.Linear(2, 2)), "torch.jit.script"),
    (lambda m, x, y: foil.load_model("/nonexistent.pt"), "nonexistent"),
    (lambda m, x, y: foil.patch.train(m, x, y), "held-out images"),
    (lambda m, x, y: foil.patch.train(m, x, y, eval_on_train=True, lr=-1), "lr:"),
    (lambda m, x, y: foil.patch.train(m, x, y, eval_on_train=True, scale=(2, 1)), "scale"),
    (lambda m, x, y: foil.patch.train(m, x, y, data=DATA), "either a data spec"),
    (lambda m, x, y: foil.patch.evaluate(m, "/nonexistent.pt", x, y), "nonexistent"),
    (lambda m, x, y: foil.explain.gradcam(m, x, ig_steps=4), "ig_steps: not used by gradcam"),
    (lambda m, x, y: foil.patch.train(m, x, y, eval_on_train=True, epochs=0), "epochs: expected"),
    (lambda m, x, y: foil.audit(m, x, y, examples=99), "examples: expected an integer in 0..32"),
    (lambda m, x, y: foil.audit(m, x, y, linf_eps=[0.1, -1]), "linf_eps: expected"),
])
def test_bad_input_raises_one_line(model, data, call, message):
    images, labels = data
    with pytest.raises(ValueError) as e:
        call(model, images[:4], labels[:4])
    text = str(e.value)
    assert message in text and "\n" not in text


def test_the_installed_module_imports_in_a_fresh_interpreter(tmp_path):
    build = os.environ["FOIL_BUILD"]
    subprocess.run(["cmake", "--install", build, "--prefix", str(tmp_path), "--component",
                    "python"], check=True, capture_output=True)
    site = [p for p in tmp_path.rglob("dist-packages")]
    assert site, "nothing installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site[0])
    code = ("import foil, torch; m = foil.Model(torch.jit.load(%r)); "
            "print(foil.__file__, m(torch.rand(2, 1, 28, 28)).shape)" % SCRIPTED)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert str(tmp_path) in r.stdout and "torch.Size([2, 10])" in r.stdout


def test_pip_installs_the_module_into_a_venv_over_the_system_torch(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FOIL_BUILD_DIR"] = os.environ["FOIL_BUILD"]  # the module this suite tests, not a rebuild
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation",
                        "--no-index", root], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    code = ("import foil, torch; m = foil.Model(torch.jit.load(%r)); "
            "print(foil.__file__, foil.__version__, m(torch.rand(2, 1, 28, 28)).shape)"
            % os.path.abspath(SCRIPTED))
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                       env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, version, shape = r.stdout.split(" ", 2)
    assert where.startswith(str(venv)) and version == foil.__version__
    assert "torch.Size([2, 10])" in shape
