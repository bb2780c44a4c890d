"""scripts/gpu-check.sh's report: every figure of one run in OUT_DIR/gpu-check.json.

  python3 gpu_check_report.py OUT_DIR BENCH_DIR

Reads OUT_DIR/env.json, steps.tsv and tests.json (GoogleTest's), and the timing JSONs of
scripts/bench-gpu.sh in BENCH_DIR; computes each ratio against PyTorch in the same run and the
goals of docs/speed.md; prints them. Exit status 0 when the build and every test passed (in a
dry run: every *_CUDA test was found and skipped, none failed), else 1.
"""
import json
import os
import sys

out, bench = sys.argv[1], sys.argv[2]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


env = load(os.path.join(out, "env.json")) or {}
dry = bool(env.get("dry_run"))
steps = {}
if os.path.exists(os.path.join(out, "steps.tsv")):
    for line in open(os.path.join(out, "steps.tsv")):
        name, rc, ms = line.rstrip("\n").split("\t")
        steps[name] = {"exit": int(rc), "seconds": int(ms) / 1e3}

# The *_CUDA tests, one entry each.
tests = []
gtest = load(os.path.join(out, "tests.json"))
for suite in (gtest or {}).get("testsuites", []):
    for t in suite.get("testsuite", []):
        failures = [f.get("failure", "") for f in t.get("failures", [])]
        result = "failed" if failures else t.get("result", "COMPLETED").lower()
        tests.append({"name": f"{suite['name']}.{t['name']}", "result": result,
                      "seconds": float(str(t.get("time", "0s")).rstrip("s")),
                      "failures": [f[:2000] for f in failures]})

# Timings, and each against PyTorch in the same run.
torch_rows = (load(os.path.join(bench, "torch.json")) or {}).get("rows", {})
foil_rows = {}
for r in (load(os.path.join(bench, "foil-resnet18.json")) or {}).get("attacks", []):
    foil_rows[r["attack"] + ("-" + r["norm"] if "norm" in r else "")] = r
figures, goals = {}, []


def ratio(a, b):
    return a / b if a is not None and b else None


def goal(name, value, limit, what):
    goals.append({"goal": name, "value": value, "at_most": limit, "what": what,
                  "met": None if value is None else value <= limit})


for row in ("pgd-linf", "apgd-ce-linf"):
    f, t = foil_rows.get(row), torch_rows.get(row)
    if not (f and t):
        continue
    figures[row] = {
        "foil_ms_per_step": f["ms_per_step"], "pytorch_eager_ms_per_step": t["ms_per_step"],
        "foil_to_pytorch": ratio(f["ms_per_step"], t["ms_per_step"]),
        "foil_ratio_to_its_bare_pass": f["ratio_to_bare"],
        "pytorch_ratio_to_its_bare_pass": t["ratio_to_bare"],
        "foil_bare_to_pytorch_bare": ratio(f["bare_ms_per_step"], t["bare_ms_per_step"]),
        "foil_read_backs_per_step": (f.get("profile") or {}).get("read_backs_per_step"),
        "foil_top_ops": (f.get("profile") or {}).get("top_inclusive")}
    goal(f"{row} per step, foil / PyTorch eager", figures[row]["foil_to_pytorch"], 1.0,
         "ResNet-18 step time against the eager PyTorch loop on the same weights and batch")
if "apgd-ce-linf" in figures:
    goal("apgd-ce-linf, foil / its bare pass", figures["apgd-ce-linf"]["foil_ratio_to_its_bare_pass"],
         1.1, "APGD-CE's bookkeeping over the forward+backward passes it makes")
if "traced-model" in torch_rows:
    figures["traced_model_in_pytorch"] = {
        "traced_to_eager": torch_rows["traced-model"]["ratio_to_bare"],
        "what": "the traced file foil loads, run from Python, against the eager model: the "
                "model format's share of any gap"}
for row in ("patch-ce", "patch-ce+eot"):
    f = foil_rows.get(row)
    if f:
        figures[row] = {"ms_per_step": f["ms_per_step"], "ratio_to_bare": f["ratio_to_bare"],
                        "images_per_second": f["images_per_second"],
                        "read_backs_per_step": (f.get("profile") or {}).get("read_backs_per_step")}
