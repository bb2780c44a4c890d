#include "foil/patch/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/distributed/dist.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "foil/train/trainer.h"

namespace foil {
namespace {

ImageShape shape_of_images(const torch::Tensor& x) { return {x.size(1), x.size(2), x.size(3)}; }

// Every process's object boxes (at most `most` per image), in rank order.
std::vector<std::vector<ObjectBox>> gather_boxes(const std::vector<std::vector<ObjectBox>>& mine,
                                                 int64_t most) {
  std::vector<float> flat;
  for (const auto& boxes : mine)
    for (int64_t k = 0; k < most; ++k) {  // padded with empty boxes
      const ObjectBox b = k < static_cast<int64_t>(boxes.size()) ? boxes[k] : ObjectBox{};
      flat.insert(flat.end(), {b.x1, b.y1, b.x2, b.y2});
    }
  const torch::Tensor all =
      dist::all_gather_rows(torch::tensor(flat, torch::kFloat).view({-1, 4 * most})).contiguous();
  std::vector<std::vector<ObjectBox>> out(all.size(0));
  const float* v = all.data_ptr<float>();
  for (int64_t i = 0; i < all.size(0); ++i)
    for (int64_t k = 0; k < most; ++k) {
      const float* b = v + 4 * (i * most + k);
      const ObjectBox box{b[0], b[1], b[2], b[3]};
      if (!box.empty()) out[i].push_back(box);
    }
  return out;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const PatchTrainOptions& o,
                                                        torch::Tensor& params) {
  if (o.optimizer() == "adam")
    return std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{params},
                                                torch::optim::AdamOptions(o.lr()));
  if (o.optimizer() == "sgd")
    return std::make_unique<torch::optim::SGD>(
        std::vector<torch::Tensor>{params},
        torch::optim::SGDOptions(o.lr()).momentum(o.momentum()));
  throw InputError("--optimizer: expected adam or sgd, got '" + o.optimizer() + "'");
}

}  // namespace

std::vector<std::vector<ObjectBox>> object_boxes_each(const Model& model, const torch::Tensor& x,
                                                      int64_t cls, int64_t most) {
  const auto* detector = dynamic_cast<const GraphModel*>(&model);
  check_input(detector && detector->meta().task == "detection", "--on-object",
              "object detectors (the patch goes on a detected object)",
              "model " + model.info().name);
  std::vector<std::vector<ObjectBox>> out;
  for (const auto& found : detector->detect(x.detach())) {
    out.emplace_back();
    for (const auto& d : found)  // best first
      if ((cls < 0 || d.cls == cls) && static_cast<int64_t>(out.back().size()) < most)
        out.back().push_back({d.x1, d.y1, d.x2, d.y2});
  }
  return out;
}

std::vector<ObjectBox> object_boxes(const Model& model, const torch::Tensor& x, int64_t cls) {
  std::vector<ObjectBox> best;
  for (const auto& boxes : object_boxes_each(model, x, cls, 1))
    best.push_back(boxes.empty() ? ObjectBox{} : boxes.front());
  return best;
}

PatchStepper::PatchStepper(std::vector<std::shared_ptr<Model>> models, const Dataset& data,
                           Patch patch, const ObjectiveOptions& objective,
                           const PlacementOptions& placement, const PatchTrainOptions& options)
    : models_(std::move(models)),
      patch_(std::move(patch)),
      placement_(placement),
      object_class_(objective.target()),
      options_(options) {
  for (const auto& m : models_) objectives_.push_back(make_objective(objective, *m, data));
  patch_.params() = patch_.params().detach().clone().requires_grad_(true);
  mask_ = patch_.mask();
  optimizer_ = make_optimizer(options_, patch_.params());
}

PatchStepper::~PatchStepper() = default;

