// The bench job: attack and patch steps against the bare model passes, in the same run.
#include "foil/jobs/bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <map>

#include "foil/attacks/attack.h"
#include "foil/attacks/transfer.h"
#include "foil/certify/smoothing.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"
#include "foil/explain/explain.h"
#include "foil/keypoints/kaa.h"
#include "foil/patch/trainer.h"

namespace foil {
namespace {

double median(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// Medians of the paired timings, and the spread of the per-repeat ratios.
struct Paired {
  double bare = 0, attack = 0;  ///< median seconds
  /// Median, lower and upper quartile of attack / bare within each repeat's pair.
  double ratio = 0, ratio_lo = 0, ratio_hi = 0;
};

/// Times `bare` and `attack` alternately `repeats` times after one warm-up of each, so
/// drift in machine speed hits both alike. On a GPU each timing waits for the device's
/// queued work to finish.
template <typename Bare, typename Attack>
Paired paired_seconds(c10::Device device, int64_t repeats, Bare bare, Attack attack) {
  auto timed = [&](auto& f) {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
    const double s = now_seconds();
    f();
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
    return now_seconds() - s;
  };
  timed(bare);
  timed(attack);
  std::vector<double> tb, ta, ratios;
  for (int64_t i = 0; i < repeats; ++i) {
    tb.push_back(timed(bare));
    ta.push_back(timed(attack));
    ratios.push_back(ta.back() / tb.back());
  }
  std::sort(ratios.begin(), ratios.end());
  const size_t q = ratios.size() / 4;
  return {median(tb), median(ta), median(ratios), ratios[q], ratios[ratios.size() - 1 - q]};
}

/// Ops that make the host wait for the device's queue: reading a value back (item(), a
/// tensor used as a bool), sizing a result by data (nonzero, boolean masks), synchronous
/// copies.
bool is_read_back(const std::string& op) {
  return op == "aten::_local_scalar_dense" || op == "aten::nonzero" ||
         op == "aten::masked_select" || op == "cudaStreamSynchronize" ||
         op == "cudaDeviceSynchronize" || op == "cudaMemcpy";
}

/// `f` run once under LibTorch's profiler (CPU ops; CUDA kernels too on a GPU): the read-backs
/// per step and the ten ops with the most inclusive time.
template <typename F>
nlohmann::json profile_events(c10::Device device, int64_t steps, F f) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  std::set<ActivityType> activities{ActivityType::CPU};
  if (device.is_cuda()) activities.insert(ActivityType::CUDA);
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  f();
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
  const auto result = prof::disableProfiler();
  struct Total {
    double us = 0;
    int64_t calls = 0;
    bool cuda = false;
  };
  std::map<std::string, Total> ops;
  for (const auto& e : result->events()) {
    Total& t = ops[e.name()];
#if TORCH_VERSION_MAJOR >= 2
    t.us += static_cast<double>(e.durationNs()) / 1e3;  // LibTorch 2 counts in ns
#else
    t.us += static_cast<double>(e.durationUs());
#endif
    ++t.calls;
    t.cuda = t.cuda || e.deviceType() == c10::DeviceType::CUDA;
  }
  int64_t read_backs = 0;
  nlohmann::json which = nlohmann::json::object(), top = nlohmann::json::array();
  std::vector<std::pair<std::string, Total>> sorted(ops.begin(), ops.end());
  for (const auto& [name, t] : sorted)
    if (is_read_back(name)) read_backs += t.calls, which[name] = t.calls;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  for (size_t i = 0; i < std::min<size_t>(10, sorted.size()); ++i)
    top.push_back({{"op", sorted[i].first},
                   {"ms", sorted[i].second.us / 1e3},
                   {"calls", sorted[i].second.calls},
                   {"on", sorted[i].second.cuda ? "cuda" : "cpu"}});
  return {{"steps", steps},
          {"read_backs_per_step", static_cast<double>(read_backs) / static_cast<double>(steps)},
          {"read_back_ops", which},
          {"top_inclusive", top}};
}

/// profile_events, or {"error": why} where the profiler cannot run (e.g. no CUPTI on a GPU
/// machine): the row's timings stand either way.
template <typename F>
nlohmann::json profile_once(c10::Device device, int64_t steps, F f) {
  try {
    return profile_events(device, steps, f);
  } catch (const std::exception& e) {
    std::string why = e.what();
    return {{"error", why.substr(0, why.find('\n'))}};
  }
}

/// "lo-hi" of a ratio's quartiles, for the table.
std::string spread(const Paired& t) { return fmt::format("{:.3f}-{:.3f}", t.ratio_lo, t.ratio_hi); }

/// The rows: attacks by name and norm, then patch training by loss, with and without EOT.
struct Row {
  std::string name, norm;
  std::string label() const { return name + "-" + norm; }
};
struct PatchRow {
  std::string loss;
  bool eot;
  std::string label() const { return "patch-" + loss + (eot ? "+eot" : ""); }
};

std::vector<Row> attack_rows() {
  std::vector<Row> attacks;
  for (const std::string name : {"fgsm", "fgm", "bim", "pgd", "mifgsm", "di-fgsm", "ti-fgsm",
                                 "vmi-fgsm", "apgd-ce", "apgd-t", "square", "spsa", "hopskipjump"})
    for (const std::string norm : {"linf", "l2"})
      if (!(name == "fgsm" && norm == "l2") && !(name == "fgm" && norm == "linf") &&
          !(name == "spsa" && norm == "l2"))
        attacks.push_back({name, norm});
  return attacks;
}

std::vector<PatchRow> patch_rows() {
  std::vector<PatchRow> patches;
  for (const std::string loss : {"ce", "feature", "ot"})
    for (const bool eot : {false, true}) patches.push_back({loss, eot});
  return patches;
}

}  // namespace

/// The corruption rows: "corrupt-NAME" per corruption ("corruptions" in --only: all of them).
std::vector<std::string> corruption_rows() {
  std::vector<std::string> out;
  for (const CorruptionInfo& c : corruption_list()) out.push_back("corrupt-" + c.name);
  return out;
}

std::vector<std::string> bench_rows() {
  std::vector<std::string> names;
  for (const Row& r : attack_rows()) names.push_back(r.label());
  for (const PatchRow& p : patch_rows()) names.push_back(p.label());
  for (const auto& c : corruption_rows()) names.push_back(c);
  names.push_back("smoothing");
  for (ExplainMethod m : explain_methods()) names.push_back("explain-" + explain_method_name(m));
  return names;
}

void check_bench_options(const BenchOptions& o) {
  check_input(o.steps >= 1, "--steps", "an integer >= 1", std::to_string(o.steps));
  check_input(o.repeats >= 1, "--repeats", "an integer >= 1", std::to_string(o.repeats));
  const std::vector<std::string> names = bench_rows();
  for (const std::string& row : o.only)
    check_input(
        row == "corruptions" || std::find(names.begin(), names.end(), row) != names.end(), "--only",
        fmt::format("row names from: {} (corruptions: every corrupt-*)", fmt::join(names, ", ")),
        "'" + row + "'");
  check_input(o.batch >= 1, "--batch", "an integer >= 1", std::to_string(o.batch));
  check_input(o.only.empty() || !o.model_only, "--only",
              "no rows with --model-only (it times only the model's passes)", option_text(o.only));
  check_input(!(o.profile && o.model_only), "--profile",
              "not with --model-only (it profiles attack and patch rows)", "--model-only");
}

nlohmann::json run_model_bench(Model& model, const Dataset& data, int64_t repeats, const Log& log) {
  const c10::Device device = model.device();
  model.check_input_shape(data.images.slice(0, 0, 1));
  const torch::Tensor x = data.images.to(device);
  const std::string layer = default_heatmap_layer(model);
  auto forward = [&] {
    torch::NoGradGuard no_grad;
    model.forward(x);
  };
  auto forward_backward = [&] {
    torch::Tensor xi = x.clone().requires_grad_(true);
    auto out = model.forward(xi, layer.empty() ? std::vector<std::string>{} : std::vector{layer});
    const torch::Tensor v = layer.empty() ? out.output : out.taps.at(layer);
    torch::autograd::grad({v.square().sum()}, {xi});
  };
  const Paired t = paired_seconds(device, repeats, forward, forward_backward);
  const double fwd = t.bare, both = t.attack;
  const double n = static_cast<double>(x.size(0));
  if (log) {
    log(fmt::format("model {} | batch {} | threads {} | median of {}", model.info().name, x.size(0),
                    torch::get_num_threads(), repeats));
    log(fmt::format("forward            {:>9.2f} ms  ({:.1f} images/s)", 1e3 * fwd, n / fwd));
    log(fmt::format("forward+backward   {:>9.2f} ms  ({:.2f}x the forward; gradient from {})",
                    1e3 * both, both / fwd, layer.empty() ? "the output" : "'" + layer + "'"));
  }
  return {
      {"model", model.info().name},          {"batch", x.size(0)},
      {"threads", torch::get_num_threads()}, {"forward_ms", 1e3 * fwd},
      {"forward_backward_ms", 1e3 * both},   {"gradient_from", layer.empty() ? "output" : layer}};
}

namespace {

/// What every row of the bench shares: the model, the batch on its device, the options, and
/// the bare model passes each row is timed against.
struct Bench {
  Model& model;
  const Dataset& data;
  const BenchOptions& o;
  const c10::Device device;
  const torch::Tensor x, y;
  const double n;  ///< items in the batch

