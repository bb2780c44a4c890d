// foil predict: what a model sees - top classes, decoded keypoints, or its raw outputs.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/keypoints/kaa.h"
#include "foil/models/tfjs.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct PredictCmd {
  ModelFlags model;
  std::string data, json, draw, crops;
  bool labels = false;  ///< keypoint names and scores on the drawings
  int64_t top = 3, show = 10;
  double min_score = -1;
};

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
  if (const auto* t = dynamic_cast<const TfjsModel*>(&model)) {
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
  if (const auto* t = dynamic_cast<const TfjsModel*>(&model)) return t->meta().task == "classifier";
  return output.dim() == 2 && output.size(1) > 1;
}

std::string item_name(const Dataset& data, int64_t i) {
  return data.size() == 1 ? data.source : fmt::format("{}[{}]", data.source, i);
}

void run_predict(const PredictCmd& c) {
  const c10::Device device = apply_global_options();
  check_writable(c.json, "--json");
  std::unique_ptr<ResultsFolder> draw;
  if (!c.draw.empty()) draw = std::make_unique<ResultsFolder>(c.draw, "--draw");
  std::unique_ptr<ResultsFolder> crops;
  if (!c.crops.empty()) crops = std::make_unique<ResultsFolder>(c.crops, "--crops", false, false);
  int64_t cropped = 0;
  auto model = open_model(c.model, device);
  const bool keypoints = is_keypoint_model(*model);
  const auto* tfjs = dynamic_cast<const TfjsModel*>(model.get());
  const bool detector = tfjs && tfjs->meta().task == "detection";
  check_input(!draw || keypoints || detector, "--draw",
              "a keypoint model or a detector (it draws skeletons or boxes)",
              model->info().name + ", which is neither");
  check_input(!crops || detector, "--crops", "a detector (it crops the detected objects)",
              model->info().name + ", which is not one");
  check_input(c.min_score < 0 || detector, "--min-score", "a detector",
              model->info().name + ", which is not one");
  Dataset data;
  if (c.data.rfind("pose:", 0) == 0) {  // the synthetic figures of 'foil keypoints'
    const PoseData pose = load_pose_data(c.data);
    data.images = pose.images;
    data.source = pose.source;
  } else {
    data = load_data(c.data, model->info().input);
  }
  check_input(data.size() > 0, "--data " + c.data, "at least one image", "none");
  probe_model(*model, data.images, c.data);
  const torch::Tensor x = data.images.to(device);
  fmt::print("model  {} ({}{})\ndata   {} ({} images, {})\n", model->info().name,
             model->info().backend, tfjs ? ", " + tfjs->meta().description : std::string(),
             data.source, data.size(), model->info().input.str());

  nlohmann::json items = nlohmann::json::array();
  torch::Tensor logits;
  if (!keypoints) {
    torch::NoGradGuard no_grad;
    logits = model->forward(x).cpu();
  }
  const bool classifier = !keypoints && !detector && is_classifier(*model, logits);
  const char* where = data.frames.empty() ? "input pixels" : "photo pixels";
  if (keypoints) {
    const KeypointPrediction kp = model_keypoints(*model, x);
    const bool depth = kp.z.defined(), world = kp.world.defined();
    for (int64_t i = 0; i < data.size(); ++i) {
      nlohmann::json list = nlohmann::json::array();
      const bool show = i < c.show;
      const torch::Tensor xy = to_photo(data, i, kp.xy[i]);
      if (show)
        fmt::print("\n{} ({})\n  {:<16}{:>8}{:>8}{}{:>8}{}\n", item_name(data, i), where,
                   "keypoint", "x", "y", depth ? fmt::format("{:>8}", "z") : "", "score",
                   world ? fmt::format("{:>9}{:>9}{:>9}", "world x", "y", "z (m)") : "");
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
          fmt::print("  {:<16}{:>8.1f}{:>8.1f}{}{:>8.3f}{}\n", name, px, py, extra, s, metric);
        list.push_back(row);
        if (c.labels) labels.push_back(fmt::format("{} {:.2f}", name, s));
      }
      items.push_back({{"item", item_name(data, i)}, {"keypoints", list}});
      if (draw) {
        const std::string png = fmt::format("keypoints-{}.png", i);
        write_image(draw->file(png),
                    draw_skeleton(photo_of(data, i), xy, kp.skeleton, {0.1, 1.0, 0.1},
                                  data.frames.empty() ? 3 : 1, labels));
      }
    }
  } else if (detector) {
    const auto found = tfjs->detect(x, c.min_score);
    for (int64_t i = 0; i < data.size(); ++i) {
      nlohmann::json list = nlohmann::json::array();
      std::vector<LabelledBox> boxes;
      if (i < c.show)
        fmt::print("\n{}: {} objects ({})\n", item_name(data, i), found[i].size(), where);
      for (const auto& d : found[i]) {
        const auto corners =
            to_photo(data, i, torch::tensor({d.x1, d.y1, d.x2, d.y2}).view({2, 2}));
        const float x1 = corners[0][0].item<float>(), y1 = corners[0][1].item<float>();
        const float x2 = corners[1][0].item<float>(), y2 = corners[1][1].item<float>();
        if (i < c.show)
          fmt::print("  {:<16}{:>6.1f}%  box {:.0f},{:.0f} - {:.0f},{:.0f}\n", d.name,
                     100 * d.score, x1, y1, x2, y2);
        list.push_back(
            {{"class", d.cls}, {"name", d.name}, {"score", d.score}, {"box", {x1, y1, x2, y2}}});
        boxes.push_back({x1, y1, x2, y2, fmt::format("{} {:.0f}%", d.name, 100 * d.score),
                         static_cast<int>(d.cls)});
      }
      items.push_back({{"item", item_name(data, i)}, {"detections", list}});
      if (crops) {
        const torch::Tensor photo = photo_of(data, i);
        const std::string stem = data.frames.empty()
                                     ? std::string("item")
                                     : std::filesystem::path(data.frames[i].path).stem().string();
        for (size_t k = 0; k < boxes.size(); ++k, ++cropped)
          write_image(crops->file(fmt::format("{:04d}-{}-{}-{}.png", i, stem, found[i][k].name, k)),
                      square_crop(photo, boxes[k].x1, boxes[k].y1, boxes[k].x2, boxes[k].y2));
      }
      if (draw)
        write_image(draw->file(fmt::format("detections-{}.png", i)),
                    draw_boxes(photo_of(data, i), boxes));
    }
  } else if (classifier) {
    const torch::Tensor prob = torch::softmax(logits, 1);
    const int64_t k = std::min<int64_t>(c.top, prob.size(1));
    const auto [p, idx] = prob.topk(k, 1);
    const auto& names = model->info().class_names;
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
      if (i < c.show) fmt::print("{}: {}\n", item_name(data, i), fmt::join(shown, ", "));
      items.push_back({{"item", item_name(data, i)}, {"top", list}});
    }
  }
  // Raw outputs: printed for models that are neither classifiers nor keypoint models.
  nlohmann::json raw = nlohmann::json::object();
  const auto outputs = raw_outputs(*model, x);
  for (const auto& [name, value] : outputs) {
    raw[name] = tensor_json(value);
    if (!keypoints && !classifier && !detector) {
      const auto flat = value[0].flatten();
      const int64_t n = std::min<int64_t>(flat.numel(), 8);
      std::vector<std::string> first;
      for (int64_t j = 0; j < n; ++j) first.push_back(fmt::format("{:.4g}", flat[j].item<float>()));
      fmt::print("{} [{}]: {}{}\n", name, fmt::join(value.sizes(), "x"), fmt::join(first, " "),
                 flat.numel() > n ? " ..." : "");
    }
  }
  nlohmann::json results = {{"model", model->info().name},
                            {"backend", model->info().backend},
                            {"data", data.source},
                            {"coordinates", where},
                            {"task", tfjs         ? tfjs->meta().task
                                     : keypoints  ? "keypoints"
                                     : classifier ? "classifier"
                                                  : "generic"},
                            {"items", items}};
  if (draw) {
    write_json(draw->file("predictions.json"), results);
    draw->commit();
    fmt::print("wrote {} {} images, predictions.json and report.html to {}\n", data.size(),
               keypoints ? "skeleton" : "detection", c.draw);
  }
  if (crops) {
    crops->commit();
    fmt::print("wrote {} crops to {}\n", cropped, c.crops);
  }
  if (data.size() > c.show && (keypoints || classifier || detector))
    fmt::print("({} more in --json)\n", data.size() - c.show);
  if (!c.json.empty()) {
    results["outputs"] = raw;
    write_json(c.json, results);
    fmt::print("wrote {}\n", c.json);
  }
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto c = std::make_shared<PredictCmd>();
  auto* sub = app.add_subcommand(
      "predict",
      "what a model sees: top classes, detected objects, decoded 2-D/3-D keypoints or raw outputs");
  add_model_flags(sub, c->model, true);
  sub->add_option("--data", c->data,
                  "images: a file (photo.jpg, photo.jpg@X,Y,W,H), a folder, "
                  "fashion-mnist:test[:N], pose:test[:N]")
      ->required();
  sub->add_option("--json", c->json, "write predictions and the raw output tensors here");
  sub->add_option("--draw", c->draw,
                  "keypoint models and detectors: write skeleton or labelled-box PNGs of each "
                  "photo at its own resolution into this folder");
  sub->add_flag("--labels", c->labels, "--draw: write each keypoint's name and score beside it");
  sub->add_option("--crops", c->crops,
                  "detectors: write each detection as a PNG into this folder (the square around "
                  "its box, a fifth larger, from the photo at its own resolution), e.g. faces "
                  "found by blazeface for the face classifiers");
  sub->add_option("--min-score", c->min_score,
                  "detectors: the score a detection needs (default: the model's own, 0.3)")
      ->check(number_in(0, 1));
  sub->add_option("--top", c->top, "classes to show per image")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  sub->add_option("--show", c->show, "images to print (all go to --json)")
      ->check(integer_in(0, INT64_MAX))
      ->capture_default_str();
  sub->callback([c] { run_predict(*c); });
}

}  // namespace foil::cli
