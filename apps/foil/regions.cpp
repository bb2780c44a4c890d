// foil regions: Region of Importance (Grad-CAM) vs Region of Attack (the attack's accumulated
// gradient, or |delta|) per image and over a dataset, with accuracy when the perturbation is
// confined to each part.
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/regions_job.h"

namespace foil::cli {
namespace {

struct RegionsCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:1000";
  AttackFlags attack;
  ExplainFlags explain;
  FlagsOf<RegionsJobOptions> regions;  ///< regions_option_fields()
  std::string out = "foil-regions";
};

void run_regions(const RegionsCmd& c) {
  const c10::Device device = apply_global_options();
  RegionsJobOptions o;
  apply_option_flags(c.regions, o);
  o.method = parse_explain_method(c.explain.method);
  o.explain = explain_options(c.explain);
  o.attack = make_attack_from(c.attack);
  o.log = print_line;
  check_regions_options(o);
  ResultsFolder out(c.out, "--out");
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model);
  const RegionsJobResult r = foil::run_regions(*model, data, o);
  r.write(out.dir());
  for (const std::string& line : r.lines) print_line(line);
  out.commit();
  fmt::print("wrote {0}/regions.json, {0}/regions.csv, {0}/panels.png\n", c.out);
}

}  // namespace

void setup_regions(CLI::App& app) {
  auto c = std::make_shared<RegionsCmd>();
  auto* sub = app.add_subcommand("regions", "Region of Importance vs Region of Attack");
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  add_attack_flags(sub, c->attack, "pgd");
  add_explain_flags(sub, c->explain);
  add_option_flags(sub, c->regions, regions_option_fields(), RegionsJobOptions(), "");
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->callback([c] { run_regions(*c); });
}

}  // namespace foil::cli
