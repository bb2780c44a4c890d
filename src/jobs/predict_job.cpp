// The predict job: top classes, detections, keypoints or raw outputs, drawn and cropped.
#include "foil/jobs/predict_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/jobs/job.h"
#include "foil/keypoints/kaa.h"
#include "foil/keypoints/pose.h"
#include "foil/models/graph_model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// Model-input pixels (..., 2) of item `i` to the photo's own pixels, where it has a photo.
torch::Tensor to_photo(const Dataset& data, int64_t i, const torch::Tensor& xy) {
  return data.frames.empty() ? xy : data.frames[i].to_photo(xy);
}

/// The image to draw on: the photo at its own resolution where there is one.
torch::Tensor photo_of(const Dataset& data, int64_t i) {
  return data.frames.empty() ? data.images[i] : data.frames[i].read(3)[0];
}

nlohmann::json tensor_json(const torch::Tensor& t) {
  const auto c = t.detach().cpu().to(torch::kFloat).contiguous();
  return {{"shape", c.sizes().vec()},
          {"data", std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())}};
}

/// The model's raw outputs by name: every metadata output of a TensorFlow.js model, else the
/// one output.
std::vector<std::pair<std::string, torch::Tensor>> raw_outputs(Model& model,
                                                               const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  if (const auto* t = dynamic_cast<const GraphModel*>(&model)) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    const auto values = t->outputs(x);
    for (size_t k = 0; k < values.size(); ++k)
      out.emplace_back(t->meta().outputs[k], values[k].cpu());
    return out;
  }
  return {{"output", model.forward(x).cpu()}};
}

/// The square around a box, a fifth larger than its longer side, inside the photo (C×H×W).
torch::Tensor square_crop(const torch::Tensor& photo, float x1, float y1, float x2, float y2) {
  const int64_t h = photo.size(1), w = photo.size(2);
  const double side = std::min<double>(std::max(x2 - x1, y2 - y1) * 1.2, std::min(h, w));
  const auto at = [&](double centre, int64_t extent) {
    return std::clamp<int64_t>(std::llround(centre - side / 2), 0, extent - std::llround(side));
  };
  const int64_t s = std::max<int64_t>(1, std::llround(side));
  const int64_t left = at((x1 + x2) / 2.0, w), top = at((y1 + y2) / 2.0, h);
  return photo.slice(1, top, top + s).slice(2, left, left + s);
}

bool is_classifier(const Model& model, const torch::Tensor& output) {
  if (const auto* t = dynamic_cast<const GraphModel*>(&model))
    return t->meta().task == "classifier";
  return output.dim() == 2 && output.size(1) > 1;
}

std::string item_name(const Dataset& data, int64_t i) {
  return data.size() == 1 ? data.source : fmt::format("{}[{}]", data.source, i);
}

bool is_detector(const Model& model) {
  const auto* t = dynamic_cast<const GraphModel*>(&model);
  return t && t->meta().task == "detection";
}

}  // namespace

Dataset open_predict_data(const std::string& spec, Model& model) {
  Dataset data;
  if (spec.rfind("pose:", 0) == 0) {  // the synthetic figures of 'foil keypoints'
    const PoseData pose = load_pose_data(spec);
    data.images = pose.images;
    data.source = pose.source;
  } else {
    data = load_data(spec, model.info().input);
  }
  check_input(data.size() > 0, "--data " + spec, "at least one image", "none");
  probe_model(model, data.images, spec);
  return data;
}

void check_predict_options(const Model& model, const PredictOptions& o) {
  const bool detector = is_detector(model);
  check_input(o.draw_dir.empty() || is_keypoint_model(model) || detector, "--draw",
              "a keypoint model or a detector (it draws skeletons or boxes)",
              model.info().name + ", which is neither");
  check_input(o.crops_dir.empty() || detector, "--crops",
              "a detector (it crops the detected objects)",
              model.info().name + ", which is not one");
  check_input(o.min_score < 0 || detector, "--min-score", "a detector",
              model.info().name + ", which is not one");
}

