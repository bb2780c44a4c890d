// foil audit: the main job (foil/jobs/audit.h) written as a results folder.
#include "foil/jobs/audit.h"

#include <fmt/format.h>

#include <algorithm>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"

namespace foil::cli {
namespace {

struct AuditCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:250";
  std::string out = "foil-audit";
  FlagsOf<AuditOptions> options;
  std::string threats, surrogate, baseline;
  int64_t max_queries = 1000;
};

/// The built-in model's transfer attacker: the zoo's other architectures trained on the same
/// data.
const char* const kBuiltinSurrogates = "zoo:mlp,zoo:resnet,zoo:mobilenet";

void run_audit(const AuditCmd& c) {
  const c10::Device device = apply_global_options();
  AuditOptions o = audit_defaults();
  apply_option_flags(c.options, o);
  o.seed = global_options().seed;
  o.log = print_line;
  if (o.corruption.corruptions.empty())
    refuse_flags({"--baseline", "--severities", "--as-published"},
                 "they shape the corruption audit, and --corruptions is none");
  // Given empty, a list is a mistake, not the default.
  const bool threats_given = run_record().flags.contains("--threats");
  // The default threats: white box, and for the built-in model transfer from its zoo siblings.
  const bool builtin = c.model.path.empty();
  o.threats.threats =
      parse_threats(threats_given ? c.threats : (builtin ? "white-box,transfer" : "white-box"));
  const std::string surrogates = !c.surrogate.empty() ? c.surrogate
                                 : builtin            ? kBuiltinSurrogates
                                                      : "";
  const bool transfer = std::find(o.threats.threats.begin(), o.threats.threats.end(), "transfer") !=
                        o.threats.threats.end();
  check_input(!transfer || !surrogates.empty(), "--threats transfer",
              "--surrogate MODEL[,MODEL...] (the attacker's own models)", "none");
  if (!transfer && !c.surrogate.empty())
    throw InputError("--surrogate: used by the transfer threat; add transfer to --threats");
  const bool queries = std::find(o.threats.threats.begin(), o.threats.threats.end(), "scores") !=
                           o.threats.threats.end() ||
                       std::find(o.threats.threats.begin(), o.threats.threats.end(), "labels") !=
                           o.threats.threats.end();
  if (!queries)
    refuse_flags({"--max-queries"},
                 "it budgets the scores and labels threats; add one to --threats");
  refuse_target_as_surrogate(model_list(surrogates, "--surrogate"), c.model.path);
  o.threats.max_queries = c.max_queries;
  check_audit_options(o);  // before anything slow runs
  ResultsFolder out(c.out, "--out");
  const double start = now_seconds();
  auto model = open_run_model(c.model, device);
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
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  add_option_flags(sub, c->options, audit_option_fields(), audit_defaults(), "audit");
  sub->add_option("--threats", c->threats,
                  "threat models, comma list: white-box (the budgets above), transfer (crafted "
                  "on --surrogate with VMI-FGSM), scores (Square), labels (HopSkipJump); one "
                  "table at the middle Linf budget (default: white-box; the built-in model adds "
                  "transfer from the zoo's mlp, resnet and mobilenet)");
  sub->add_option("--surrogate", c->surrogate,
                  "the transfer attacker's models, comma list (files, zoo:ARCH or zoo)");
  sub->add_option("--max-queries", c->max_queries, "scores and labels threats: queries per item")
      ->capture_default_str();
  sub->add_option("--baseline", c->baseline,
                  "a model file to normalise the corruption errors by (mCE; the benchmark uses "
                  "AlexNet); same flags as --model");
  sub->callback([c] { run_audit(*c); });
}

}  // namespace foil::cli
