#pragma once
/// @file
/// GraphModel: the differentiable Model over foil's graph executor (foil/graph/graph.h), which
/// both importers feed: TensorFlow.js models (`model.json` + `.bin` shards, read in
/// src/models/tfjs_graph.cpp and tfjs_layers.cpp) and ONNX models (`.onnx`, src/models/onnx.cpp).
/// Its metadata (src/models/graph_meta.cpp) and its task decoders for detectors and keypoint
/// models (src/models/graph_decode.cpp) serve both.
///
/// ONNX files (default domain, opsets 7 to 18; weights inside the file or in external data
/// files next to it) are read into the same graph and executor: values stay N×C×H×W, every
/// node output is a tap by its ONNX value name, operators whose semantics coincide with a
/// TensorFlow op share its kernel, and `<model>.onnx.foil.json` may supply the metadata.
///
/// The importer reads the graph-model format (modelTopology.node: op, inputs, attributes;
/// weightsManifest: names, shapes, dtypes, quantisation) and runs the graph on LibTorch ops,
/// so gradients flow to the input. Keras layers models (modelTopology.model_config) are
/// translated layer by layer into the same TensorFlow ops; each layer is a tap by its name. Tensors
/// keep TensorFlow's layout (NHWC) inside the graph; convolutions run on NHWC data viewed as
/// channels-last NCHW, without copies.
///
/// Every node output is a tap by its node name (`name:1` for a second output). 4-D taps are
/// returned as N×C×H×W views like every other foil model; the rest keep the graph's shape.
///
/// `GraphModel` takes foil's pixels (N×C×H×W in [0,1]) and converts them to the model's own
/// input convention (scale/offset, NHWC, int32 inputs rounded with a straight-through
/// gradient) as its metadata says. The metadata of the `@vladmandic/human` models is built in;
/// any other graph model gets defaults from its input placeholder and signature, which a
/// sidecar `<model>.foil.json` may override.
///
/// Example:
///   GraphModel emotion("models/emotion.json");
///   auto logits = emotion.forward(faces);      // N×7, before the final Softmax
///   GraphModel movenet("models/movenet-lightning.json");
///   auto heatmaps = movenet.forward(people, {"StatefulPartitionedCall/Sigmoid"}).taps;
///   GraphModel selfie("models/selfie.json");
///   auto masks = selfie.forward(people).argmax(1);  // N×256×256: 1 = person

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "foil/graph/graph.h"
#include "foil/models/model.h"

namespace foil {

/// What a graph model takes and what its outputs mean.
struct GraphMeta {
  /// classifier, keypoints, score, detection, segmentation (the Model output: N×classes×H×W
  /// logits per pixel, taken before a final Sigmoid or Softmax), landmarks, ...
  std::string task = "generic";
  std::string description;           ///< what the model is, for reports
  double scale = 1.0;                ///< model input = pixels in [0,1] × scale + offset
  double offset = 0.0;               ///< see scale
  std::vector<std::string> outputs;  ///< output nodes; the first is the Model output
  /// Classifiers whose output node is a Softmax: the Model output is its input (logits).
  bool logits_before_softmax = true;
  std::vector<std::string> class_names;       ///< classifier classes or keypoint names
  std::string heatmap_tap;                    ///< keypoint models: the heatmap node
  std::vector<std::pair<int, int>> skeleton;  ///< keypoint models: limbs to draw
  /// How outputs decode: keypoints "movenet" (N×1×K×(y,x,score)), "blazepose" (N×K·5 rows
  /// x,y,z,visibility,presence + N×K·3 metric world x,y,z), "heatmap" (peak of each
  /// channel), "posenet" (heatmap peak + offsets); detections "centernet" (N×100×(x1,y1,
  /// x2,y2,score,class) in input pixels), "nanodet" (per-stride class scores + 4×11-bin
  /// distance distributions).
  std::string decode;
  /// Detectors: the per-location class-score maps. The Model output is their image-level
  /// maximum per class, taken before the final sigmoid (N×classes logits).
  std::vector<std::string> class_maps;
  double min_score = 0.3;  ///< detectors: the score a detection needs to count
  bool bgr = false;        ///< the model takes channels in B, G, R order
  /// Classifiers with one output p in [0,1] (the probability of class 1): the Model output
  /// is the two logits (log(1-p), log p).
  bool probability_output = false;
  bool letterbox = false;  ///< photos keep their aspect ratio (padded), as the model's own
                           ///< pre-processing does
};

/// One detected object, in the model input's pixels.
struct Detection {
  int64_t cls = 0;   ///< class index
  std::string name;  ///< class name
  float score = 0;   ///< detection score in [0,1]
  float x1 = 0;      ///< left
  float y1 = 0;      ///< top
  float x2 = 0;      ///< right
  float y2 = 0;      ///< bottom
};

/// Keypoints decoded by a model's own rule, in the model input's pixels.
struct DecodedKeypoints {
  torch::Tensor xy;     ///< N×K×2
  torch::Tensor score;  ///< N×K
  torch::Tensor z;      ///< N×K depth (BlazePose: same scale as x), undefined otherwise
  torch::Tensor world;  ///< N×K×3 metric coordinates (BlazePose), undefined otherwise
};

/// A graph model (TensorFlow.js or ONNX, read into foil's Graph) behind foil's Model interface.
class GraphModel : public Model {
 public:
  /// Loads `model_json` (a TF.js model.json; ONNX files come through load_model) and its
  /// metadata (`graph_meta_for`); throws InputError.
  explicit GraphModel(const std::string& model_json);
  ~GraphModel() override;
  std::vector<std::string> layer_names() const override;
  void to(c10::Device device) override;

