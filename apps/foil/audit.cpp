// foil audit: the main job (foil/jobs/audit.h) written as a results folder.
#include "foil/jobs/audit.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/jobs/task_audit.h"
#include "foil/models/graph_model.h"

namespace foil::cli {
namespace {

struct AuditCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:250";
  std::string out = "foil-audit";
  FlagsOf<AuditOptions> options;
  std::string surrogate, baseline;
};

/// The built-in model's transfer attacker: the zoo's other architectures trained on the same
/// data.
const char* const kBuiltinSurrogates = "zoo:mlp,zoo:resnet,zoo:mobilenet";

/// --task detect or segment: the detector or segmenter audit (foil/jobs/detection_audit.h,
/// segmentation_audit.h) on `model` (`found`: the task came from the model, not from --task).
void run_task_audit(const AuditCmd& c, const std::shared_ptr<Model>& model, const std::string& task,
                    bool found) {
  if (found) print_line(fmt::format("task    {} (the model's own; --task sets it)", task));
  refuse_flags({"--surrogate", "--baseline"}, "the " + task + " audit has no transfer or mCE rows");
  refuse_flags({"--mean", "--std"}, "a graph model's metadata says how it takes its input");
  check_input(run_record().flags.contains("--data"), "--data",
              "photos for the " + task + " audit (an image folder or file)", "none");
  AuditOptions o = task_audit_defaults(task);
  apply_option_flags(c.options, o, {task});
  if (o.corruption.corruptions.empty())
    refuse_flags({"--severities", "--as-published"},
                 "they shape the corruption rows (--corruptions)");
  o.seed = global_options().seed;
  o.log = print_line;
  check_task_audit_options(o);
  ResultsFolder out(c.out, "--out");
  auto& graph = dynamic_cast<GraphModel&>(*model);
  const auto j = run_task_audit(graph, open_task_data(c.data, graph), o, out.dir());
  out.commit();
  fmt::print("wrote {}/report.html, audit_{}.json, audit_{}.csv{}{}\n", c.out, task, task,
             task == "detect" ? ", detections*.json" : "", j["examples"] ? ", examples.png" : "");
}

void run_audit(const AuditCmd& c) {
  const c10::Device device = apply_global_options();
  AuditOptions o = audit_defaults();
  apply_option_flags(c.options, o);  // every value checked; the task when given
  std::shared_ptr<Model> model;
  const std::string ext = std::filesystem::path(c.model.path).extension().string();
  if (ext == ".json" || ext == ".onnx") {  // a graph model may be a detector: its task decides
    model = open_run_model(c.model, device);
    const std::string asked = c.options.given("--task") ? o.task : "";
    const std::string task = audit_task(*model, asked);
    if (task != "classify") return run_task_audit(c, model, task, asked.empty());
  } else {
    check_input(o.task == "classify", "--task " + o.task, task_model_kind(o.task) + " (--model)",
                c.model.path.empty() ? "the built-in classifier" : c.model.path);
  }
  apply_option_flags(c.options, o, {"classify"});  // refuses the detector audit's flags
  o.seed = global_options().seed;
  o.log = print_line;
  if (o.corruption.corruptions.empty())
    refuse_flags({"--baseline", "--severities", "--as-published"},
                 "they shape the corruption audit, and --corruptions is none");
  // The default threats: white box, and for the built-in model transfer from its zoo siblings.
  const bool builtin = c.model.path.empty();
  if (builtin && !c.options.given("--threats")) o.threats.threats = {"white-box", "transfer"};
  const std::string surrogates = !c.surrogate.empty() ? c.surrogate
                                 : builtin            ? kBuiltinSurrogates
                                                      : "";
  const auto has = [&](const char* t) {
    const auto& all = o.threats.threats;
    return std::find(all.begin(), all.end(), t) != all.end();
  };
  const bool transfer = has("transfer");
  check_input(!transfer || !surrogates.empty(), "--threats transfer",
              "--surrogate MODEL[,MODEL...] (the attacker's own models)", "none");
  if (!transfer && !c.surrogate.empty())
    throw InputError("--surrogate: used by the transfer threat; add transfer to --threats");
  if (!has("scores") && !has("labels"))
    refuse_flags({"--max-queries"},
                 "it budgets the scores and labels threats; add one to --threats");
  refuse_target_as_surrogate(model_list(surrogates, "--surrogate"), c.model.path);
  check_audit_options(o);  // before anything slow runs
  ResultsFolder out(c.out, "--out");
  const double start = now_seconds();
  if (!model) model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model);
  std::shared_ptr<Model> baseline;
  if (!c.baseline.empty()) {
    baseline = open_run_model(ModelSpec{c.baseline, c.model.mean, c.model.std}, device);
    check_fits(*model, *baseline, data, "--baseline");
    o.baseline = baseline.get();
  }
  if (transfer)
    for (const auto& path : model_list(surrogates, "--surrogate")) {
      o.threats.surrogates.push_back(open_run_model(ModelSpec{path}, device));
      check_fits(*model, *o.threats.surrogates.back(), data, "--surrogate");
    }
  const AuditResult r = foil::run_audit(*model, data, o);
  if (r.has_corruptions)
    for (const auto& line : r.corruptions.lines()) print_line(line);
  r.write(out.dir(), data);
  out.commit();
  fmt::print(
      "clean accuracy {:.2f}%\nwrote {}/report.html, audit.json, audit.csv, "
      "robust_accuracy_linf.svg, robust_accuracy_l2.svg{}{} ({:.1f}s)\n",
      100 * r.clean_accuracy, c.out, o.examples > 0 ? ", examples.png" : "",
      r.has_corruptions ? ", corruptions.json, corruptions.csv, corruptions.png, "
                          "corruption_examples.png"
                        : "",
      now_seconds() - start);
}

}  // namespace

void setup_audit(CLI::App& app) {
  auto c = std::make_shared<AuditCmd>();
  auto* sub = app.add_subcommand(
      "audit",
      "audit a model: clean accuracy, robust accuracy from AutoAttack (per stage) over Linf and "
      "L2 budgets, and the minimal-norm robustness curve");
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  add_option_flags(sub, c->options, audit_option_fields(), audit_defaults(), "");
  sub->add_option("--surrogate", c->surrogate,
                  "the transfer attacker's models, comma list (files, zoo:ARCH or zoo)")
      ->group("Threats");
  sub->add_option("--baseline", c->baseline,
                  "a model file to normalise the corruption errors by (mCE; the benchmark uses "
                  "AlexNet); same flags as --model");
  sub->callback([c] { run_audit(*c); });
}

}  // namespace foil::cli
