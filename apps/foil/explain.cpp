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
  FlagsOf<ExplainJobOptions> job;  ///< explain_job_option_fields()
  AttackFlags attack;
  bool attacked = false;
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
  ExplainJobOptions job;
  apply_option_flags(c.job, job, {"--faithfulness"});
  o.layer = job.layer;
  o.explain = explain_options(c.explain, names);
  o.explain.batch = job.batch;
  o.seed = o.explain.seed;
  apply_option_flags(c.curves, o.faithfulness);
  c.curves.check_used({o.faithfulness.protocol});  // RISE's has its own baselines and steps
  o.faithfulness.batch = job.batch;
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
  using Users = std::vector<std::string>;
  apply_option_flags(c.job, o, c.job.given("--patch") ? Users{"maps", "--patch"} : Users{"maps"});
  check_input(o.objects == 1 || o.on_object >= 0, "--objects",
              "--on-object (the patches go on detected objects)", "no --on-object");
  o.method = parse_explain_method(c.explain.method);
  o.explain = explain_options(c.explain);
  if (c.attacked)
    o.attack = make_attack_from(c.attack);
  else
    c.attack.refuse_given("they configure the attack of --attacked", {"--attack"});
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
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  add_explain_flags(sub, c->explain);
  add_option_flags(sub, c->job, explain_job_option_fields(), ExplainJobOptions(), "");
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_flag("--attacked", c->attacked, "also explain attacked images (side-by-side panel)");
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