if "patch-ce+eot" in figures:
    goal("patch-ce+eot, foil / its bare pass", figures["patch-ce+eot"]["ratio_to_bare"], 2.0,
         "EOT patch training step against one forward+backward of the batch")

aa_torch = load(os.path.join(bench, "aa-torch.json"))
aa_foil = load(os.path.join(bench, "foil-autoattack.json"))
aa_time = load(os.path.join(bench, "foil-autoattack-time.json"))
if aa_torch and aa_foil and aa_time:
    ta = aa_torch.get("torchattacks")
    loop = aa_torch["pytorch_apgd_ce_100"]
    figures["autoattack"] = {
        "items": aa_torch["items"], "eps": aa_torch["eps"],
        "clean_accuracy_pytorch": aa_torch["clean_accuracy"],
        "clean_accuracy_foil": aa_foil.get("clean_accuracy"),
        "foil_seconds_whole_process": aa_time["seconds"],
        "foil_robust_accuracy": aa_foil.get("robust_accuracy"),
        "torchattacks": ta,
        "foil_to_torchattacks": ratio(aa_time["seconds"], ta["seconds"]) if ta else None,
        "pytorch_apgd_ce_loop": loop,
        "foil_to_pytorch_apgd_ce_loop": ratio(aa_time["seconds"], loop["seconds"]),
        "what": "foil's whole process (start-up, model load, four attacks) against torchattacks' "
                "AutoAttack call on the loaded model, and against the PyTorch APGD-CE loop alone "
                "(AutoAttack's first stage: a lower bound)"}
cnn = load(os.path.join(bench, "foil-cnn.json"))
if cnn:
    figures["builtin_cnn_rows"] = [{k: r[k] for k in r if k != "profile"} for r in cnn["attacks"]]
movenet = {}
for d in ("cuda", "cpu"):
    m = load(os.path.join(bench, f"movenet-{d}.json"))
    if m:
        movenet[d] = {"forward_ms": m["forward_ms"], "forward_backward_ms": m["forward_backward_ms"],
                      "batch": m["batch"]}
if len(movenet) == 2:
    movenet["cpu_to_cuda_forward_backward"] = ratio(movenet["cpu"]["forward_backward_ms"],
                                                    movenet["cuda"]["forward_backward_ms"])
if movenet:
    figures["movenet"] = movenet

failed = [t["name"] for t in tests if t["result"] == "failed"]
built = steps.get("build", {}).get("exit") == 0
ok = built and bool(tests) and not failed and steps.get("bench", {}).get("exit") == 0
if dry:
    ok = ok and all(t["result"] == "skipped" for t in tests)
report = {"ok": ok, "environment": env, "steps": steps,
          "note": "dry run: every step on the CPU at tiny sizes; it checks the plumbing, and its "
                  "figures and goals are not GPU results" if dry else
                  "same run, same GPU: each ratio is foil against PyTorch or its own bare pass",
          "tests": {"passed": sum(t["result"] == "completed" for t in tests),
                    "skipped": sum(t["result"] == "skipped" for t in tests),
                    "failed": failed, "each": tests},
          "figures": figures, "goals": goals}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(report, f, indent=1)

print(f"\ngpu-check ({'dry run, ' if dry else ''}{env.get('gpu') or 'no GPU'}, torch "
      f"{env.get('torch')}): {'ok' if ok else 'NOT ok'}")
for name, s in steps.items():
    print(f"  step {name:<11} exit {s['exit']}  {s['seconds']:.1f} s")
print(f"  tests: {report['tests']['passed']} passed, {report['tests']['skipped']} skipped, "
      f"{len(failed)} failed {failed if failed else ''}")
for g in goals:
    v = "n/a" if g["value"] is None else f"{g['value']:.3f}"
    print(f"  {g['goal']:<40} {v:>7}  (goal <= {g['at_most']}: "
          f"{'met' if g['met'] else 'not met' if g['met'] is not None else 'n/a'})")
if "autoattack" in figures:
    a = figures["autoattack"]
    print(f"  autoattack {a['items']} items: foil {a['foil_seconds_whole_process']:.1f} s "
          f"(robust {a['foil_robust_accuracy']}), torchattacks "
          f"{a['torchattacks']['seconds'] if a['torchattacks'] else 'not carried'}, "
          f"PyTorch APGD-CE loop {a['pytorch_apgd_ce_loop']['seconds']:.1f} s")
sys.exit(0 if ok else 1)
