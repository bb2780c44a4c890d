// foil certify: randomized smoothing's certificates (foil/jobs/certify_job.h), or
// PatchCleanser's against a patch (foil/jobs/patch_certify_job.h).
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/certify_options.h"

namespace foil::cli {
namespace {

struct CertifyCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:100", out = "foil-certify", json;
  std::string patch_data;  ///< --patch: the attack patches' training data
  FlagsOf<CertifySettings> settings;
};

void run_patch_certify(const CertifyCmd& c, PatchCertifyOptions o, const c10::Device device,
                       ResultsFolder& out) {
  o.seed = global_options().seed;
  check_patch_certify_options(o);  // before anything slow
  const std::string attack_spec = patch_attack_data_spec(c.data, c.patch_data);
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model, /*needs_gradient=*/false);
  const Dataset attack_data = attack_spec.empty() || o.attack_epochs == 0
                                  ? Dataset{}
                                  : open_run_data(attack_spec, *model, /*needs_gradient=*/true);
  o.log = print_line;
  const PatchCertifyResult r = foil::run_patch_certify(model, data, attack_data, o);
  if (!dist::leader()) return;
  write_json_output(c.json, r.to_json());
  r.write(out.dir());
  out.commit();
  fmt::print("wrote {}/report.html, patch_certify.json, patch_certify.csv, patch_certified.svg\n",
             c.out);
}

void run_certify(const CertifyCmd& c) {
  const c10::Device device = apply_global_options();
  const bool patch = c.settings.given("--patch");
  if (!patch && !c.patch_data.empty())
    throw InputError("--patch-data: used by --patch (the attack patches' training data)");
  CertifySettings s;
  apply_option_flags(c.settings, s, {patch ? "--patch" : "smoothing"});
  check_writable(c.json, "--json");
  if (patch) {
    ResultsFolder out(c.out, "--out");
    return run_patch_certify(c, s.patch, device, out);
  }
  CertifyOptions& o = s.smoothing;
  o.smoothing.seed(global_options().seed);
  check_smoothing_options(o.smoothing);  // before anything slow
  ResultsFolder out(c.out, "--out");
  auto model = open_run_model(c.model, device);
  const Dataset data = open_run_data(c.data, *model, /*needs_gradient=*/false);
  o.log = print_line;
  const CertifyResult r = foil::run_certify(model, data, o);
  if (!dist::leader()) return;
  write_json_output(c.json, r.to_json());
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
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  add_option_flags(sub, c->settings, certify_option_fields(), CertifySettings(), "");
  sub->add_option("--patch-data", c->patch_data,
                  "--patch: held-out data the attack patches train on (default: Fashion-MNIST's "
                  "other split, 1000 items, for Fashion-MNIST items; 'none': no attacks)")
      ->group("PatchCleanser (--patch)");
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->add_option("--json", c->json, "write certify.json's content here too");
  sub->callback([c] { run_certify(*c); });
}

}  // namespace foil::cli
