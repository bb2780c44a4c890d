// foil explain: CAMs and attribution maps as overlays, raw tensors and a clean-vs-attacked
// panel.
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/explain_job.h"
#include "foil/jobs/faithfulness_job.h"

namespace foil::cli {
namespace {

struct ExplainCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:8";
  ExplainFlags explain;
  std::string layer;
  std::string target_class = "pred";
  AttackFlags attack;
  bool attacked = false;
  std::string patch;
  double keep_out = 0, on_object = -1;
  int64_t objects = 1;
  std::string reference;
  int64_t batch = 64;
  std::string out = "foil-explain";
  bool faithfulness = false;
  std::string methods = "all";
  FlagsOf<FaithfulnessOptions> curves;
};

/// --faithfulness: every method's deletion and insertion curves on the same images.
void run_faithfulness(const ExplainCmd& c, const c10::Device device) {
  c.attack.refuse_given("--faithfulness scores the clean images' maps", {"--attack"});
  refuse_flags({"--method"}, "--faithfulness compares the methods of --methods");
  FaithfulnessJobOptions o;
  if (c.methods != "all")
    for (const std::string& m : split_commas(c.methods, "--methods"))
      o.methods.push_back(parse_explain_method(m, "--methods"));
  std::vector<std::string> names;  // the flags of any method compared are read
  for (ExplainMethod m : o.methods.empty() ? explain_methods() : o.methods)
    names.push_back(explain_method_name(m));
  o.layer = c.layer;
  o.explain = explain_options(c.explain, names);
  o.explain.batch = c.batch;
  o.seed = o.explain.seed;
  apply_option_flags(c.curves, o.faithfulness);
  c.curves.check_used({o.faithfulness.protocol});  // RISE's has its own baselines and steps
  o.faithfulness.batch = c.batch;
  check_explain_options(o.explain);
  check_faithfulness_options(o.faithfulness);
  o.log = print_line;
  ResultsFolder out(c.out, "--out");
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model);
  const FaithfulnessJobResult r = foil::run_faithfulness(*model, data, o);
  r.write(out.dir());
  out.commit();
  fmt::print(
      "wrote {0}/report.html, faithfulness.json, faithfulness.csv, deletion.svg, "
      "insertion.svg, methods.png\n",
      c.out);
}

void run_explain(const ExplainCmd& c) {
  const c10::Device device = apply_global_options();
  if (c.faithfulness) return run_faithfulness(c, device);
  c.curves.refuse_given("they shape the curves of --faithfulness");
  ExplainJobOptions o;
  o.method = parse_explain_method(c.explain.method);
  o.layer = c.layer;
  o.explain = explain_options(c.explain);
  o.target_class = c.target_class;
  o.batch = c.batch;
  if (c.attacked)
    o.attack = make_attack_from(c.attack);
  else
    c.attack.refuse_given("they configure the attack of --attacked", {"--attack"});
  o.patch = c.patch;
  o.keep_out = c.keep_out;
  check_input(c.on_object < 0 || !c.patch.empty(), "--on-object", "--patch (it places the patch)",
              "no --patch");
  check_input(c.objects == 1 || c.on_object >= 0, "--objects",
              "--on-object (the patches go on detected objects)", "no --on-object");
  o.on_object = c.on_object;
  o.objects = c.objects;
  o.reference = c.reference;
  o.seed = global_options().seed;
  ResultsFolder out(c.out, "--out");
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model);
  const ExplainJobResult r = foil::run_explain(*model, data, o);
  r.write(out.dir());
  for (const std::string& line : r.lines) print_line(line);
  out.commit();
  fmt::print("wrote {0}/overlays.png, {0}/maps.pt{1}, {0}/explain.json\n", c.out,
             r.altered_maps.defined() ? ", " + c.out + "/maps_altered.pt" : "");
}

}  // namespace

void setup_explain(CLI::App& app) {
  auto c = std::make_shared<ExplainCmd>();
  auto* sub = app.add_subcommand(
      "explain", "where the model looks (CAMs and attributions), clean and attacked");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  add_explain_flags(sub, c->explain);
  sub->add_option("--layer", c->layer,
                  "tapped layer for the CAMs (default: the last spatial or token layer)");
  sub->add_option("--batch", c->batch, "images per pass (the unit shared out between processes)")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--class", c->target_class,
                  "class to explain: pred, label, a class index or a class name")
      ->capture_default_str();
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_flag("--attacked", c->attacked, "also explain attacked images (side-by-side panel)");
  auto* patch = sub->add_option("--patch", c->patch,
                                "also explain images with this patch (patch.pt from "
                                "'foil patch train') pasted at random places");
  sub->add_option("--keep-out", c->keep_out, "with --patch: central fraction the patch avoids")
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--on-object", c->on_object,
                  "with --patch on a detector: the patch on the --class's best detection, its "
                  "centre in this central fraction of the box (as 'patch train --on-object')")
      ->check(number_in(0, 1));
  sub->add_option("--objects", c->objects,
                  "with --on-object: a patch on each of the class's N best detections")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  sub->add_option("--reference", c->reference,
                  "real images of the --class class (data spec): report how each image's map "
                  "correlates with their mean map (clean as baseline, and patched/attacked)");
  auto* faithful = sub->add_flag(
      "--faithfulness", c->faithfulness,
      "instead of maps: rank the methods by the deletion and insertion curves of their maps "
      "(Petsiuk et al. 2018) on these images, beside a random pixel order");
  sub->add_option("--methods", c->methods, "--faithfulness: methods to compare (all, or a list)")
      ->capture_default_str()
      ->needs(faithful);
  add_option_flags(sub, c->curves, faithfulness_option_fields(), FaithfulnessOptions(), "");
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->callback([c] { run_explain(*c); });
}

}  // namespace foil::cli