PredictResult run_predict(Model& model, const Dataset& data, const PredictOptions& o) {
  check_predict_options(model, o);
  PredictResult r;
  const auto say = [&](const std::string& line) { r.lines.push_back(line); };
  const bool keypoints = is_keypoint_model(model);
  const auto* tfjs = dynamic_cast<const GraphModel*>(&model);
  const bool detector = is_detector(model);
  const torch::Tensor x = data.images.to(model.device());
  r.lines.push_back(fmt::format("model  {} ({}{})", model.info().name, model.info().backend,
                                tfjs ? ", " + tfjs->meta().description : std::string()));
  r.lines.push_back(
      fmt::format("data   {} ({} images, {})", data.source, data.size(), model.info().input.str()));

  nlohmann::json items = nlohmann::json::array();
  torch::Tensor logits;
  if (!keypoints) {
    torch::NoGradGuard no_grad;
    logits = model.forward(x).cpu();
  }
  const bool classifier = !keypoints && !detector && is_classifier(model, logits);
  const char* where = data.frames.empty() ? "input pixels" : "photo pixels";
  if (keypoints) {
    const KeypointPrediction kp = model_keypoints(model, x);
    const bool depth = kp.z.defined(), world = kp.world.defined();
    for (int64_t i = 0; i < data.size(); ++i) {
      nlohmann::json list = nlohmann::json::array();
      const bool show = i < o.show;
      const torch::Tensor xy = to_photo(data, i, kp.xy[i]);
      if (show)
        say(fmt::format("\n{} ({})\n  {:<16}{:>8}{:>8}{}{:>8}{}", item_name(data, i), where,
                        "keypoint", "x", "y", depth ? fmt::format("{:>8}", "z") : "", "score",
                        world ? fmt::format("{:>9}{:>9}{:>9}", "world x", "y", "z (m)") : ""));
      std::vector<std::string> labels;
      for (int64_t k = 0; k < kp.xy.size(1); ++k) {
        const std::string name =
            k < static_cast<int64_t>(kp.names.size()) ? kp.names[k] : std::to_string(k);
        const float px = xy[k][0].item<float>(), py = xy[k][1].item<float>();
        const float s = kp.score[i][k].item<float>();
        nlohmann::json row = {{"name", name}, {"x", px}, {"y", py}, {"score", s}};
        std::string extra;
        if (depth) {
          row["z"] = kp.z[i][k].item<float>();
          extra = fmt::format("{:>8.1f}", kp.z[i][k].item<float>());
        }
        std::string metric;
        if (world) {
          const auto wv = kp.world[i][k];
          row["world"] = {wv[0].item<float>(), wv[1].item<float>(), wv[2].item<float>()};
          metric = fmt::format("{:>9.3f}{:>9.3f}{:>9.3f}", wv[0].item<float>(), wv[1].item<float>(),
                               wv[2].item<float>());
        }
        if (show)
          say(fmt::format("  {:<16}{:>8.1f}{:>8.1f}{}{:>8.3f}{}", name, px, py, extra, s, metric));
        list.push_back(row);
        if (o.labels) labels.push_back(fmt::format("{} {:.2f}", name, s));
      }
      items.push_back({{"item", item_name(data, i)}, {"keypoints", list}});
      if (!o.draw_dir.empty())
        write_image(o.draw_dir + fmt::format("/keypoints-{}.png", i),
                    draw_skeleton(photo_of(data, i), xy, kp.skeleton, {0.1, 1.0, 0.1},
                                  data.frames.empty() ? 3 : 1, labels));
    }
  } else if (detector) {
    const auto found = tfjs->detect(x, o.min_score);
    for (int64_t i = 0; i < data.size(); ++i) {
      nlohmann::json list = nlohmann::json::array();
      std::vector<LabelledBox> boxes;
      if (i < o.show)
        say(fmt::format("\n{}: {} objects ({})", item_name(data, i), found[i].size(), where));
      for (const auto& d : found[i]) {
        const auto corners =
            to_photo(data, i, torch::tensor({d.x1, d.y1, d.x2, d.y2}).view({2, 2}));
        const float x1 = corners[0][0].item<float>(), y1 = corners[0][1].item<float>();
        const float x2 = corners[1][0].item<float>(), y2 = corners[1][1].item<float>();
        if (i < o.show)
          say(fmt::format("  {:<16}{:>6.1f}%  box {:.0f},{:.0f} - {:.0f},{:.0f}", d.name,
                          100 * d.score, x1, y1, x2, y2));
        list.push_back(
            {{"class", d.cls}, {"name", d.name}, {"score", d.score}, {"box", {x1, y1, x2, y2}}});
        boxes.push_back({x1, y1, x2, y2, fmt::format("{} {:.0f}%", d.name, 100 * d.score),
                         static_cast<int>(d.cls)});
      }
      items.push_back({{"item", item_name(data, i)}, {"detections", list}});
      if (!o.crops_dir.empty()) {
        const torch::Tensor photo = photo_of(data, i);
        const std::string stem = data.frames.empty()
                                     ? std::string("item")
                                     : std::filesystem::path(data.frames[i].path).stem().string();
        for (size_t k = 0; k < boxes.size(); ++k, ++r.crops)
          write_image(
              o.crops_dir + fmt::format("/{:04d}-{}-{}-{}.png", i, stem, found[i][k].name, k),
              square_crop(photo, boxes[k].x1, boxes[k].y1, boxes[k].x2, boxes[k].y2));
      }
      if (!o.draw_dir.empty())
        write_image(o.draw_dir + fmt::format("/detections-{}.png", i),
                    draw_boxes(photo_of(data, i), boxes));
    }
  } else if (classifier) {
    const torch::Tensor prob = torch::softmax(logits, 1);
    const int64_t k = std::min<int64_t>(o.top, prob.size(1));
    const auto [p, idx] = prob.topk(k, 1);
    const auto& names = model.info().class_names;
    for (int64_t i = 0; i < data.size(); ++i) {
      nlohmann::json list = nlohmann::json::array();
      std::vector<std::string> shown;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t cls = idx[i][j].item<int64_t>();
        const std::string name =
            cls < static_cast<int64_t>(names.size()) ? names[cls] : std::to_string(cls);
        list.push_back({{"class", cls}, {"name", name}, {"probability", p[i][j].item<float>()}});
        shown.push_back(fmt::format("{} {:.1f}%", name, 100 * p[i][j].item<float>()));
      }
      if (i < o.show) say(fmt::format("{}: {}", item_name(data, i), fmt::join(shown, ", ")));
      items.push_back({{"item", item_name(data, i)}, {"top", list}});
    }
  }
  // Raw outputs: printed for models that are neither classifiers nor keypoint models.
  nlohmann::json& raw = r.outputs;
  raw = nlohmann::json::object();
  const auto outputs = raw_outputs(model, x);
  for (const auto& [name, value] : outputs) {
    raw[name] = tensor_json(value);
    if (!keypoints && !classifier && !detector) {
      const auto flat = value[0].flatten();
      const int64_t n = std::min<int64_t>(flat.numel(), 8);
      std::vector<std::string> first;
      for (int64_t j = 0; j < n; ++j) first.push_back(fmt::format("{:.4g}", flat[j].item<float>()));
      say(fmt::format("{} [{}]: {}{}", name, fmt::join(value.sizes(), "x"), fmt::join(first, " "),
                      flat.numel() > n ? " ..." : ""));
    }
  }
  r.results = {{"model", model.info().name},
               {"backend", model.info().backend},
               {"data", data.source},
               {"coordinates", where},
               {"task", tfjs         ? tfjs->meta().task
                        : keypoints  ? "keypoints"
                        : classifier ? "classifier"
                                     : "generic"},
               {"items", items}};
  r.kind = keypoints ? "keypoints" : detector ? "detector" : classifier ? "classifier" : "generic";
  return r;
}

}  // namespace foil
