// Metadata of TensorFlow.js graph models: what their input scaling is and what their outputs
// mean. The @vladmandic/human models' conventions are taken from human's own pre-processing
// (src/face/*.ts, src/gear/emotion.ts, src/body/movenet.ts, src/hand/handtrack.ts in 3.3.6).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"

namespace foil {
namespace {

const std::vector<std::string> kCocoKeypoints = {
    "nose",           "left_eye",   "right_eye",   "left_ear",   "right_ear",   "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip",      "left_knee",  "right_knee",  "left_ankle", "right_ankle"};

const std::vector<std::pair<int, int>> kCocoSkeleton = {
    {0, 1},  {0, 2},  {1, 3},  {2, 4},   {5, 6},   {5, 7},   {7, 9},   {6, 8},
    {8, 10}, {5, 11}, {6, 12}, {11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16}};

const std::vector<std::string> kCoco80 = {
    "person",        "bicycle",       "car",           "motorbike",
    "aeroplane",     "bus",           "train",         "truck",
    "boat",          "traffic light", "fire hydrant",  "stop sign",
    "parking meter", "bench",         "bird",          "cat",
    "dog",           "horse",         "sheep",         "cow",
    "elephant",      "bear",          "zebra",         "giraffe",
    "backpack",      "umbrella",      "handbag",       "tie",
    "suitcase",      "frisbee",       "skis",          "snowboard",
    "sports ball",   "kite",          "baseball bat",  "baseball glove",
    "skateboard",    "surfboard",     "tennis racket", "bottle",
    "wine glass",    "cup",           "fork",          "knife",
    "spoon",         "bowl",          "banana",        "apple",
    "sandwich",      "orange",        "broccoli",      "carrot",
    "hot dog",       "pizza",         "donut",         "cake",
    "chair",         "sofa",          "pottedplant",   "bed",
    "diningtable",   "toilet",        "tvmonitor",     "laptop",
    "mouse",         "remote",        "keyboard",      "cell phone",
    "microwave",     "oven",          "toaster",       "sink",
    "refrigerator",  "book",          "clock",         "vase",
    "scissors",      "teddy bear",    "hair drier",    "toothbrush"};

const std::vector<std::string> kBlazePoseKeypoints = {
    "nose",       "leftEyeInside",   "leftEye",       "leftEyeOutside", "rightEyeInside",
    "rightEye",   "rightEyeOutside", "leftEar",       "rightEar",       "leftMouth",
    "rightMouth", "leftShoulder",    "rightShoulder", "leftElbow",      "rightElbow",
    "leftWrist",  "rightWrist",      "leftPinky",     "rightPinky",     "leftIndex",
    "rightIndex", "leftThumb",       "rightThumb",    "leftHip",        "rightHip",
    "leftKnee",   "rightKnee",       "leftAnkle",     "rightAnkle",     "leftHeel",
    "rightHeel",  "leftFoot",        "rightFoot",     "bodyCenter",     "bodyTop",
    "leftPalm",   "leftHand",        "rightPalm",     "rightHand"};

const std::vector<std::pair<int, int>> kBlazePoseSkeleton = {
    {0, 2},   {0, 5},   {2, 7},   {5, 8},   {9, 10},  {11, 12}, {11, 13}, {13, 15},
    {11, 23}, {23, 24}, {23, 25}, {25, 27}, {27, 29}, {29, 31}, {12, 14}, {14, 16},
    {12, 24}, {24, 26}, {26, 28}, {28, 30}, {30, 32}, {15, 35}, {16, 37}};

const std::vector<std::string> kEfficientPoseKeypoints = {
    "head",         "neck",      "rightShoulder", "rightElbow", "rightWrist", "chest",
    "leftShoulder", "leftElbow", "leftWrist",     "bodyCenter", "rightHip",   "rightKnee",
    "rightAnkle",   "leftHip",   "leftKnee",      "leftAnkle"};

const std::vector<std::pair<int, int>> kEfficientPoseSkeleton = {
    {0, 1}, {1, 2},  {2, 3},   {3, 4},   {1, 6},  {6, 7},   {7, 8},  {1, 5},
    {5, 9}, {9, 10}, {10, 11}, {11, 12}, {9, 13}, {13, 14}, {14, 15}};

GraphMeta make(std::string task, std::string description, double scale, double offset,
               std::vector<std::string> outputs, std::vector<std::string> names = {}) {
  GraphMeta m;
  m.task = std::move(task);
  m.description = std::move(description);
  m.scale = scale;
  m.offset = offset;
  m.outputs = std::move(outputs);
  m.class_names = std::move(names);
  return m;
}

const std::map<std::string, GraphMeta>& builtin() {
  static const std::map<std::string, GraphMeta> table = [] {
    std::map<std::string, GraphMeta> t;
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
    auto blazeface =
        make("detection",
             "BlazeFace (back camera): face boxes from 896 anchors (16x16x2 at stride "
             "16, 8x8x6 at stride 32), box + 6 landmark regressors and scores; "
             "input scaled to [-1,1]",
             2, -1, {"Identity_3:0", "Identity:0", "Identity_1:0", "Identity_2:0"}, {"face"});
    blazeface.decode = "blazeface";
    blazeface.class_maps = {"Identity:0", "Identity_1:0"};  // score logits per anchor
    blazeface.min_score = 0.2;                              // human's face.detector.minConfidence
    t["blazeface"] = blazeface;
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
    auto thunder = movenet;
    thunder.description =
        "MoveNet thunder: 17 COCO body keypoints as (y, x, score), y and x in [0,1] of the "
        "input; int32 RGB input 0..255";
    t["movenet-thunder"] = thunder;
    for (const char* name : {"blazepose-lite", "blazepose-full", "blazepose-heavy"}) {
      auto b = make("keypoints",
                    fmt::format("BlazePose {}: 39 body landmarks in 3-D (x, y in input pixels, "
                                "z depth, visibility, presence) and metric world coordinates; "
                                "RGB input in [0,1], padded to a square",
                                std::string(name).substr(10)),
                    1, 0, {"Identity_2:0", "Identity_4:0", "Identity_3:0", "Identity:0"},
                    kBlazePoseKeypoints);
      b.decode = "blazepose";
      b.heatmap_tap = "Identity";
      b.skeleton = kBlazePoseSkeleton;
      b.letterbox = true;
      t[name] = b;
    }
    auto posenet = make(
        "keypoints",
        "PoseNet (MobileNetV1, output stride 16): 17 COCO keypoints from heatmaps "
        "and offsets; input scaled to [-1,1]",
        2, -1,
        {"MobilenetV1/heatmap_2/BiasAdd:0", "MobilenetV1/offset_2/BiasAdd:0",
         "MobilenetV1/displacement_fwd_2/BiasAdd:0", "MobilenetV1/displacement_bwd_2/BiasAdd:0"},
        kCocoKeypoints);
    posenet.decode = "posenet";
    posenet.heatmap_tap = "MobilenetV1/heatmap_2/BiasAdd";
    posenet.skeleton = kCocoSkeleton;
    t["posenet"] = posenet;
    auto efficientpose = make("keypoints",
                              "EfficientPose: 16 body keypoints from upscaled confidence maps; "
                              "input scaled to [-1,1]",
                              2, -1, {"upscaled_confs/BiasAdd:0"}, kEfficientPoseKeypoints);
    efficientpose.decode = "heatmap";
    efficientpose.heatmap_tap = "upscaled_confs/BiasAdd";
    efficientpose.skeleton = kEfficientPoseSkeleton;
    t["efficientpose"] = efficientpose;
    auto centernet =
        make("detection",
             "CenterNet (MobileNetV3): 80 COCO classes, 128x128 class heatmaps and "
             "box sizes, decoded to 100 boxes; RGB input 0..255",
             255, 0, {"tower_0/detections", "tower_0/keypoints", "tower_0/wh"}, kCoco80);
    centernet.decode = "centernet";
    centernet.class_maps = {"tower_0/keypoints"};
    t["centernet"] = centernet;
    auto nanodet = make("detection",
                        "NanoDet: 80 COCO classes scored at strides 8, 16 and 32 with 4x11-bin "
                        "box distance distributions; channels-first RGB input in [0,1]",
                        1, 0,
                        {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0",
                         "Identity_4:0", "Identity_5:0"},
                        kCoco80);
    nanodet.decode = "nanodet";
    nanodet.class_maps = {"Identity:0", "Identity_1:0", "Identity_2:0"};
    t["nanodet"] = nanodet;
    t["gender"] =
        make("classifier", "gender (mini-Xception, oarriaga): grayscale face scaled to [-1,1]", 2,
             -1, {"Identity:0"}, {"female", "male"});
    // SSR-Net as trained (shamangary/SSR-Net): BGR faces 0..255 (OpenCV's order). human's own
    // pre-processing ([-1,1], RGB) calls every face tried here male.
    auto ssrnet = make("classifier",
                       "gender (SSR-Net, IMDB): one output, the probability of male; BGR face "
                       "0..255",
                       255, 0, {"Identity:0"}, {"female", "male"});
    ssrnet.bgr = true;
    ssrnet.probability_output = true;
    t["gender-ssrnet-imdb"] = ssrnet;
    auto age = make("score", "age in years (SSR-Net regression); BGR face input 0..255", 255, 0,
                    {"Identity:0"}, {"age"});
    age.bgr = true;
    t["age"] = age;
    t["gear"] = make("classifier",
                     "GEAR: gender (the Model output), age in 7 bins and race in 5; RGB face in "
                     "[0,1]",
                     1, 0, {"Identity_1:0", "Identity:0", "Identity_2:0"}, {"male", "female"});
    // MediaPipe's person segmenters as @vladmandic/human 3.3.6 runs them
    // (src/segmentation/selfie.ts, meet.ts): RGB in [0,1] at the model's size.
    t["selfie"] = make("segmentation",
                       "MediaPipe selfie segmentation: the probability of person per pixel, "
                       "256x256 RGB in [0,1]",
                       1, 0, {"activation_10"}, {"background", "person"});
    t["meet"] = make("segmentation",
                     "MediaPipe Meet segmentation: background and person logits per pixel, "
                     "144x256 RGB in [0,1]",
                     1, 0, {"segment"}, {"background", "person"});
    // nsfwjs 4.4.0 (infinitered): one 5-class task, three networks fine-tuned from ImageNet
    // backbones; RGB input in [0,1] (the package divides by 255).
    const std::vector<std::string> nsfw = {"Drawing", "Hentai", "Neutral", "Porn", "Sexy"};
    t["nsfw-mobilenet-v2"] =
        make("classifier", "nsfwjs MobileNetV2 (Keras layers model, 224x224 RGB in [0,1])", 1, 0,
             {"dense_3"}, nsfw);
    t["nsfw-mobilenet-v2-mid"] =
        make("classifier", "nsfwjs MobileNetV2 mid (graph model, 224x224 RGB in [0,1])", 1, 0,
             {"Identity"}, nsfw);
    t["nsfw-inception-v3"] =
        make("classifier", "nsfwjs InceptionV3 (Keras layers model, 299x299 RGB in [0,1])", 1, 0,
             {"dense_3"}, nsfw);
    return t;
  }();
  return table;
}

/// Applies the keys present in a `<model>.foil.json` sidecar.
void apply_sidecar(const std::string& path, GraphMeta& m) {
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
    m.decode = j.value("decode", m.decode);
    m.class_maps = j.value("class_maps", m.class_maps);
    m.min_score = j.value("min_score", m.min_score);
    m.letterbox = j.value("letterbox", m.letterbox);
    m.bgr = j.value("bgr", m.bgr);
    m.probability_output = j.value("probability_output", m.probability_output);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a valid model metadata file (" + first_line(e.what()) + ")");
  }
}

}  // namespace