double PatchStepper::step(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen) {
  torch::Tensor& params = patch_.params();
  // Data-parallel training: each process works a contiguous share of the batch (a batch with
  // fewer images than processes is worked whole by each, which then counts 1/ranks).
  const int64_t n = x.size(0), ranks = dist::size();
  const bool split = ranks > 1 && n >= ranks;
  const auto [lo, hi] = split ? dist::shard(n) : std::pair<int64_t, int64_t>{0, n};
  const torch::Tensor xs = x.slice(0, lo, hi), ys = y.slice(0, lo, hi);
  std::vector<std::vector<ObjectBox>> objects;
  if (placement_.on_object() >= 0) {
    objects = object_boxes_each(*models_.front(), xs.to(models_.front()->device()), object_class_,
                                placement_.objects());
    if (split) objects = gather_boxes(objects, placement_.objects());
  }
  // Every process draws the whole batch's placements (so the generators stay in step), then
  // pastes its share's.
  auto places = sample_object_placements(patch_, n, shape_of_images(x), placement_, gen, objects);
  places = std::vector<std::vector<Placement>>(places.begin() + lo, places.begin() + hi);
  // Per model: the gradient and loss of this share, weighted so that the sum over processes is
  // the whole batch's; then one exchange for all of them (in double).
  std::vector<torch::Tensor> parts;
  std::vector<double> losses;
  for (size_t m = 0; m < models_.size(); ++m) {
    objectives_[m]->set_shared(split);
    const torch::Tensor pixels = patch_.render();
    const torch::Tensor xp =
        apply_patch_each(xs.to(models_[m]->device()), pixels, mask_, places, placement_);
    const torch::Tensor loss = objectives_[m]->loss(*models_[m], xp, ys, gen);
    const bool per_item = objectives_[m]->per_item();
    const double value_weight = split && per_item ? static_cast<double>(hi - lo) / n : 1.0 / ranks;
    const double grad_weight = split && !per_item ? 1.0 : value_weight;
    parts.push_back(torch::autograd::grad({loss * grad_weight}, {params})[0].flatten().cpu());
    losses.push_back(loss.item<double>() * value_weight);
  }
  parts.push_back(torch::tensor(losses, torch::kDouble));
  torch::Tensor sums = torch::cat(parts).to(torch::kDouble);
  dist::all_reduce_sum(sums);
  torch::Tensor grad = torch::zeros_like(params);
  double step_loss = 0;
  const int64_t size = params.numel();
  const double k = static_cast<double>(models_.size());
  for (size_t m = 0; m < models_.size(); ++m) {
    torch::Tensor g = sums.slice(0, m * size, (m + 1) * size)
                          .view_as(params)
                          .to(params.scalar_type())
                          .to(params.device());
    if (models_.size() > 1) g = g / g.norm().clamp_min(1e-12);
    grad += g / k;
    step_loss += sums[models_.size() * size + m].item<double>() / k;
  }
  // The smoothness term joins after the per-model normalisation (as the OT reference does),
  // so its weight means the same for one model or an ensemble.
  if (options_.tv() > 0) {
    const torch::Tensor tv = options_.tv() * total_variation(patch_.render());
    grad += torch::autograd::grad({tv}, {params})[0];
    step_loss += tv.item<double>();
  }
  optimizer_->zero_grad();
  params.mutable_grad() = grad;
  optimizer_->step();
  torch::NoGradGuard no_grad;
  params.clamp_(0, 1);
  return step_loss;
}

