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
  std::string layer;
  double q = 10;
  std::string roa = "gradient";
  int64_t batch = 250, panels = 6;
  std::string out = "foil-regions";
};

void run_regions(const RegionsCmd& c) {
  const c10::Device device = apply_global_options();
  RegionsJobOptions o;
  o.method = parse_explain_method(c.explain.method);
  o.layer = c.layer;
  o.explain = explain_options(c.explain);
  o.q = c.q;
  o.roa = c.roa;
  o.batch = c.batch;
  o.panels = c.panels;
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
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  add_attack_flags(sub, c->attack, "pgd");
  add_explain_flags(sub, c->explain);
  sub->add_option("--layer", c->layer, "CAM layer (default: the last spatial or token layer)");
  sub->add_option("--q", c->q, "percent of pixels in RoI and in RoA")->capture_default_str();
  sub->add_option("--roa", c->roa,
                  "Region of Attack score: gradient (the attack's |gradient| accumulated over its "
                  "steps, ties broken by |delta|) or delta (|delta| alone; for L2 attacks: sign "
                  "attacks make it flat)")
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--panels", c->panels, "images in panels.png")
      ->check(integer_in(1, 32))
      ->capture_default_str();
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->callback([c] { run_regions(*c); });
}

}  // namespace foil::cli