  /// What the model takes and what its outputs mean.
  const GraphMeta& meta() const { return meta_; }
  /// The graph itself.
  const Graph& graph() const { return graph_; }
  /// Pixels (N×C×H×W in [0,1]) to the model's own input (NHWC, scaled, int32 rounded).
  torch::Tensor model_input(const torch::Tensor& pixels) const;
  /// Every output named by the metadata, in TensorFlow layout, for pixels in [0,1].
  std::vector<torch::Tensor> outputs(const torch::Tensor& pixels) const;
  /// Detectors: the objects of each image scoring at least `min_score` (< 0: the model's
  /// own threshold), after non-maximum suppression, best first.
  std::vector<std::vector<Detection>> detect(const torch::Tensor& pixels,
                                             double min_score = -1) const;
  /// Detectors: the class logits at every location of every class map, N×locations×classes
  /// (maps that hold probabilities, as NanoDet's, as their logits), differentiable in
  /// `pixels` (what TOG-style attacks lower).
  torch::Tensor class_logits(const torch::Tensor& pixels) const;
  /// Keypoint models: the keypoints by the model's own decode (no gradient).
  DecodedKeypoints keypoints(const torch::Tensor& pixels) const;
  /// Detectors: the nodes of the class-score head, from each class map back to and including
  /// the convolution that computes it (its values are the class scores themselves, which
  /// Grad-CAM's default layer must not be).
  const std::set<std::string>& class_head_nodes() const { return class_head_; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;
  TapOutputs run_scaled(const torch::Tensor& x, const std::vector<std::string>& taps,
                        const LayerScale& edit) override;

 private:
  /// The first `heads` of `values` (class maps) as N×locations×classes, checked against the
  /// metadata's class count (InputError naming the map).
  torch::Tensor location_scores(const std::vector<torch::Tensor>& values, size_t heads) const;
  /// Segmenters: the output node's value as N×classes×H×W logits (one sigmoid channel as the
  /// two classes' logits (0, z)), checked against the metadata's class count.
  torch::Tensor pixel_logits(const torch::Tensor& value) const;
  /// `run` with the graph's `scales` (see `Graph::execute`).
  TapOutputs run_graph(const torch::Tensor& x, const std::vector<std::string>& taps,
                       const std::map<std::string, torch::Tensor>& scales);
  /// Runs the graph one batch (or one sample, for graphs with a fixed batch of 1; a scale
  /// with a row per image is sliced with it).
  std::vector<torch::Tensor> execute(const torch::Tensor& pixels,
                                     const std::vector<std::string>& nodes,
                                     size_t first_nchw = static_cast<size_t>(-1),
                                     const std::map<std::string, torch::Tensor>& scales = {}) const;

  Graph graph_;
  GraphMeta meta_;
  std::string output_node_;
  std::vector<std::string> class_logits_;  ///< detectors: class maps before their sigmoid
  bool probability_maps_ = false;          ///< the class maps are after their sigmoid (NanoDet)
  bool sigmoid_mask_ = false;              ///< segmenters: one channel, the probability of class 1
  std::set<std::string> class_head_;
  bool nchw_input_ = false;  ///< the graph takes N×C×H×W (nanodet)
};

/// Metadata for a graph model file: built-in for the `@vladmandic/human` models (by file
/// name), else derived from the graph, then overridden by `<model>.foil.json` if present.
GraphMeta graph_meta_for(const std::string& model_json, const Graph& graph);

}  // namespace foil
