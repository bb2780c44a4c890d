#include <fmt/format.h>
#include <torch/torch.h>

#include <ctime>
#include <filesystem>
#include <sstream>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/models/torchscript.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"
#include "foil/version.h"

namespace foil::cli {

GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}

c10::Device apply_global_options() {
  const auto& g = global_options();
  set_threads(g.threads);
  seed_everything(g.seed);
  const c10::Device device = parse_device(g.device);
  if (g.deterministic && device.is_cuda()) use_deterministic_cuda();
  dist::init(g.dist);
  return device;
}

void add_model_flags(CLI::App* app, ModelFlags& flags, bool required) {
  auto* opt = app->add_option(
      "--model", flags.path,
      required ? "model file: written by 'foil train', TorchScript (.pt), a TensorFlow.js "
                 "graph model (model.json) or ONNX (.onnx; metadata from model.onnx.foil.json)"
               : "model file: written by 'foil train', TorchScript (.pt), a TensorFlow.js "
                 "graph model (model.json) or ONNX (.onnx); default: the built-in Fashion-MNIST "
                 "CNN (trained on "
                 "first use)");
  if (required) opt->required();
  app->add_option("--mean", flags.mean,
                  "per-channel mean the model expects, e.g. 0.485,0.456,0.406");
  app->add_option("--std", flags.std, "per-channel std the model expects, e.g. 0.229,0.224,0.225");
  app->add_option("--input-shape", flags.input_shape,
                  "C,H,W the model takes, for TorchScript models (images are converted and "
                  "resized to it); default: the data's own shape");
}

std::shared_ptr<Model> open_run_model(const ModelFlags& flags, c10::Device device) {
  auto model = open_model(flags, device);
  run_record().models.push_back(describe_model(*model, flags));
  return model;
}

RunRecord& run_record() {
  static RunRecord record;
  return record;
}

void record_flags(const CLI::App& app) {
  nlohmann::json flags = nlohmann::json::object();
  for (const CLI::App* level = &app; level != nullptr;) {
    for (const CLI::Option* opt : level->get_options())
      if (opt->count() > 0 && !opt->get_name().empty()) flags[opt->get_name()] = opt->results();
    const auto subs = level->get_subcommands();
    level = subs.empty() ? nullptr : subs.front();
  }
  run_record().flags = flags;
}

void refuse_flags(const std::vector<std::string>& flags, const std::string& why) {
  for (const auto& f : flags)
    if (run_record().flags.contains(f)) throw InputError(f + ": not used here; " + why);
}

nlohmann::json work_fingerprint(const std::vector<std::string>& leave_out) {
  static const std::vector<std::string> kNotTheWork = {
      "--out",    "--json",          "--save-adv",     "--draw", "--threads",
      "--device", "--deterministic", "--no-resume",    "--rank", "--world-size",
      "--master", "--store-file",    "--dist-timeout", "--help"};
  nlohmann::json flags = run_record().flags, digests = nlohmann::json::array();
  for (const auto* list : {&kNotTheWork, &leave_out})
    for (const auto& name : *list) flags.erase(name);
  if (run_record().flags.contains("--model") &&
      std::find(leave_out.begin(), leave_out.end(), "--model") == leave_out.end())
    for (const auto& v : run_record().flags["--model"])
      for (const auto& m : split_commas(v.get<std::string>(), "--model"))
        digests.push_back(model_file_digest(m));
  return {{"flags", flags}, {"seed", global_options().seed}, {"model_digests", digests}};
}

nlohmann::json run_json() {
  const RunRecord& r = run_record();
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json j = {{"command", r.command},
                      {"kind", r.kind},
                      {"foil_version", FOIL_VERSION},
                      {"seed", global_options().seed},
                      {"threads", at::get_num_threads()},
                      {"device", global_options().device},
                      {"deterministic", global_options().deterministic},
                      {"finished", stamp}};
  if (!r.models.empty()) j["model"] = r.models.front();
  if (r.models.size() > 1) j["other_models"] = nlohmann::json(r.models.begin() + 1, r.models.end());
  return j;
}

Dataset open_run_data(const std::string& spec, Model& model, bool needs_gradient) {
  Dataset data = foil::open_data(spec, model, needs_gradient);
  record_input_as_run(model);
  return data;
}

void record_input_as_run(const Model& model) {
  // run.json describes a TorchScript model by the shape it was run with, not "anyxanyxany".
  if (dynamic_cast<const TorchScriptModel*>(&model) == nullptr) return;
  for (auto& m : run_record().models)
    if (m.value("name", "") == model.info().name &&
        m.value("input", "") != model.info().input.str())
      m["input"] =
          model.info().input.str() + " (as run: the data's shape; not recorded in the file)";
}

