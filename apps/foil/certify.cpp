// foil certify: randomized smoothing's certificates (foil/jobs/certify_job.h).
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/certify_job.h"
#include "foil/jobs/patch_certify_job.h"

namespace foil::cli {
namespace {

struct CertifyCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:100", out = "foil-certify", json;
  SmoothingOptions smoothing;
  std::string attack_eps = "0.25,0.5";
  int64_t attack_steps = 20, attack_samples = 8;
  // --patch: PatchCleanser instead of smoothing.
  std::string patch, patch_data;
  PatchCertifyOptions patch_options;
};

void run_patch_certify(CertifyCmd& c, const c10::Device device, ResultsFolder& out) {
  PatchCertifyOptions& o = c.patch_options;
  o.areas = parse_eps(c.patch, "--patch");
  o.batch = c.smoothing.batch();
  o.seed = global_options().seed;
  check_patch_certify_options(o);  // before anything slow
  const std::string attack_spec = patch_attack_data_spec(c.data, c.patch_data);
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model, /*needs_gradient=*/false);
  const Dataset attack_data = attack_spec.empty() || o.attack_epochs == 0
                                  ? Dataset{}
                                  : open_run_data(attack_spec, *model, /*needs_gradient=*/true);
  fmt::print("model   {} ({})\ndata    {} ({} items)\npatch   {}, {} masks per axis\nattacks {}\n",
             model->info().name, model->info().backend, data.source, data.size(), c.patch,
             o.masks_per_axis,
             attack_data.size() > 0
                 ? fmt::format("per-image, and universal patches trained on {} ({} epochs)",
                               attack_data.source, o.attack_epochs)
                 : "per-image only (no held-out --patch-data, or --attack-epochs 0)");
  std::fflush(stdout);
  o.log = print_line;
  const PatchCertifyResult r = foil::run_patch_certify(model, data, attack_data, o);
  if (!dist::leader()) return;
  if (!c.json.empty()) write_json(c.json, r.to_json());
  r.write(out.dir());
  out.commit();
  fmt::print("wrote {}/report.html, patch_certify.json, patch_certify.csv, patch_certified.svg\n",
             c.out);
}

void run_certify(CertifyCmd& c) {
  const c10::Device device = apply_global_options();
  if (!c.patch.empty()) {
    check_writable(c.json, "--json");
    ResultsFolder out(c.out, "--out");
    return run_patch_certify(c, device, out);
  }
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
      "and a radius no attack can cross (or an abstention), certified accuracy vs radius; with "
      "--patch, PatchCleanser (Xiang et al. 2022) against a patch of each area, beside foil's "
      "patch attacks on the defended model");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  SmoothingOptions& s = c->smoothing;
  auto* sigma = sub->add_option("--sigma", s.sigma(), "noise standard deviation (pixels in [0,1])")
                    ->capture_default_str();
  auto* n0 =
      sub->add_option("--n0", s.n0(), "noise samples that select the class")->capture_default_str();
  auto* n = sub->add_option(
                   "--n", s.n(),
                   "noise samples that estimate its probability (the paper's 100000; fewer for a "
                   "quick run: the largest radius shrinks with n)")
                ->capture_default_str();
  auto* alpha = sub->add_option("--alpha", s.alpha(), "probability that a certificate is wrong")
                    ->capture_default_str();
  sub->add_option("--batch", s.batch(), "noisy (or masked) copies per forward pass")
      ->capture_default_str();
  auto* eps =
      sub->add_option(
             "--attack-eps", c->attack_eps,
             "SmoothAdv (Salman et al. 2019: PGD-L2 on the smoothed soft classifier) at these "
             "L2 budgets, judged by the smoothed model; 'none' to skip")
          ->capture_default_str();
  auto* steps = sub->add_option("--attack-steps", c->attack_steps, "SmoothAdv's PGD steps")
                    ->check(integer_in(1, kMaxSteps))
                    ->capture_default_str();
  auto* samples =
      sub->add_option("--attack-samples", c->attack_samples, "noise copies per SmoothAdv gradient")
          ->check(integer_in(1, 10000))
          ->capture_default_str();
  PatchCertifyOptions& p = c->patch_options;
  auto* patch =
      sub->add_option("--patch", c->patch,
                      "certify against one adversarial patch instead (PatchCleanser's double "
                      "masking): patch areas as shares of the image, e.g. 0.02,0.05,0.1; the "
                      "certified patch is the square of side ceil(sqrt(area x H x W)) pixels, "
                      "anywhere on the image")
          ->excludes(sigma)
          ->excludes(n0)
          ->excludes(n)
          ->excludes(alpha)
          ->excludes(eps)
          ->excludes(steps)
          ->excludes(samples);
  sub->add_option("--masks", p.masks_per_axis,
                  "--patch: mask positions per axis (K = masks^2 masks, K(K+1)/2 forward passes "
                  "per item)")
      ->check(integer_in(1, 64))
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--patch-data", c->patch_data,
                  "--patch: held-out data the attack patches train on (default: Fashion-MNIST's "
                  "other split, 1000 items, for Fashion-MNIST items; 'none': no attacks)")
      ->needs(patch);
  sub->add_option("--per-image-steps", p.per_image_steps,
                  "--patch: ascent steps of the per-image patch attacks (0: none)")
      ->check(integer_in(0, 100000))
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--positions", p.positions,
                  "--patch: per-image attacks try positions x positions places per item")
      ->check(integer_in(1, 64))
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--attack-epochs", p.attack_epochs,
                  "--patch: epochs of each universal attack patch (0: none)")
      ->check(integer_in(0, 1000))
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--repeats", p.repeats,
                  "--patch: random placements per item when an attack patch is evaluated")
      ->check(integer_in(1, 100))
      ->capture_default_str()
      ->needs(patch);
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->add_option("--json", c->json, "write certify.json's content here too");
  sub->callback([c] { run_certify(*c); });
}

}  // namespace foil::cli