PatchTrainResult train_patch(const std::vector<std::shared_ptr<Model>>& models, const Dataset& data,
                             Patch patch, const ObjectiveOptions& objective,
                             const PlacementOptions& placement, const PatchTrainOptions& o,
                             const std::function<void(int64_t, double)>& on_epoch) {
  check_input(!models.empty(), "--model", "at least one source model", "none");
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  check_input(o.epochs() >= 1, "--epochs", "an integer >= 1", std::to_string(o.epochs()));
  check_input(o.batch() >= 1, "--batch", "an integer >= 1", std::to_string(o.batch()));
  check_input(o.lr() > 0, "--lr", "a value > 0", fmt::format("{}", o.lr()));
  check_input(o.tv() >= 0, "--tv", "a value >= 0", fmt::format("{}", o.tv()));
  PatchStepper stepper(models, data, patch, objective, placement, o);
  PatchTrainResult result{patch, {}, {}};
  torch::Tensor& params = stepper.patch().params();
  auto* optim = &stepper.optimizer();
  const std::string sig = nlohmann::json({{"epochs", o.epochs()},
                                          {"batch", o.batch()},
                                          {"optimizer", o.optimizer()},
                                          {"lr", o.lr()},
                                          {"seed", o.seed()},
                                          {"loss", objective.loss()},
                                          {"target", objective.target()},
                                          {"n", data.size()},
                                          {"images", tensor_digest(data.images)},
                                          {"tv", o.tv()},
                                          {"momentum", o.momentum()},
                                          {"fingerprint", o.fingerprint()},
                                          {"shape", params.sizes().vec()}})
                              .dump();
  int64_t first_epoch = 0;
  // Rank 0 holds the checkpoint and sends it to the others: a job resumes with any number of
  // processes.
  std::string saved_bytes;
  if (dist::leader() && !o.checkpoint().empty() && std::filesystem::exists(o.checkpoint())) {
    std::ifstream in(o.checkpoint(), std::ios::binary);
    saved_bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  saved_bytes = dist::broadcast(saved_bytes);
  if (!saved_bytes.empty()) {
    try {
      torch::serialize::InputArchive ck, state;
      ck.load_from(saved_bytes.data(), saved_bytes.size());
      c10::IValue s, epoch;
      ck.read("signature", s);
      check_input(s.toStringRef() == sig, "checkpoint " + o.checkpoint(),
                  "a checkpoint of the same patch options (delete it to start afresh)",
                  "one written with other options");
      torch::Tensor saved, steps, epochs;
      ck.read("params", saved);
      ck.read("step_loss", steps);
      ck.read("epoch_loss", epochs);
      ck.read("optim", state);
      ck.read("epoch", epoch);
      torch::NoGradGuard g;
      params.copy_(saved);
      optim->load(state);
      result.step_loss.assign(steps.data_ptr<double>(), steps.data_ptr<double>() + steps.numel());
      result.epoch_loss.assign(epochs.data_ptr<double>(),
                               epochs.data_ptr<double>() + epochs.numel());
      first_epoch = epoch.toInt();
    } catch (const c10::Error&) {
      throw InputError("checkpoint " + o.checkpoint() + ": corrupt (delete it to start afresh)");
    }
  }
  for (int64_t epoch = first_epoch; epoch < o.epochs(); ++epoch) {
    // Everything random in an epoch comes from generators keyed by (seed, epoch), so a resumed
    // run repeats an uninterrupted one.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed() * 1000003ULL + epoch);
    const Dataset shuffled = data.shuffled(o.seed() * 7919ULL + epoch);
    Progress progress(o.progress().empty()
                          ? ""
                          : fmt::format("{} epoch {}/{}", o.progress(), epoch + 1, o.epochs()),
                      data.size());
    double sum = 0;
    int64_t steps = 0;
    for (int64_t b = 0; b < data.size(); b += o.batch()) {
      const int64_t e = std::min(data.size(), b + o.batch());
      const torch::Tensor x = shuffled.images.slice(0, b, e);
      const torch::Tensor y = shuffled.labels.slice(0, b, e);
      const double step_loss = stepper.step(x, y, gen);
      check_finite_loss(step_loss, o.lr(), epoch + 1, b / o.batch() + 1, o.checkpoint());
      result.step_loss.push_back(step_loss);
      sum += step_loss;
      ++steps;
      progress.update(e, fmt::format("loss {:.4f}", sum / steps));
    }
    result.epoch_loss.push_back(sum / static_cast<double>(steps));
    progress.finish(fmt::format("loss {:.4f}", result.epoch_loss.back()));
    if (!o.checkpoint().empty() && dist::leader()) {
      torch::serialize::OutputArchive ck, state;
      optim->save(state);
      ck.write("signature", c10::IValue(sig));
      ck.write("epoch", c10::IValue(epoch + 1));
      ck.write("params", params.detach());
      ck.write("step_loss", torch::tensor(result.step_loss, torch::kDouble));
      ck.write("epoch_loss", torch::tensor(result.epoch_loss, torch::kDouble));
      ck.write("optim", state);
      ck.save_to(o.checkpoint() + ".tmp");
      replace_with(o.checkpoint() + ".tmp", o.checkpoint());
    }
    if (on_epoch) on_epoch(epoch + 1, result.epoch_loss.back());
  }
  result.patch = stepper.patch();
  result.patch.params() = params.detach();
  return result;
}

namespace {

/// One batch run clean and under each placement.
struct PatchedBatch {
  torch::Tensor labels;                ///< the batch's labels
  torch::Tensor clean;                 ///< the model's output on the clean images
  std::vector<torch::Tensor> images;   ///< per placement: the patched images
  std::vector<torch::Tensor> outputs;  ///< per placement: the model's output on them
  std::vector<std::vector<std::vector<Placement>>> places;  ///< per placement and image: where
  torch::Tensor x;                                          ///< the clean images
};

/// Runs `model` on `data`'s batches, clean and under `repeats` random placements (batch k's
/// drawn from a generator keyed by seed and k, so that any process can run any batch; on-object
/// placement: on the model's own detections of `object_class`). In a job of several processes
/// each runs a contiguous share of the batches. `rows(batch)` makes a batch's table of
/// `columns` integers per image; returns every image's row, in data order, on every process.
torch::Tensor run_patched(Model& model, const Dataset& data, const Patch& patch,
                          const PlacementOptions& placement, int64_t object_class, int64_t repeats,
                          uint64_t seed, int64_t batch, int64_t columns,
                          const std::function<torch::Tensor(const PatchedBatch&)>& rows) {
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  check_input(repeats >= 1, "--repeats", "an integer >= 1", std::to_string(repeats));
  torch::NoGradGuard no_grad;
  const ImageShape shape = shape_of_images(data.images);
  const torch::Tensor pixels = patch.render().detach(), mask = patch.mask();
  return dist::map_batches(
      data.size(), batch, torch::zeros({0, columns}, torch::kLong), [&](int64_t b, int64_t e) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + b / batch);
        PatchedBatch pb;
        pb.x = data.images.slice(0, b, e).to(model.device());
        pb.labels = data.labels.slice(0, b, e).to(model.device());
        pb.clean = model.forward(pb.x);
        std::vector<std::vector<ObjectBox>> objects;
        if (placement.on_object() >= 0)
          objects = object_boxes_each(model, pb.x, object_class, placement.objects());
        for (int64_t r = 0; r < repeats; ++r) {
          pb.places.push_back(
              sample_object_placements(patch, e - b, shape, placement, gen, objects));
          pb.images.push_back(apply_patch_each(pb.x, pixels, mask, pb.places.back(), placement));
          pb.outputs.push_back(model.forward(pb.images.back()));
        }
        return rows(pb).to(torch::kLong);
      });
}

}  // namespace

