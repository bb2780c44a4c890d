// foil certify: randomized smoothing's certificates (foil/jobs/certify_job.h).
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/certify_job.h"

namespace foil::cli {
namespace {

struct CertifyCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:100", out = "foil-certify", json;
  SmoothingOptions smoothing;
  std::string attack_eps = "0.25,0.5";
  int64_t attack_steps = 20, attack_samples = 8;
};

void run_certify(CertifyCmd& c) {
  const c10::Device device = apply_global_options();
  c.smoothing.seed(global_options().seed);
  check_smoothing_options(c.smoothing);  // before anything slow
  CertifyOptions o;
  o.attack_eps =
      c.attack_eps == "none" ? std::vector<double>{} : parse_eps(c.attack_eps, "--attack-eps");
  o.attack_steps = c.attack_steps;
  o.attack_samples = c.attack_samples;
  check_writable(c.json, "--json");
  ResultsFolder out(c.out, "--out");
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model, /*needs_gradient=*/false);
  const SmoothingOptions& s = c.smoothing;
  fmt::print(
      "model   {} ({})\ndata    {} ({} items)\nsmooth  sigma {:g}, n0 {}, n {}, alpha {:g}\n",
      model->info().name, model->info().backend, data.source, data.size(), s.sigma(), s.n0(), s.n(),
      s.alpha());
  std::fflush(stdout);
  o.smoothing = s;
  o.log = print_line;
  const CertifyResult r = foil::run_certify(model, data, o);
  if (!dist::leader()) return;
  if (!c.json.empty()) write_json(c.json, r.to_json());
  r.write(out.dir());
  out.commit();
  fmt::print("wrote {}/report.html, certify.json, certify.csv, certified_accuracy.svg\n", c.out);
}

}  // namespace

void setup_certify(CLI::App& app) {
  auto c = std::make_shared<CertifyCmd>();
  auto* sub = app.add_subcommand(
      "certify",
      "certified L2 robustness by randomized smoothing (Cohen et al. 2019): per item a class "
      "and a radius no attack can cross (or an abstention), certified accuracy vs radius");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  SmoothingOptions& s = c->smoothing;
  sub->add_option("--sigma", s.sigma(), "noise standard deviation (pixels in [0,1])")
      ->capture_default_str();
  sub->add_option("--n0", s.n0(), "noise samples that select the class")->capture_default_str();
  sub->add_option("--n", s.n(),
                  "noise samples that estimate its probability (the paper's 100000; fewer for a "
                  "quick run: the largest radius shrinks with n)")
      ->capture_default_str();
  sub->add_option("--alpha", s.alpha(), "probability that a certificate is wrong")
      ->capture_default_str();
  sub->add_option("--batch", s.batch(), "noisy copies per forward pass")->capture_default_str();
  sub->add_option("--attack-eps", c->attack_eps,
                  "SmoothAdv (Salman et al. 2019: PGD-L2 on the smoothed soft classifier) at these "
                  "L2 budgets, judged by the smoothed model; 'none' to skip")
      ->capture_default_str();
  sub->add_option("--attack-steps", c->attack_steps, "SmoothAdv's PGD steps")
      ->check(integer_in(1, kMaxSteps))
      ->capture_default_str();
  sub->add_option("--attack-samples", c->attack_samples, "noise copies per SmoothAdv gradient")
      ->check(integer_in(1, 10000))
      ->capture_default_str();
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->add_option("--json", c->json, "write certify.json's content here too");
  sub->callback([c] { run_certify(*c); });
}

}  // namespace foil::cli
