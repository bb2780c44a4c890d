// ONNX models against PyTorch: torchvision architectures exported by torch.onnx (fixtures made
// at build time by scripts/make_onnx_fixtures.py) must give PyTorch eager's outputs, input
// gradients and intermediate values; broken files must be refused with one clear line.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/explain/explain.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

namespace fs = std::filesystem;

std::string onnx_fixture(const std::string& name) { return test::fixture("onnx/" + name); }

torch::Tensor reference(const std::string& name) {
  static torch::jit::Module holder = torch::jit::load(onnx_fixture("reference.pt"));
  return holder.attr(name).toTensor();
}

const nlohmann::json& models() {
  static const nlohmann::json j = test::read_json(onnx_fixture("models.json"));
  return j;
}

/// max |a - b| relative to the largest |b|.
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

class OnnxArchitecture : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxArchitecture, OutputsGradientsAndTapsEqualPyTorch) {
  const std::string file = GetParam();
  const auto& entry = models().at(file);
  const std::string ref = entry["reference"];
  auto model = load_model(onnx_fixture(file + ".onnx"));
  EXPECT_EQ(model->info().backend, "onnx");
  const auto* graph = dynamic_cast<const GraphModel*>(model.get());
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(graph->meta().task, entry["task"]);  // N×10 scores, or 21 per pixel (sidecar)
  const torch::Tensor x = reference(ref + "_x");
  ASSERT_GT(reference(ref + "_out").abs().max().item<double>(), 1e-3);  // not a vacuous check
  ASSERT_GT(reference(ref + "_grad").abs().max().item<double>(), 0);

  // Outputs and the input gradient of a fixed weighting of them.
  const torch::Tensor input = x.clone().requires_grad_(true);
  const std::string tap = entry["tap"];
  const auto out = model->forward(input, {tap});
  const double out_err = relative_error(out.output, reference(ref + "_out"));
  EXPECT_LE(out_err, 1e-4) << file;
  const torch::Tensor grad =
      torch::autograd::grad({(out.output * reference(ref + "_w")).sum()}, {input})[0];
  const double grad_err = relative_error(grad, reference(ref + "_grad"));
  EXPECT_LE(grad_err, 1e-3) << file;
  // An intermediate value: the output of a module (forward hook) is the ONNX value it became.
  const double tap_err = relative_error(out.taps.at(tap), reference(ref + "_tap"));
  EXPECT_LE(tap_err, 1e-4) << file << " tap " << tap;
  std::cout << file << ": output " << out_err << ", gradient " << grad_err << ", tap " << tap_err
            << " (max relative differences)\n";
}

INSTANTIATE_TEST_SUITE_P(TorchVision, OnnxArchitecture,
                         ::testing::Values("resnet18", "resnet18_opset11", "resnet18_batch1",
                                           "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
                                           "squeezenet1_1", "shufflenet_v2_x0_5", "densenet121",
                                           "vit_b_16", "lraspp_mobilenet_v3_large", "ops",
                                           "ops_opset12", "ops_opset9"));

TEST(Onnx, FixedBatchOfOneRunsBatchesImageByImage) {
  auto fixed = load_model(onnx_fixture("resnet18_batch1.onnx"));
  auto dynamic = load_model(onnx_fixture("resnet18.onnx"));
  const auto* g = dynamic_cast<const GraphModel*>(fixed.get());
  EXPECT_EQ(g->graph().input_shape()[0], 1);
  EXPECT_EQ(dynamic_cast<const GraphModel*>(dynamic.get())->graph().input_shape()[0], -1);
  const torch::Tensor x = reference("resnet18_x");
  EXPECT_TRUE(torch::allclose(fixed->forward(x), dynamic->forward(x), 1e-5, 1e-6));
}

TEST(Onnx, GradCamDefaultIsTheLastFeatureMapAndMatchesAHookComputation) {
  auto model = load_model(onnx_fixture("resnet18.onnx"));
  const torch::Tensor x = reference("resnet18_x");
  const std::string layer = default_cam_layer(*model, x);
  EXPECT_EQ(layer, models()["resnet18"]["tap"]);  // layer4's output, before the pooling
  // Grad-CAM by hand from the tap, as pytorch-grad-cam computes it.
  const torch::Tensor input = x.clone().requires_grad_(true);
  const auto out = model->forward(input, {layer});
  const torch::Tensor a = out.taps.at(layer);
  const torch::Tensor cls = out.output.argmax(1, true);
  const torch::Tensor g = torch::autograd::grad({out.output.gather(1, cls).sum()}, {a})[0];
  torch::Tensor cam = torch::relu((g.mean({2, 3}, true) * a).sum(1, true));
  cam = torch::upsample_bilinear2d(cam, {x.size(2), x.size(3)}, false).squeeze(1);
  const torch::Tensor map = explain(*model, x, cls.view(-1), ExplainMethod::kGradCam, layer);
  EXPECT_LE(relative_error(map, cam.detach()), 1e-4);
}

TEST(Onnx, GradCamOnAVitTokenLayerMatchesAHookComputation) {
  // The tokens after the class token, on their 2x2 grid (make_onnx_fixtures.py).
  auto model = load_model(onnx_fixture("vit_b_16.onnx"));
  const torch::Tensor x = reference("vit_b_16_x");
  const std::string layer = models()["vit_b_16"]["cam_tap"];
  const torch::Tensor cls = model->forward(x).argmax(1);
  const torch::Tensor map = explain(*model, x, cls, ExplainMethod::kGradCam, layer);
  EXPECT_GT(map.abs().sum().item<double>(), 0);
  EXPECT_LE(relative_error(map, reference("vit_b_16_gradcam")), 1e-4);
  // The default layer is a token layer whose grid tokens the output depends on.
  const std::string picked = default_cam_layer(*model, x);
  EXPECT_EQ(model->forward(x, {picked}).taps.at(picked).dim(), 3) << picked;
}