double box_iou(const Detection& a, const Detection& b) {
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

KeptBoxes count_kept_boxes(const std::vector<Detection>& clean,
                           const std::vector<Detection>& patched,
                           const std::vector<Detection>& patch_areas, int64_t cls) {
  KeptBoxes k;
  for (const auto& d : clean) {
    if (cls >= 0 && d.cls != cls) continue;
    bool found = false;
    for (const auto& m : patched) found = found || (m.cls == d.cls && box_iou(d, m) >= 0.5);
    bool under = false;
    for (const auto& area : patch_areas) under = under || box_iou(d, area) > 0;
    ++k.clean;
    k.kept += found;
    k.under += under;
    k.under_kept += under && found;
  }
  return k;
}

PatchEvaluation evaluate_patch(Model& model, const Dataset& data, const Patch& patch,
                               const PlacementOptions& placement, int64_t target, int64_t repeats,
                               uint64_t seed, int64_t batch) {
  // Per image: label, clean prediction, one prediction per placement.
  const torch::Tensor t =
      run_patched(model, data, patch, placement, target, repeats, seed, batch, 2 + repeats,
                  [](const PatchedBatch& pb) {
                    std::vector<torch::Tensor> cols{pb.labels, pb.clean.argmax(1)};
                    for (const auto& out : pb.outputs) cols.push_back(out.argmax(1));
                    return torch::stack(cols, 1);
                  });
  const torch::Tensor y = t.select(1, 0).unsqueeze(1), clean_pred = t.select(1, 1).unsqueeze(1);
  const torch::Tensor pred = t.slice(1, 2), clean = clean_pred.eq(y);
  auto count = [](const torch::Tensor& b) { return static_cast<double>(b.sum().item<int64_t>()); };
  PatchEvaluation ev;
  ev.n = data.size();
  ev.repeats = repeats;
  ev.clean_accuracy = count(clean) / ev.n;
  ev.patched_accuracy = count(pred.eq(y)) / static_cast<double>(ev.n * repeats);
  const double base = count(clean) * repeats;
  ev.fooling_rate = base > 0 ? count(clean & pred.ne(y)) / base : 0.0;
  if (target >= 0) {
    const torch::Tensor other = y.ne(target);
    const double others = count(other);
    ev.target_success = others > 0 ? count(other & pred.eq(target)) / (others * repeats) : 0.0;
    ev.clean_target_rate = others > 0 ? count(other & clean_pred.eq(target)) / others : 0.0;
  }
  return ev;
}

DetectionPatchEvaluation evaluate_detection_patch(Model& model, const Dataset& data,
                                                  const Patch& patch,
                                                  const PlacementOptions& placement, int64_t cls,
                                                  double threshold, int64_t repeats, uint64_t seed,
                                                  int64_t batch) {
  check_input(threshold > 0 && threshold < 1, "detection threshold", "a score in (0, 1)",
              std::to_string(threshold));
  // Per image: detected clean, detected under each placement; then the clean boxes of the
  // class, and per placement those still found, those the patch overlaps and those of them
  // still found.
  const auto* detector = dynamic_cast<const GraphModel*>(&model);
  check_input(detector != nullptr, "model " + model.info().name,
              "an object detector (boxes to count)", "a model without a box decoder");
  const int64_t side = patch.side();
  const torch::Tensor t = run_patched(
      model, data, patch, placement, cls, repeats, seed, batch, 2 + 4 * repeats,
      [&](const PatchedBatch& pb) {
        auto detected = [&](const torch::Tensor& z) {
          check_input(cls < z.size(1), "--class " + std::to_string(cls),
                      fmt::format("a class of the model's {}", z.size(1)),
                      "a class it does not have");
          return torch::sigmoid(cls >= 0 ? z.select(1, cls) : z.amax(1))
              .ge(threshold)
              .to(torch::kLong);
        };
        const int64_t n = pb.x.size(0);
        torch::Tensor boxes = torch::zeros({n, 1 + 3 * repeats}, torch::kLong);
        // A detector without a box decoder (a bare class-map graph) has no boxes to
        // count.
        const bool decodes = !detector->meta().decode.empty();
        const auto clean =
            decodes ? detector->detect(pb.x, threshold) : std::vector<std::vector<Detection>>(n);
        for (int64_t r = 0; r < repeats && decodes; ++r) {
          const auto after = detector->detect(pb.images[r], threshold);
          for (int64_t i = 0; i < n; ++i) {
            std::vector<Detection> areas;
            for (const Placement& at : pb.places[r][i])
              areas.push_back({0, "", 0, static_cast<float>(at.left), static_cast<float>(at.top),
                               static_cast<float>(at.left + side),
                               static_cast<float>(at.top + side)});
            const KeptBoxes k = count_kept_boxes(clean[i], after[i], areas, cls);
            boxes[i][0] = k.clean;
            boxes[i][1 + 3 * r] = k.kept;
            boxes[i][2 + 3 * r] = k.under;
            boxes[i][3 + 3 * r] = k.under_kept;
          }
        }
        std::vector<torch::Tensor> cols{detected(pb.clean)};
        for (const auto& out : pb.outputs) cols.push_back(detected(out));
        return torch::cat({torch::stack(cols, 1).cpu(), boxes}, 1);
      });
  const torch::Tensor clean = t.select(1, 0).unsqueeze(1).to(torch::kBool);
  const torch::Tensor now = t.slice(1, 1, 1 + repeats).to(torch::kBool);
  auto count = [](const torch::Tensor& b) { return b.sum().item<int64_t>(); };
  const int64_t clean_hits = count(clean);
  DetectionPatchEvaluation ev;
  ev.n = data.size();
  ev.repeats = repeats;
  ev.threshold = threshold;
  ev.clean_detection_rate = static_cast<double>(clean_hits) / static_cast<double>(ev.n);
  ev.patched_detection_rate = static_cast<double>(count(now)) / static_cast<double>(ev.n * repeats);
  if (clean_hits > 0)
    ev.hidden_rate = static_cast<double>(count(clean & ~now)) / (clean_hits * repeats);
  if (clean_hits < ev.n)
    ev.appeared_rate = static_cast<double>(count(~clean & now)) / ((ev.n - clean_hits) * repeats);
  const torch::Tensor box_cols = t.slice(1, 1 + repeats);
  ev.clean_boxes = count(box_cols.select(1, 0));
  int64_t kept = 0, covered = 0, covered_kept = 0;
  for (int64_t r = 0; r < repeats; ++r) {
    kept += count(box_cols.select(1, 1 + 3 * r));
    covered += count(box_cols.select(1, 2 + 3 * r));
    covered_kept += count(box_cols.select(1, 3 + 3 * r));
  }
  if (ev.clean_boxes > 0)
    ev.box_recall = static_cast<double>(kept) / static_cast<double>(ev.clean_boxes * repeats);
  ev.boxes_under_patch = covered;
  if (covered > 0) ev.under_patch_recall = static_cast<double>(covered_kept) / covered;
  return ev;
}

}  // namespace foil