  Bench(Model& m, const Dataset& d, const BenchOptions& options)
      : model(m),
        data(d),
        o(options),
        device(m.device()),
        x(d.images.to(device)),
        y(d.labels.to(device)),
        n(static_cast<double>(x.size(0))) {}

  /// A line of the table, when the options take lines.
  void log(const std::string& line) const {
    if (o.log) o.log(line);
  }

  /// Whether --only asks for the row `name` (every row without --only).
  bool wanted(const std::string& name) const {
    const bool group = name.rfind("corrupt-", 0) == 0 &&
                       std::find(o.only.begin(), o.only.end(), "corruptions") != o.only.end();
    return o.only.empty() || group || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
  }

  /// The bare model work: `fb` forward+backward passes (forward, loss, input gradient) and `f`
  /// forward-only passes of the same batch.
  void bare_passes(int64_t fb, int64_t f) const {
    for (int64_t s = 0; s < fb; ++s) {
      torch::Tensor xi = x.clone().requires_grad_(true);
      auto loss = torch::nn::functional::cross_entropy(
          model.forward(xi), y,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      torch::autograd::grad({loss}, {xi});
    }
    torch::NoGradGuard no_grad;
    for (int64_t s = 0; s < f; ++s) model.forward(x);
  }
};

/// One attack row: the attack at a budget too small to change any prediction (criterion
/// `own`), timed per step or query against the bare passes it makes.
nlohmann::json bench_attack(const Bench& b, const Row& row, const Criterion& own) {
  // Query attacks are timed per query against the bare forward of as many images: Square
  // and HopSkipJump with 10x and 30x --steps queries per item, SPSA with --steps steps of 16
  // directions.
  const bool query = row.name == "square" || row.name == "spsa" || row.name == "hopskipjump";
  const int64_t queries = row.name == "spsa"          ? b.o.steps * 33 + 1
                          : row.name == "hopskipjump" ? 30 * b.o.steps
                                                      : 10 * b.o.steps;
  const int64_t steps = row.name == "square" ? queries : b.o.steps;
  auto attack = make_attack(row.name, AttackOptions()
                                          .eps(1e-6)
                                          .alpha(1e-7)
                                          .steps(steps)
                                          .queries(queries)
                                          .targets(1)
                                          .spsa_samples(16)
                                          .ti_kernel(row.name == "ti-fgsm" ? kMinTiKernel : -1)
                                          .norm(row.norm)
                                          .random_start(row.name == "pgd" || row.name == "square" ||
                                                        row.name.rfind("apgd", 0) == 0));
  const AttackResult counted = attack->run(b.model, b.x, own);
  const auto fb = static_cast<int64_t>(std::lround(counted.gradient_evaluations / b.n));
  // Beyond what they count: the gradient attacks check their final iterate with one
  // forward, APGD checks the clean inputs with one first; query attacks count every forward.
  const int64_t f = static_cast<int64_t>(std::lround(counted.queries / b.n)) + (query ? 0 : 1);
  const int64_t per = query ? f : attack->options().steps();
  const Paired t = paired_seconds(
      b.device, b.o.repeats, [&] { b.bare_passes(fb, f); },
      [&] { attack->run(b.model, b.x, own); });
  const double bare = t.bare, att = t.attack;
  const std::string label = fmt::format("{}-{} ({} {})", row.name, row.norm, per,
                                        query     ? "queries"
                                        : per > 1 ? "steps"
                                                  : "step");
  const std::string passes = fb > 0 ? fmt::format("{} fb + {} f", fb, f) : fmt::format("{} f", f);
  b.log(fmt::format("{:<26}{:>9.2f}{:>9.2f}{:>8.3f}{:>14}{:>14}", label, 1e3 * att / per,
                    1e3 * bare / per, t.ratio, spread(t), passes));
  nlohmann::json out = {{"attack", row.name},
                        {"norm", row.norm},
                        {query ? "queries" : "steps", per},
                        {"forward_backward_passes", fb},
                        {"forward_passes", f},
                        {"ms_per_step", 1e3 * att / per},
                        {"bare_ms_per_step", 1e3 * bare / per},
                        {"ratio_to_bare", t.ratio},
                        {"ratio_quartiles", {t.ratio_lo, t.ratio_hi}}};
  if (b.o.profile)
    out["profile"] = profile_once(b.device, per, [&] { attack->run(b.model, b.x, own); });
  return out;
}

/// The attack rows. Every item stays in the batch for every step: the labels are the clean
/// predictions and the budget (1e-6) is too small to change any, so each attack makes exactly
/// the model passes its algorithm prescribes, counted from its own result.
void bench_attacks(const Bench& b, nlohmann::json& rows) {
  torch::Tensor pred;
  {
    torch::NoGradGuard no_grad;
    pred = b.model.forward(b.x).argmax(1);
  }
  const Criterion own = Criterion::misclassification(pred);
  for (const Row& row : attack_rows())
    if (b.wanted(row.label())) rows.push_back(bench_attack(b, row, own));
}

/// Patch training: one step (placement, pasting, objective, backward to the patch, update)
/// against the bare forward+backward of the same batch.
void bench_patches(const Bench& b, nlohmann::json& rows) {
  // The patch stepper shares the model without owning it.
  const std::shared_ptr<Model> shared(&b.model, [](Model*) {});
  const torch::Tensor& x = b.x;
  const ImageShape shape{x.size(1), x.size(2), x.size(3)};
  const int64_t target = b.data.labels[0].item<int64_t>();
  for (const PatchRow& p : patch_rows()) {
    const std::string label = p.label();
    if (!b.wanted(label)) continue;
    Patch patch = Patch::create(PatchOptions().area(0.15).cells(5), shape);
    PatchStepper stepper({shared}, b.data, patch, ObjectiveOptions().loss(p.loss).target(target),
                         PlacementOptions().eot(p.eot), PatchTrainOptions());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
    const Paired t = paired_seconds(
        b.device, b.o.repeats, [&] { b.bare_passes(1, 0); }, [&] { stepper.step(x, b.y, gen); });
    const double bare = t.bare, step = t.attack;
    b.log(fmt::format("{:<26}{:>9.2f}{:>9.2f}{:>8.3f}{:>14}{:>14}   {:.0f} images/s", label,
                      1e3 * step, 1e3 * bare, t.ratio, spread(t), "1 fb",
                      static_cast<double>(x.size(0)) / step));
    rows.push_back({{"attack", label},
                    {"ms_per_step", 1e3 * step},
                    {"bare_ms_per_step", 1e3 * bare},
                    {"ratio_to_bare", t.ratio},
                    {"ratio_quartiles", {t.ratio_lo, t.ratio_hi}},
                    {"images_per_second", static_cast<double>(x.size(0)) / step}});
    if (b.o.profile)
      rows.back()["profile"] = profile_once(b.device, 1, [&] { stepper.step(x, b.y, gen); });
  }
}

/// Corruptions: each at severity 3 on the batch against one forward of it (what the
/// corruption audit adds per corrupted image).
void bench_corruptions(const Bench& b, nlohmann::json& rows) {
  for (const CorruptionInfo& c : corruption_list()) {
    const std::string label = "corrupt-" + c.name;
    if (!b.wanted(label)) continue;
    const std::string unfit = corruption_unfit(c.name, b.x.size(1));
    if (!unfit.empty()) {
      b.log(fmt::format("{:<26} skipped: {}", label, unfit));
      continue;
    }
    const Paired t = paired_seconds(
        b.device, b.o.repeats, [&] { b.bare_passes(0, 1); }, [&] { corrupt(b.x, c.name, 3, 0); });
    b.log(fmt::format("{:<26}{:>9.2f}{:>9.2f}{:>8.3f}{:>14}{:>14}   {:.3f} ms/image", label,
                      1e3 * t.attack, 1e3 * t.bare, t.ratio, spread(t), "1 f",
                      1e3 * t.attack / b.n));
    rows.push_back({{"attack", label},
                    {"corruption", c.name},
                    {"severity", 3},
                    {"ms_per_batch", 1e3 * t.attack},
                    {"bare_ms_per_step", 1e3 * t.bare},
                    {"ratio_to_bare", t.ratio},
                    {"ratio_quartiles", {t.ratio_lo, t.ratio_hi}},
                    {"ms_per_image", 1e3 * t.attack / b.n}});
  }
}

/// Randomized smoothing: noisy copies of 4 items, one batch's worth each, counted by class,
/// against 4 bare forwards of the batch (the same number of images).
nlohmann::json bench_smoothing(const Bench& b) {
  const torch::Tensor& x = b.x;
  const int64_t items = std::min<int64_t>(4, x.size(0));
  const SmoothingOptions so = SmoothingOptions().batch(x.size(0));
  const torch::Tensor some = x.slice(0, 0, items);
  const Paired t = paired_seconds(
      b.device, b.o.repeats, [&] { b.bare_passes(0, items); },
      [&] { noise_counts(b.model, some, torch::arange(items), x.size(0), 0, so); });
  const double per_sample = 1e3 * t.attack / static_cast<double>(items * x.size(0));
  b.log(fmt::format("{:<26}{:>9.2f}{:>9.2f}{:>8.3f}{:>14}{:>14}   {:.0f} samples/s",
                    fmt::format("smoothing ({} copies)", items * x.size(0)), 1e3 * t.attack,
                    1e3 * t.bare, t.ratio, spread(t), fmt::format("{} f", items),
                    1e3 / per_sample));
  return {{"attack", "smoothing"},
          {"noise_samples", items * x.size(0)},
          {"ms", 1e3 * t.attack},
          {"bare_ms", 1e3 * t.bare},
          {"ratio_to_bare", t.ratio},
          {"ratio_quartiles", {t.ratio_lo, t.ratio_hi}},
          {"samples_per_second", 1e3 / per_sample}};
}

/// The bare passes (forward+backward, forward) that explanation method `m` makes on the
/// batch: one forward+backward for the gradient maps, m of them for IG and SmoothGrad, a
/// forward per channel (Score-CAM, Ablation-CAM) or window (Occlusion) plus the clean one.
std::pair<int64_t, int64_t> explain_passes(const Bench& b, ExplainMethod m,
                                           const ExplainOptions& eo, const std::string& layer) {
  int64_t fb = 1, f = 0;
  if (m == ExplainMethod::kIntegratedGradients) fb = eo.ig_steps;
  if (m == ExplainMethod::kSmoothGrad) fb = eo.smooth_samples;
  if (m == ExplainMethod::kEigenCam) fb = 0, f = 1;
  if (m == ExplainMethod::kOcclusion)
    fb = 0, f = occlusion_windows(b.x.size(2), b.x.size(3), eo) + 1;
  if (m == ExplainMethod::kScoreCam || m == ExplainMethod::kAblationCam) {
    torch::NoGradGuard no_grad;
    fb = 0;
    f = b.model.forward(b.x.slice(0, 0, 1), {layer}).taps.at(layer).size(1) + 1;
  }
  return {fb, f};
}

/// Explanations: each method's maps of the batch (its predicted classes) against the bare
/// passes the method makes.
void bench_explanations(const Bench& b, nlohmann::json& rows) {
  std::string cam_layer;
  for (ExplainMethod m : explain_methods()) {
    const std::string label = "explain-" + explain_method_name(m);
    if (!b.wanted(label)) continue;
    ExplainOptions eo;
    eo.batch = b.x.size(0);  // masked or noisy images per pass: as many as the bare passes take
    if (explain_uses_layer(m) && cam_layer.empty()) cam_layer = default_cam_layer(b.model, b.x);
    const std::string layer = explain_uses_layer(m) ? cam_layer : "";
    const std::pair<int64_t, int64_t> passes = explain_passes(b, m, eo, layer);
    const int64_t fb = passes.first, f = passes.second;
    const Paired t = paired_seconds(
        b.device, b.o.repeats, [&] { b.bare_passes(fb, f); },
        [&] { explain(b.model, b.x, b.y, m, layer, eo); });
    b.log(fmt::format("{:<26}{:>9.2f}{:>9.2f}{:>8.3f}{:>14}{:>14}   {:.0f} images/s", label,
                      1e3 * t.attack, 1e3 * t.bare, t.ratio, spread(t),
                      fb > 0 ? fmt::format("{} fb", fb) : fmt::format("{} f", f),
                      static_cast<double>(b.n) / t.attack));
    rows.push_back({{"attack", label},
                    {"ms_per_batch", 1e3 * t.attack},
                    {"bare_ms_per_step", 1e3 * t.bare},
                    {"bare_passes", fb > 0 ? fmt::format("{} fb", fb) : fmt::format("{} f", f)},
                    {"ratio_to_bare", t.ratio},
                    {"ratio_quartiles", {t.ratio_lo, t.ratio_hi}},
                    {"images_per_second", static_cast<double>(b.n) / t.attack}});
  }
}

}  // namespace

nlohmann::json run_bench(Model& model, const Dataset& all, const BenchOptions& o) {
  check_bench_options(o);
  const Dataset data = all.head(o.batch);
  if (o.model_only) return run_model_bench(model, data, o.repeats, o.log);
  const Bench b(model, data, o);
  b.log(fmt::format("model {} | batch {} | threads {} | steps {} | median of {}", model.info().name,
                    b.x.size(0), torch::get_num_threads(), o.steps, o.repeats));
  b.log(fmt::format("\n{:<26}{:>9}{:>9}{:>8}{:>14}{:>14}", "attack", "ms/step", "bare ms", "ratio",
                    "quartiles", "model passes"));
  nlohmann::json rows = nlohmann::json::array();
  bench_attacks(b, rows);
  bench_patches(b, rows);
  bench_corruptions(b, rows);
  if (b.wanted("smoothing")) rows.push_back(bench_smoothing(b));
  bench_explanations(b, rows);
  b.log(fmt::format(
      "\nratio = attack time / the bare model passes its algorithm makes on the same batch\n"
      "(fb: forward, loss and input gradient; f: forward only, e.g. a success check), timed\n"
      "alternately in {} pairs: the median and quartiles of the pairs' ratios (times: medians;\n"
      "corrupt-*: corrupting the batch at severity 3 against one forward of it).\n"
      "ratio - 1 is foil's own overhead; the quartiles show how much it varies between pairs.",
      o.repeats));
  return {{"model", model.info().name},
          {"batch", b.x.size(0)},
          {"threads", torch::get_num_threads()},
          {"attacks", rows}};
}

}  // namespace foil
