// foil inside your own program: load a TorchScript classifier, measure its robust accuracy
// with the AutoAttack ensemble, see where it looks (Grad-CAM) on the first image, and run
// foil's main job, the audit, as one library call.
// Usage: embed MODEL.pt DATA [EPS] [VERSION] [STEPS] [OVERLAY.png] [AUDIT_FOLDER]
//   DATA: a folder of images, an image, or fashion-mnist:test:N.
#include <foil/attacks/autoattack.h>
#include <foil/attacks/evaluate.h>
#include <foil/core/error.h>
#include <foil/data/dataset.h>
#include <foil/explain/explain.h>
#include <foil/jobs/audit.h>
#include <foil/models/model.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: embed MODEL.pt DATA [EPS] [VERSION] [STEPS] [OVERLAY.png] [AUDIT]\n");
    return 2;
  }
  const double eps = argc > 3 ? std::stod(argv[3]) : 8.0 / 255;
  const std::string version = argc > 4 ? argv[4] : "standard";
  const int64_t steps = argc > 5 ? std::stoll(argv[5]) : 100;

  std::shared_ptr<foil::Model> model = foil::load_model(argv[1]);
  // The data shaped for the model, checked against it (one InputError when they do not fit).
  foil::Dataset data = foil::open_data(argv[2], *model);
  std::printf("model %s (%s), %lld images from %s\n", model->info().name.c_str(),
              model->info().backend.c_str(), static_cast<long long>(data.size()), argv[2]);

  // The AutoAttack ensemble, each stage on the points the earlier ones left robust.
  foil::AutoAttack attack(foil::AttackOptions().eps(eps).steps(steps).version(version).seed(0));
  foil::Evaluation ev = foil::evaluate_attack(*model, data, attack);
  const int64_t classes = model->forward(data.images.slice(0, 0, 1)).size(1);
  std::printf(
      "%s, eps %.4f (Linf): clean accuracy %.1f%%, robust accuracy %.1f%% "
      "(chance %.1f%%)\n",
      attack.describe().c_str(), eps, 100 * ev.clean_accuracy, 100 * ev.robust_accuracy,
      100.0 / classes);
  for (size_t i = 0; i < ev.stage_names.size(); ++i)
    std::printf("  after %-8s robust %.1f%%\n", ev.stage_names[i].c_str(),
                100 * ev.stage_robust_accuracy[i]);

  // Grad-CAM of the first image for the class the model predicts, at the last spatial layer.
  torch::Tensor x = data.images.slice(0, 0, 1);
  torch::Tensor pred = model->forward(x).argmax(1);
  const std::string layer = foil::default_cam_layer(*model, x);
  torch::Tensor map =
      foil::normalize_maps(foil::explain(*model, x, pred, foil::ExplainMethod::kGradCam, layer))[0];
  const int64_t peak = map.argmax().item<int64_t>();
  std::printf("Grad-CAM at %s for class %lld: peak at (x %lld, y %lld) of %lldx%lld\n",
              layer.c_str(), static_cast<long long>(pred.item<int64_t>()),
              static_cast<long long>(peak % map.size(1)),
              static_cast<long long>(peak / map.size(1)), static_cast<long long>(map.size(1)),
              static_cast<long long>(map.size(0)));
  if (argc > 6) foil::write_image(argv[6], foil::overlay(x[0], map));

  // The audit: robust accuracy at each budget per norm, the minimal-norm curves and the
  // checks, written as `foil audit` writes them.
  if (argc > 7) {
    foil::AuditOptions audit;
    audit.linf_eps = {eps};
    audit.l2_eps = {1.0};
    audit.steps = steps;
    audit.thorough = version == "standard";
    audit.log = [](const std::string& line) { std::printf("audit: %s\n", line.c_str()); };
    const foil::AuditResult r = foil::run_audit(*model, data, audit);
    std::filesystem::create_directories(argv[7]);
    r.write(argv[7], data);
  }
  return 0;
} catch (const foil::InputError& e) {
  std::fprintf(stderr, "embed: %s\n", e.what());
  return 2;
} catch (const std::logic_error& e) {  // std::stod/stoll on EPS or STEPS
  std::fprintf(stderr, "embed: EPS and STEPS must be numbers (%s)\n", e.what());
  return 2;
}