GraphMeta graph_meta_for(const std::string& model_json, const Graph& graph) {
  const std::filesystem::path p(model_json);
  const std::string stem = p.stem().string();
  const bool onnx = graph.channels_first();
  auto it = onnx ? builtin().end() : builtin().find(stem);
  GraphMeta m = it != builtin().end() ? it->second : GraphMeta{};
  if (it == builtin().end()) {
    m.description = onnx ? graph.description() + " (no metadata: input taken as pixels in [0,1])"
                         : "TensorFlow.js graph model (no metadata: input taken as pixels in "
                           "[0,1])";
    m.outputs = graph.signature_outputs();
    // An ONNX model whose output is N×K: a classifier of K classes.
    if (onnx && graph.first_output_shape().size() == 2) m.task = "classifier";
  }
  // model.json -> model.foil.json; model.onnx -> model.onnx.foil.json
  const auto sidecar =
      (p.parent_path() / ((onnx ? p.filename().string() : stem) + ".foil.json")).string();
  if (std::filesystem::is_regular_file(sidecar)) apply_sidecar(sidecar, m);
  static const std::set<std::string> decoders = {"",        "movenet",   "blazepose", "heatmap",
                                                 "posenet", "centernet", "nanodet",   "blazeface"};
  if (!decoders.count(m.decode))
    throw InputError(
        fmt::format("{}: decode '{}' is not one foil knows (movenet, blazepose, heatmap, posenet, "
                    "centernet, nanodet, blazeface)",
                    model_json, m.decode));
  if (m.task == "keypoints" && m.decode.empty()) m.decode = "movenet";
  for (const auto& o : m.class_maps)
    if (graph.op_of(o).empty())
      throw InputError(fmt::format("{}: class map '{}' is not a node of the graph", model_json, o));
  for (const auto& o : m.outputs)
    if (graph.op_of(o).empty())
      throw InputError(fmt::format("{}: output '{}' is not a node of the graph", model_json, o));
  return m;
}

}  // namespace foil
