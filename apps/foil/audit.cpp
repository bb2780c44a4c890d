// foil audit: the main job (foil/jobs/audit.h) written as a results folder.
#include "foil/jobs/audit.h"

#include <fmt/format.h>

#include <algorithm>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"

namespace foil::cli {
namespace {

struct AuditCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:250";
  std::string out = "foil-audit";
  std::string linf_eps = "0.01,0.02,0.05,0.1,0.2";
  std::string l2_eps = "0.25,0.5,1,2,3";
  std::string attack = "autoattack", curve = "deepfool";
  int64_t steps = 0, batch = 250, examples = 8;
  bool early_stop = true, thorough = false, as_published = false;
  std::string corruptions = "all", severities = "1-5", baseline;
  std::string threats, surrogate;
  int64_t max_queries = 1000;
};

/// The built-in model's transfer attacker: the zoo's other architectures trained on the same
/// data.
const char* const kBuiltinSurrogates = "zoo:mlp,zoo:resnet,zoo:mobilenet";

void run_audit(const AuditCmd& c) {
  const c10::Device device = apply_global_options();
  AuditOptions o;
  o.linf_eps = parse_eps(c.linf_eps, "--linf-eps");
  o.l2_eps = parse_eps(c.l2_eps, "--l2-eps");
  o.attack = c.attack;
  o.curve = c.curve;
  o.steps = c.steps;  // 0: each attack's own
  o.batch = c.batch;
  o.examples = c.examples;
  o.early_stop = c.early_stop;
  o.thorough = c.thorough;
  o.seed = global_options().seed;
  o.log = print_line;
  if (c.corruptions != "none")
    o.corruption.corruptions = parse_corruptions(c.corruptions, "--corruptions");
  o.corruption.severities = parse_severities(c.severities, "--severities");
  o.corruption.batch = c.batch;
  o.corruption.as_published = c.as_published;
  if (c.corruptions == "none")
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
      100 * r.clean_accuracy, c.out, c.examples > 0 ? ", examples.png" : "",
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
  sub->add_option("--linf-eps", c->linf_eps, "Linf budgets")->capture_default_str();
  sub->add_option("--l2-eps", c->l2_eps, "L2 budgets")->capture_default_str();
  sub->add_option("--attack", c->attack,
                  "the attack per budget: autoattack, or any foil attack (pgd: step size "
                  "2.5*eps/steps)")
      ->capture_default_str();
  sub->add_flag("--thorough", c->thorough,
                "AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) instead of fast "
                "(APGD-CE, APGD-T over the top-3 targets)");
  sub->add_option("--steps", c->steps,
                  "iterations per attack (default: the attack's own, 100 for AutoAttack)")
      ->check(integer_in(1, kMaxSteps));
  sub->add_option("--curve", c->curve,
                  "minimal-norm curve: deepfool, cw (L2; DeepFool for Linf) or none")
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--examples", c->examples, "images in the example grid")
      ->check(integer_in(0, 32))
      ->capture_default_str();
  sub->add_flag("!--no-early-stop", c->early_stop,
                "PGD-style attacks: attack every sample for all steps (slower; same robust "
                "accuracy up to samples that flip back)");
  sub->add_option(
         "--corruptions", c->corruptions,
         "also the common corruptions (Hendrycks & Dietterich): all, benchmark (the 15 "
         "of mCE), held-out, noise, blur, weather, digital, names, e.g. fog,jpeg_compression, "
         "or none")
      ->capture_default_str();
  sub->add_option("--severities", c->severities, "corruption severities: 1-5, 3 or 1,3,5")
      ->capture_default_str();
  sub->add_flag("--as-published", c->as_published,
                "store the corrupted images as the published sets did (CIFAR-10-C: truncated "
                "to 8 bits; Tiny-ImageNet-C, ImageNet-C: also JPEG quality 85) to compare with "
                "published accuracies");
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
