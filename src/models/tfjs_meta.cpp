// Metadata of TensorFlow.js graph models: what their input scaling is and what their outputs
// mean. The @vladmandic/human models' conventions are taken from human's own pre-processing
// (src/face/*.ts, src/gear/emotion.ts, src/body/movenet.ts, src/hand/handtrack.ts in 3.3.6).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/models/tfjs.h"

namespace foil {
namespace {

const std::vector<std::string> kCocoKeypoints = {
    "nose",           "left_eye",   "right_eye",   "left_ear",   "right_ear",   "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip",      "left_knee",  "right_knee",  "left_ankle", "right_ankle"};

const std::vector<std::pair<int, int>> kCocoSkeleton = {
    {0, 1},  {0, 2},  {1, 3},  {2, 4},   {5, 6},   {5, 7},   {7, 9},   {6, 8},
    {8, 10}, {5, 11}, {6, 12}, {11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16}};

TfjsMeta make(std::string task, std::string description, double scale, double offset,
              std::vector<std::string> outputs, std::vector<std::string> names = {}) {
  TfjsMeta m;
  m.task = std::move(task);
  m.description = std::move(description);
  m.scale = scale;
  m.offset = offset;
  m.outputs = std::move(outputs);
  m.class_names = std::move(names);
  return m;
}

const std::map<std::string, TfjsMeta>& builtin() {
  static const std::map<std::string, TfjsMeta> table = [] {
    std::map<std::string, TfjsMeta> t;
    auto movenet = make("keypoints",
                        "MoveNet lightning: 17 COCO body keypoints as (y, x, score), y and x in "
                        "[0,1] of the input; int32 RGB input 0..255",
                        255, 0, {"Identity:0"}, kCocoKeypoints);
    movenet.heatmap_tap = "StatefulPartitionedCall/Sigmoid";
    movenet.skeleton = kCocoSkeleton;
    t["movenet-lightning"] = movenet;
    t["emotion"] =
        make("classifier", "face expression (oarriaga); grayscale input scaled to [-1,1]", 2, -1,
             {"Identity:0"}, {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"});
    t["antispoof"] = make("score", "anti-spoofing: probability that the face crop is real", 1, 0,
                          {"Identity:0"}, {"real"});
    t["liveness"] = make("classifier", "liveness: live vs not-live face crop", 1, 0, {"Identity:0"},
                         {"live", "not-live"});
    t["blazeface"] = make("detector",
                          "BlazeFace: 896 anchors, box + 6 landmark regressors and scores; "
                          "input scaled to [-1,1]",
                          2, -1, {"Identity_3:0", "Identity:0", "Identity_1:0", "Identity_2:0"});
    t["facemesh"] = make("landmarks", "face mesh: 468 (x,y,z) landmarks, face flag, contours", 1, 0,
                         {"Identity_2:0", "Identity_1:0", "Identity:0"});
    t["iris"] = make("landmarks", "iris: eye contour and iris landmarks", 1, 0, {"Identity:0"});
    t["handlandmark-lite"] =
        make("landmarks", "hand landmarks: 21 (x,y,z) keypoints, hand score, handedness", 1, 0,
             {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"});
    t["faceres"] =
        make("embedding",
             "face description: 1024-d descriptor, gender (sigmoid, >0.5 = male), "
             "age (softmax over 0..99); input 0..255",
             255, 0, {"global_pooling/Mean", "gender_pred/Sigmoid:0", "age_pred/Softmax:0"});
    return t;
  }();
  return table;
}

/// Applies the keys present in a `<model>.foil.json` sidecar.
void apply_sidecar(const std::string& path, TfjsMeta& m) {
  std::ifstream in(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    m.task = j.value("task", m.task);
    m.description = j.value("description", m.description);
    m.scale = j.value("scale", m.scale);
    m.offset = j.value("offset", m.offset);
    m.outputs = j.value("outputs", m.outputs);
    m.class_names = j.value("class_names", m.class_names);
    m.heatmap_tap = j.value("heatmap_tap", m.heatmap_tap);
    m.logits_before_softmax = j.value("logits_before_softmax", m.logits_before_softmax);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a valid model metadata file (" + first_line(e.what()) + ")");
  }
}

}  // namespace

TfjsMeta tfjs_meta_for(const std::string& model_json, const TfjsGraph& graph) {
  const std::filesystem::path p(model_json);
  const std::string stem = p.stem().string();
  auto it = builtin().find(stem);
  TfjsMeta m = it != builtin().end() ? it->second : TfjsMeta{};
  if (it == builtin().end()) {
    m.description = "TensorFlow.js graph model (no metadata: input taken as pixels in [0,1])";
    m.outputs = graph.signature_outputs();
  }
  const auto sidecar = (p.parent_path() / (stem + ".foil.json")).string();
  if (std::filesystem::is_regular_file(sidecar)) apply_sidecar(sidecar, m);
  for (const auto& o : m.outputs)
    if (graph.op_of(o).empty())
      throw InputError(fmt::format("{}: output '{}' is not a node of the graph", model_json, o));
  return m;
}

}  // namespace foil