TEST(Onnx, AblationCamMatchesForwardHooksThatZeroEachChannel) {
  // A spatial layer of resnet18, batched and on the export with a fixed batch of 1 (one image
  // per graph run, each with its own channel scales), and a ViT token layer (channels last).
  for (const std::string file : {"resnet18", "resnet18_batch1", "vit_b_16"}) {
    const std::string name = models()[file]["reference"];
    auto model = load_model(onnx_fixture(file + ".onnx"));
    const torch::Tensor x = reference(name + "_x");
    const std::string layer = models()[name].contains("cam_tap")
                                  ? models()[name]["cam_tap"].get<std::string>()
                                  : models()[file]["tap"].get<std::string>();
    const torch::Tensor cls = model->forward(x).argmax(1);
    ExplainOptions o;
    o.batch = 100;  // not a multiple of the channels: chunks span images
    const torch::Tensor map = explain(*model, x, cls, ExplainMethod::kAblationCam, layer, o);
    const torch::Tensor ref = reference(name + "_ablationcam");
    EXPECT_GT(ref.abs().sum().item<double>(), 0) << file;
    EXPECT_LE(relative_error(map, ref), 1e-4) << file;
  }
}

TEST(Onnx, ExternalDataNextToTheModelIsRead) {
  auto model = load_model(onnx_fixture("tiny.onnx"));
  EXPECT_LE(relative_error(model->forward(reference("tiny_x")), reference("tiny_out")), 1e-5);
}

TEST(Onnx, ChannelsLastInputIsRecognisedFromTheShape) {
  auto model = load_model(onnx_fixture("nhwc.onnx"));
  EXPECT_EQ(model->info().input.channels, 3);
  EXPECT_EQ(model->info().input.height, 16);
  EXPECT_LE(relative_error(model->forward(reference("nhwc_x")), reference("nhwc_out")), 1e-5);
}

TEST(Onnx, SidecarGivesClassNamesAndNormalisation) {
  const std::string dir = test::temp_dir("onnx-sidecar");
  fs::copy_file(onnx_fixture("squeezenet1_1.onnx"), dir + "/squeeze.onnx");
  std::ofstream(dir + "/squeeze.onnx.foil.json")
      << R"({"class_names": ["a","b","c","d","e","f","g","h","i","j"], "scale": 2, "offset": -1,
            "description": "test model"})";
  auto plain = load_model(onnx_fixture("squeezenet1_1.onnx"));
  auto named = load_model(dir + "/squeeze.onnx");
  EXPECT_EQ(named->info().num_classes, 10);
  EXPECT_EQ(named->info().class_names[3], "d");
  const torch::Tensor x = reference("squeezenet1_1_x");
  // scale/offset: the model sees 2x-1, which foil's normalisation mean 0.5, std 0.5 also gives.
  plain->set_normalization({0.5}, {0.5});
  EXPECT_TRUE(torch::allclose(named->forward(x), plain->forward(x), 1e-4, 1e-5));
}

TEST(Onnx, BrokenFilesAreRefusedWithOneLine) {
  const std::string dir = test::temp_dir("onnx-bad");
  auto refused = [](const std::string& path, const std::string& needle) {
    try {
      load_model(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  {  // truncated
    std::ifstream in(onnx_fixture("squeezenet1_1.onnx"), std::ios::binary);
    std::string bytes(4000, '\0');
    in.read(bytes.data(), 4000);
    std::ofstream(dir + "/truncated.onnx", std::ios::binary) << bytes;
  }
  refused(dir + "/truncated.onnx", "not an ONNX model");
  std::ofstream(dir + "/text.onnx") << "name,value\nx,1\n";
  refused(dir + "/text.onnx", "not an ONNX model");
  fs::copy_file(onnx_fixture("tiny.onnx"), dir + "/tiny.onnx");  // without tiny.onnx.data
  refused(dir + "/tiny.onnx", "tiny.onnx.data is missing");
  refused(onnx_fixture("bad/inner/outside.onnx"), "leaves the model's folder");
  refused(onnx_fixture("bad/huge_input.onnx"), "a declared shape [1, 3, 100000, 100000]");
  refused(onnx_fixture("bad/softmax_axis.onnx"),
          "axis: expected the class axis of N x K scores (1 or -1), got 5");
  {  // An Expand to 2^62 x 2^62 is refused before anything of that size exists.
    const auto m = load_model(onnx_fixture("bad/huge_expand.onnx"));
    try {
      m->forward(torch::rand({1, 1, 1, 1}));
      ADD_FAILURE() << "huge_expand ran";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("would make"), std::string::npos) << e.what();
    }
  }
  // A link named like the data file, pointing out of the folder.
  fs::create_directories(dir + "/linked");
  fs::copy_file(onnx_fixture("tiny.onnx"), dir + "/linked/tiny.onnx");
  fs::create_symlink(fs::absolute(onnx_fixture("tiny.onnx.data")), dir + "/linked/tiny.onnx.data");
  refused(dir + "/linked/tiny.onnx", "outside the model's folder");
  refused(onnx_fixture("bad/unknown_op.onnx"), "node 'the_hardmax' uses operator 'Hardmax'");
}

}  // namespace
}  // namespace foil