void print_line(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

void refuse_target_as_surrogate(const std::vector<std::string>& surrogates,
                                const std::string& target) {
  const auto builtin = [](const std::string& p) { return p.empty() || p == "zoo:cnn"; };
  for (const auto& s : surrogates) {
    std::error_code ec;
    const bool same = builtin(s) || builtin(target)
                          ? builtin(s) && builtin(target)
                          : std::filesystem::weakly_canonical(s, ec) ==
                                std::filesystem::weakly_canonical(target, ec);
    if (same)
      throw InputError("--surrogate " + s +
                       ": expected a model other than the attacked one (crafting on the attacked "
                       "model itself is the white-box attack)");
  }
}

std::vector<std::string> split_commas(const std::string& text, const std::string& flag) {
  return text.empty() ? std::vector<std::string>{} : split_list(text, flag);
}

std::vector<double> parse_eps(const std::string& text, const std::string& flag) {
  auto v = parse_number_list(text, flag);
  for (double e : v) check_input(e > 0, flag, "a list of budgets > 0", fmt::format("{}", e));
  std::sort(v.begin(), v.end());
  return v;
}

void add_explain_flags(CLI::App* app, std::string& method, ExplainOptions& o) {
  std::vector<std::string> names;
  for (ExplainMethod m : explain_methods()) names.push_back(explain_method_name(m));
  app->add_option("--method,--importance", method,
                  fmt::format("importance map: {} (docs/explain.md)", fmt::join(names, ", ")))
      ->capture_default_str();
  app->add_option("--ig-steps", o.ig_steps, "ig: steps from the black image to the input")
      ->check(integer_in(1, 100000))
      ->capture_default_str();
  app->add_option("--samples", o.smooth_samples, "smoothgrad: noisy copies")
      ->check(integer_in(1, 100000))
      ->capture_default_str();
  app->add_option("--noise", o.smooth_sigma, "smoothgrad: noise sd (pixels in [0,1])")
      ->check(number_in(0, 10))
      ->capture_default_str();
  app->add_option("--window", o.window,
                  "occlusion: window side in pixels (0: a seventh of the image side)")
      ->check(integer_in(0, kMaxImageSide))
      ->capture_default_str();
  app->add_option("--stride", o.stride, "occlusion: window stride (0: half the window)")
      ->check(integer_in(0, kMaxImageSide))
      ->capture_default_str();
}

void add_attack_flags(CLI::App* app, AttackFlags& f, const std::string& default_attack) {
  f.attack = default_attack;
  app->add_option("--attack", f.attack,
                  "fgsm, fgm (FGM-L2), bim, pgd, mifgsm; di-fgsm, ti-fgsm (DI+TI), ni-fgsm, "
                  "si-fgsm (SI alone), sini-fgsm (NI+SI), vmi-fgsm (transfer: with --surrogate); "
                  "apgd-ce, apgd-dlr, apgd-t, fab-t, "
                  "square, autoattack (reliable evaluation); spsa (scores), hopskipjump (labels; "
                  "minimal norm); cw, deepfool (minimal norm)")
      ->capture_default_str();
  app->add_option("--norm", f.norm, "linf or l2 (default: linf; l2 for fgm and cw)");
  app->add_option("--eps", f.eps, "perturbation budget (pixels in [0,1])")->capture_default_str();
  app->add_option("--alpha", f.alpha, "step size (fixed-step attacks); C&W: Adam learning rate")
      ->capture_default_str();
  app->add_option("--steps", f.steps,
                  fmt::format("iterations (default: {} for fgsm/bim/pgd/mifgsm, {} for apgd-*, "
                              "fab-t, autoattack, spsa and cw per binary step, {} for deepfool, "
                              "{} for hopskipjump: its --max-queries end it)",
                              default_steps("pgd"), default_steps("apgd-ce"),
                              default_steps("deepfool"), default_steps("hopskipjump")))
      ->check(integer_in(1, kMaxSteps));
  app->add_flag("--random-start,!--no-random-start", f.random_start,
                "PGD, APGD, SPSA: start from a uniform random point of the eps-ball (default "
                "on; cleverhans' SPSA always starts so)");
  app->add_option("--restarts", f.restarts, "random restarts (PGD, APGD, FAB-T)")
      ->capture_default_str();
  app->add_option("--decay", f.decay, "MI-FGSM momentum decay")->capture_default_str();
  app->add_option("--targets", f.targets,
                  "APGD-T/FAB-T target classes (top-k of the clean logits; 0 = min(9, classes-1))")
      ->capture_default_str();
  app->add_option("--max-queries,--queries", f.queries,
                  "square, spsa, hopskipjump: the most images one sample may show the model")
      ->capture_default_str();
  app->add_option("--di-prob", f.di_prob,
                  "DI: probability of the random resize-and-pad per gradient (default: 0.5 for "
                  "di-fgsm and ti-fgsm as torchattacks, else 0)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--di-resize", f.di_resize, "DI: smallest resize, share of the side")
      ->capture_default_str();
  app->add_option("--ti-kernel", f.ti_kernel,
                  "TI: Gaussian kernel side, odd (default: ti-fgsm Dong et al.'s 15 px at 299 px "
                  "scaled to the image, refused under 70 px where it cannot smooth; else 1)")
      ->check(CLI::Range(1, 99));
  app->add_option("--si-scales", f.si_scales,
                  "SI: scale copies x/2^i per gradient (default: 5 for si-fgsm and sini-fgsm as "
                  "Lin et al., else 1)")
      ->check(CLI::Range(1, 20));
  app->add_option(
         "--vmi-samples", f.vmi_samples,
         "VMI: neighbours for the gradient variance (default: 20 for vmi-fgsm as Wang & He "
         "and their code; torchattacks uses 5; else 0)")
      ->check(CLI::Range(0, 100));
  app->add_option("--vmi-beta", f.vmi_beta, "VMI: neighbourhood radius in eps")
      ->capture_default_str();
  app->add_flag("--nesterov", f.nesterov,
                "NI: gradients at the Nesterov look-ahead point (ni-fgsm always)");
  app->add_option("--spsa-samples", f.spsa_samples,
                  "SPSA: random directions per step (two queries each)")
      ->capture_default_str();
  app->add_option("--spsa-delta", f.spsa_delta, "SPSA: finite-difference step")
      ->capture_default_str();
  app->add_option("--hsj-init-evals", f.hsj_init_evals,
                  "HopSkipJump: queries of the first gradient estimate (grows with sqrt of the "
                  "iteration)")
      ->capture_default_str();
  app->add_option("--hsj-max-evals", f.hsj_max_evals,
                  "HopSkipJump: the most queries of one gradient estimate")
      ->capture_default_str();
  app->add_option("--p-init", f.p_init, "Square: initial share of pixels per square")
      ->capture_default_str();
  app->add_option("--kappa", f.kappa, "C&W: confidence margin")->capture_default_str();
  app->add_option("--binary-steps", f.binary_steps, "C&W: binary search steps over c")
      ->capture_default_str();
  app->add_option("--initial-const", f.initial_const, "C&W: the first c")->capture_default_str();
  app->add_option("--overshoot", f.overshoot, "DeepFool: overshoot")->capture_default_str();
  app->add_option("--version", f.version,
                  "AutoAttack: standard (APGD-CE, APGD-T, FAB-T, Square), fast (APGD-CE, "
                  "APGD-T over the top-3 targets) or rand (randomised models: APGD-CE and "
                  "APGD-DLR with EOT over 20 passes)")
      ->capture_default_str();
}

std::string attack_norm(const AttackFlags& f) {
  if (!f.norm.empty()) return f.norm;
  return default_attack_options(f.attack).norm();
}

AttackOptions attack_options(const AttackFlags& f) {
  return AttackOptions()
      .eps(f.eps)
      .alpha(f.alpha)
      .steps(f.steps == AttackFlags::kDefaultSteps ? default_attack_options(f.attack).steps()
                                                   : f.steps)
      .norm(attack_norm(f))
      .random_start(f.random_start)
      .restarts(f.restarts)
      .decay(f.decay)
      .seed(global_options().seed)
      .targets(f.targets)
      .queries(f.queries)
      .p_init(f.p_init)
      .kappa(f.kappa)
      .binary_steps(f.binary_steps)
      .initial_const(f.initial_const)
      .overshoot(f.overshoot)
      .version(f.version)
      .input_diversity(f.di_prob)
      .diversity_resize(f.di_resize)
      .ti_kernel(f.ti_kernel)
      .si_scales(f.si_scales)
      .vmi_samples(f.vmi_samples)
      .vmi_beta(f.vmi_beta)
      .nesterov(f.nesterov)
      .spsa_samples(f.spsa_samples)
      .spsa_delta(f.spsa_delta)
      .hsj_init_evals(f.hsj_init_evals)
      .hsj_max_evals(f.hsj_max_evals);
}

std::unique_ptr<Attack> make_attack_from(const AttackFlags& f, bool early_stop) {
  check_input(f.random_start || (f.attack.rfind("apgd", 0) != 0 && f.attack != "autoattack"),
              "--no-random-start", "an attack that can start at the input (pgd)",
              f.attack + ", which starts at a random point as its paper does");
  return make_attack(f.attack, attack_options(f).early_stop(early_stop));
}

}  // namespace foil::cli
