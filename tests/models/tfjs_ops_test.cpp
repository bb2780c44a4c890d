// TensorFlow.js importer: each op against hand-computed values, on graphs written by the
// test in the graph-model format, plus gradients against finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"
#include "test_util.h"
#include "tfjs_graph_builder.h"

namespace foil {
namespace {

using nlohmann::json;
using test::attr_ints;
using test::attr_s;
using test::attr_strings;
using test::GraphBuilder;

torch::Tensor run1(const GraphBuilder& g, const torch::Tensor& x, const std::string& node) {
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  return graph.execute(x, {node})[0];
}

torch::Tensor ramp(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return torch::arange(1, n + 1, torch::kFloat).reshape(shape);
}

/// Largest |central difference (step 1e-2, float32) - autograd| over every `every`-th
/// element of x, for the scalar value of `node`.
double worst_fd_error(const Graph& graph, const std::string& node, const torch::Tensor& x,
                      const torch::Tensor& grad, int64_t every) {
  torch::NoGradGuard no_grad;
  const float h = 1e-2f;
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); i += every) {
    auto xp = x.detach().clone(), xm = x.detach().clone();
    xp.view(-1)[i] += h;
    xm.view(-1)[i] -= h;
    const double fd = (graph.execute(xp, {node})[0].item<double>() -
                       graph.execute(xm, {node})[0].item<double>()) /
                      (2 * h);
    worst = std::max(worst, std::abs(fd - grad.view(-1)[i].item<double>()));
  }
  return worst;
}

json conv_attr(const std::vector<int64_t>& strides, const std::string& padding) {
  return {{"strides", attr_ints(strides)},
          {"padding", attr_s(padding)},
          {"data_format", attr_s("NHWC")},
          {"dilations", attr_ints({1, 1, 1, 1})}};
}

TEST(TfjsOps, Conv2DSamePaddingWithStrideIsAsymmetric) {
  // 4x4 input 1..16, 3x3 ones, stride 2, SAME: output 2x2, padding 0 before / 1 after.
  GraphBuilder g;
  g.input("x", {1, 4, 4, 1}).constant("w", {3, 3, 1, 1}, std::vector<float>(9, 1.f));
  g.node("conv", "Conv2D", {"x", "w"}, conv_attr({1, 2, 2, 1}, "SAME"));
  auto y = run1(g, ramp({1, 4, 4, 1}), "conv");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 2, 2, 1}));
  EXPECT_TRUE(y.flatten().equal(torch::tensor({54.f, 45.f, 72.f, 54.f})));
}

TEST(TfjsOps, Conv2DValidAndChannelOrder) {
  // 1x1 conv mixing 2 input channels into 3 outputs: out[o] = sum_i x[i] * w[i][o].
  GraphBuilder g;
  g.input("x", {1, 1, 1, 2}).constant("w", {1, 1, 2, 3}, {1, 2, 3, 10, 20, 30});
  g.node("conv", "Conv2D", {"x", "w"}, conv_attr({1, 1, 1, 1}, "VALID"));
  auto y = run1(g, torch::tensor({1.f, 2.f}).view({1, 1, 1, 2}), "conv");
  EXPECT_TRUE(y.flatten().equal(torch::tensor({21.f, 42.f, 63.f})));
}

TEST(TfjsOps, DepthwiseChannelMultiplier) {
  // Output channel c*mult + m = x[c] * w[c][m].
  GraphBuilder g;
  g.input("x", {1, 1, 1, 2}).constant("w", {1, 1, 2, 2}, {1, 10, 100, 1000});
  g.node("dw", "DepthwiseConv2dNative", {"x", "w"}, conv_attr({1, 1, 1, 1}, "SAME"));
  auto y = run1(g, torch::tensor({1.f, 2.f}).view({1, 1, 1, 2}), "dw");
  EXPECT_TRUE(y.flatten().equal(torch::tensor({1.f, 10.f, 200.f, 2000.f})));
}

TEST(TfjsOps, FusedConvBiasPreluAndRelu6) {
  // 1x1 conv with weight -1 on x = [1, -2]: conv = [-1, 2]; + bias 0.5 = [-0.5, 2.5].
  GraphBuilder g;
  g.input("x", {1, 1, 2, 1}).constant("w", {1, 1, 1, 1}, {-1}).constant("b", {1}, {0.5});
  g.constant("alpha", {1}, {0.1});
  json a = conv_attr({1, 1, 1, 1}, "VALID");
  a["num_args"] = {{"i", "2"}};
  a["fused_ops"] = attr_strings({"BiasAdd", "Prelu"});
  g.node("prelu", "_FusedConv2D", {"x", "w", "b", "alpha"}, a);
  a["fused_ops"] = attr_strings({"BiasAdd", "Relu6"});
  a["num_args"] = {{"i", "1"}};
  g.constant("w6", {1, 1, 1, 1}, {-4});
  g.node("relu6", "_FusedConv2D", {"x", "w6", "b"}, a);
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto out = graph.execute(torch::tensor({1.f, -2.f}).view({1, 1, 2, 1}), {"prelu", "relu6"});
  EXPECT_TRUE(out[0].flatten().allclose(torch::tensor({-0.05f, 2.5f})));
  EXPECT_TRUE(out[1].flatten().allclose(torch::tensor({0.f, 6.f})));  // -3.5 -> 0, 8.5 -> 6
}

TEST(TfjsOps, FusedMatMulWithTransposeAndBias) {
  GraphBuilder g;
  g.input("x", {1, 2}).constant("w", {3, 2}, {1, 0, 0, 1, 1, 1}).constant("b", {3}, {0, 0, -10});
  g.node("mm", "_FusedMatMul", {"x", "w", "b"},
         {{"transpose_b", {{"b", true}}},
          {"fused_ops", attr_strings({"BiasAdd", "Relu"})},
          {"num_args", {{"i", "1"}}}});
  auto y = run1(g, torch::tensor({{2.f, 3.f}}), "mm");
  EXPECT_TRUE(y.equal(torch::tensor({{2.f, 3.f, 0.f}})));  // 5 - 10 -> relu 0
}

TEST(TfjsOps, QuantisedWeightsAreDequantised) {
  GraphBuilder g;
  g.input("x", {3});
  // uint8: value * scale + min; float16: IEEE half (1.0 = 0x3C00, -2.5 = 0xC100, 0.5 = 0x3800).
  g.raw("q8", {3}, "float32", std::string("\x00\x02\x04", 3),
        {{"dtype", "uint8"}, {"scale", 0.5}, {"min", -1.0}});
  const uint16_t halves[3] = {0x3C00, 0xC100, 0x3800};
  std::string h(6, '\0');
  std::memcpy(h.data(), halves, 6);
  g.raw("f16", {3}, "float32", h, {{"dtype", "float16"}});
  g.node("a", "AddV2", {"x", "q8"}).node("b", "AddV2", {"x", "f16"});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto out = graph.execute(torch::zeros({3}), {"a", "b"});
  EXPECT_TRUE(out[0].equal(torch::tensor({-1.f, 0.f, 1.f})));
  EXPECT_TRUE(out[1].equal(torch::tensor({1.f, -2.5f, 0.5f})));
}

TEST(TfjsOps, MaxPoolSamePadsWithMinusInfinity) {
  // 3x3 input of negative values, 2x2 window, stride 2, SAME: output 2x2; padded cells
  // never win.
  GraphBuilder g;
  g.input("x", {1, 3, 3, 1});
  g.node("pool", "MaxPool", {"x"},
         {{"ksize", attr_ints({1, 2, 2, 1})},
          {"strides", attr_ints({1, 2, 2, 1})},
          {"padding", attr_s("SAME")},
          {"data_format", attr_s("NHWC")}});
  auto y = run1(g, -ramp({1, 3, 3, 1}), "pool");
  EXPECT_TRUE(y.flatten().equal(torch::tensor({-1.f, -3.f, -7.f, -9.f})));
}

TEST(TfjsOps, ResizeBilinearHalfPixelCentres) {
  // 1x2 -> 1x4 with half-pixel centres: sources -0.25, 0.25, 0.75, 1.25 -> 0, 0.25, 0.75, 1
  // of the way from a to b (clamped at both ends).
  GraphBuilder g;
  g.input("x", {1, 1, 2, 1}).ints("size", {2}, {1, 4});
  g.node("r", "ResizeBilinear", {"x", "size"},
         {{"align_corners", {{"b", false}}}, {"half_pixel_centers", {{"b", true}}}});
  g.node("r2", "ResizeBilinear", {"x", "size"},
         {{"align_corners", {{"b", true}}}, {"half_pixel_centers", {{"b", false}}}});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto out = graph.execute(torch::tensor({0.f, 4.f}).view({1, 1, 2, 1}), {"r", "r2"});
  EXPECT_TRUE(out[0].flatten().allclose(torch::tensor({0.f, 1.f, 3.f, 4.f})));
  EXPECT_TRUE(out[1].flatten().allclose(torch::tensor({0.f, 4.f / 3, 8.f / 3, 4.f})));
}

TEST(TfjsOps, ArgMaxFloorDivGatherNdDecodeLikeMoveNet) {
  // A 2x3 heatmap flattened, argmax -> (row, col) by FloorDiv/Sub, then GatherNd picks the
  // value at that cell from a second map, as MoveNet's decoder does.
  GraphBuilder g;
  g.input("x", {2, 3});
  g.ints("flat", {1}, {-1}).ints("axis", {}, {0}).ints("three", {}, {3});
  g.constant("values", {2, 3}, {10, 11, 12, 13, 14, 15});
  g.ints("pack_axis", {}, {0});
  g.node("r", "Reshape", {"x", "flat"});
  g.node("am", "ArgMax", {"r", "axis"}, {{"output_type", {{"type", "DT_INT32"}}}});
  g.node("row", "FloorDiv", {"am", "three"});
  g.node("rx3", "Mul", {"row", "three"});
  g.node("col", "Sub", {"am", "rx3"});
  g.node("idx", "Pack", {"row", "col"}, {{"axis", {{"i", "0"}}}, {"N", {{"i", "2"}}}});
  g.node("v", "GatherNd", {"values", "idx"});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto out = graph.execute(torch::tensor({{0.f, 1.f, 0.f}, {0.f, 0.f, 9.f}}), {"am", "idx", "v"});
  EXPECT_EQ(out[0].item<int>(), 5);
  EXPECT_TRUE(out[1].to(torch::kLong).equal(torch::tensor({1L, 2L})));
  EXPECT_EQ(out[2].item<float>(), 15.f);
}

TEST(TfjsOps, ShapeOpsAndMultipleOutputs) {
  GraphBuilder g;
  g.input("x", {1, 2, 2, 3});
  g.ints("axes", {2}, {1, 2}).ints("pads", {1, 2}, {1, 2}).ints("cat_axis", {}, {-1});
  g.node("mean", "Mean", {"x", "axes"}, {{"keep_dims", {{"b", false}}}});
  g.node("un", "Unpack", {"mean"}, {{"axis", {{"i", "1"}}}, {"num", {{"i", "3"}}}});
  g.node("cat", "ConcatV2", {"un:2", "un", "cat_axis"});
  g.node("pad", "Pad", {"cat", "pads"});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto x = ramp({1, 2, 2, 3});  // channel means 5.5, 6.5, 7.5
  auto out = graph.execute(x, {"mean", "un:1", "pad"});
  EXPECT_TRUE(out[0].equal(torch::tensor({{5.5f, 6.5f, 7.5f}})));
  EXPECT_TRUE(out[1].equal(torch::tensor({6.5f})));
  // cat(un:2, un:0) = [7.5, 5.5], padded by 1 before and 2 after.
  EXPECT_TRUE(out[2].equal(torch::tensor({0.f, 7.5f, 5.5f, 0.f, 0.f})));
}

torch::Tensor f32(std::vector<float> v) { return torch::tensor(v); }

json masks(int begin, int end, int ellipsis, int new_axis, int shrink) {
  auto i = [](int v) { return json{{"i", std::to_string(v)}}; };
  return {{"begin_mask", i(begin)},
          {"end_mask", i(end)},
          {"ellipsis_mask", i(ellipsis)},
          {"new_axis_mask", i(new_axis)},
          {"shrink_axis_mask", i(shrink)}};
}

TEST(TfjsOps, StridedSliceWithEveryMask) {
  // x = 1..24 as [2,3,4]. Each node's expected value is written out as numpy would give it.
  GraphBuilder g;
  g.input("x", {2, 3, 4});
  g.ints("b1", {3}, {1, 0, 1}).ints("e1", {3}, {2, 3, 4}).ints("s1", {3}, {1, 2, 2});
  g.node("plain", "StridedSlice", {"x", "b1", "e1", "s1"},
         masks(0, 0, 0, 0, 0));  // x[1:2,0:3:2,1:4:2]
  g.ints("b2", {2}, {0, -1}).ints("e2", {2}, {0, 0}).ints("s2", {2}, {1, 1});
  g.node("shrink", "StridedSlice", {"x", "b2", "e2", "s2"}, masks(1, 1, 0, 0, 2));  // x[:, -1]
  g.ints("b3", {3}, {0, 0, -1}).ints("e3", {3}, {0, 0, 0}).ints("s3", {3}, {1, 1, -1});
  g.node("ellipsis", "StridedSlice", {"x", "b3", "e3", "s3"},
         masks(0, 4, 1, 2, 0));  // x[..., None, ::-1]
  g.ints("b4", {2}, {-2, 5}).ints("e4", {2}, {-100, -1}).ints("s4", {2}, {-1, -2});
  g.node("negative", "StridedSlice", {"x", "b4", "e4", "s4"},
         masks(0, 2, 0, 0, 0));  // x[-2:-100:-1, 5::-2]
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  const auto x = ramp({2, 3, 4});
  auto out = graph.execute(x, {"plain", "shrink", "ellipsis", "negative"});
  EXPECT_TRUE(out[0].equal(f32({14, 16, 22, 24}).view({1, 2, 2})));
  EXPECT_TRUE(out[1].equal(f32({9, 10, 11, 12, 21, 22, 23, 24}).view({2, 4})));
  ASSERT_EQ(out[2].sizes(), (std::vector<int64_t>{2, 3, 1, 4}));
  EXPECT_TRUE(out[2][1][2][0].equal(f32({24, 23, 22, 21})));
  // Dimension 0 from index 0 (= -2) down to the start; dimension 1 from 2 (5 clamped) by -2.
  EXPECT_TRUE(out[3].equal(f32({9, 10, 11, 12, 1, 2, 3, 4}).view({1, 2, 4})));
}

TEST(TfjsOps, SplitVGatherV2TopKFloorModEqualAndShape) {
  GraphBuilder g;
  g.input("x", {2, 5});
  g.ints("sizes", {3}, {1, -1, 2}).ints("axis1", {}, {1}).ints("axis0", {}, {0});
  g.node("split", "SplitV", {"x", "sizes", "axis1"}, {{"num_split", {{"i", "3"}}}});
  g.ints("idx", {2, 2}, {4, 0, 0, 2});
  g.node("gather", "GatherV2", {"x", "idx", "axis1"}, {{"batch_dims", {{"i", "0"}}}});
  g.ints("k", {}, {2});
  g.node("top", "TopKV2", {"x", "k"}, {{"sorted", {{"b", true}}}});
  g.ints("three", {}, {3});
  g.node("mod", "FloorMod", {"top:1", "three"});
  g.node("eq", "Equal", {"x", "x"});
  g.node("shape", "Shape", {"gather"}, {{"out_type", {{"type", "DT_INT32"}}}});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  const auto x = f32({3, -1, 7, 7, 0, -5, 2, 2, 9, -4}).view({2, 5});
  auto out = graph.execute(
      x, {"split", "split:1", "split:2", "gather", "top", "top:1", "mod", "eq", "shape"});
  EXPECT_TRUE(out[0].equal(f32({3, -5}).view({2, 1})));
  EXPECT_TRUE(out[1].equal(f32({-1, 7, 2, 2}).view({2, 2})));  // the -1 takes the rest
  EXPECT_TRUE(out[2].equal(f32({7, 0, 9, -4}).view({2, 2})));
  // GatherV2 along axis 1 with a 2x2 index: [2, 2, 2], out[i][a][b] = x[i][idx[a][b]].
  EXPECT_TRUE(out[3].equal(f32({0, 3, 3, 7, -4, -5, -5, 2}).view({2, 2, 2})));
  // Ties go to the lower index, as in TensorFlow: row 0 picks 7 at 2 then 7 at 3.
  EXPECT_TRUE(out[4].equal(f32({7, 7, 9, 2}).view({2, 2})));
  EXPECT_TRUE(out[5].equal(torch::tensor({2, 3, 3, 1}, torch::kInt).view({2, 2})));
  EXPECT_TRUE(out[6].equal(torch::tensor({2, 0, 0, 1}, torch::kInt).view({2, 2})));
  EXPECT_TRUE(out[7].all().item<bool>());
  EXPECT_TRUE(out[8].equal(torch::tensor({2, 2, 2}, torch::kInt)));
  // FloorMod follows the divisor's sign (Python's %), not C's.
  GraphBuilder m;
  m.input("x", {4}).constant("d", {}, {3.f});
  m.node("mod", "FloorMod", {"x", "d"});
  EXPECT_TRUE(run1(m, f32({-4, -1, 4, 6}), "mod").equal(f32({2, 2, 1, 0})));
}

TEST(TfjsOps, SparseToDenseWithConstantAndEmptyIndices) {
  GraphBuilder g;
  g.input("x", {1});
  g.ints("idx", {2, 2}, {0, 1, 2, 0}).ints("shape", {2}, {3, 2}).constant("vals", {2}, {5, 6});
  g.constant("zero", {}, {-1});
  g.node("dense", "SparseToDense", {"idx", "shape", "vals", "zero"});
  g.raw("none", {0, 1}, "int32", "").ints("len", {1}, {3}).ints("iv", {0}, {}).ints("z", {}, {0});
  g.node("empty", "SparseToDense", {"none", "len", "iv", "z"});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  auto out = graph.execute(torch::zeros({1}), {"dense", "empty"});
  EXPECT_TRUE(out[0].equal(f32({-1, 5, -1, -1, 6, -1}).view({3, 2})));
  EXPECT_TRUE(out[1].equal(torch::zeros({3}, torch::kInt)));  // nanodet's all-default case
}

TEST(TfjsOps, DepthToSpaceAndConv2DBackpropInput) {
  // DepthToSpace, block 2: the 4 channels of one pixel become a 2x2 block, row-major.
  GraphBuilder g;
  g.input("x", {1, 1, 2, 4});
  g.node("d2s", "DepthToSpace", {"x"},
         {{"block_size", {{"i", "2"}}}, {"data_format", attr_s("NHWC")}});
  auto y = run1(g, ramp({1, 1, 2, 4}), "d2s");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 2, 4, 1}));
  EXPECT_TRUE(y.flatten().equal(f32({1, 2, 5, 6, 3, 4, 7, 8})));
  // Transposed convolution = the gradient of Conv2D with respect to its input: check both
  // SAME (asymmetric padding, stride 2, odd size) and VALID against autograd of our Conv2D.
  torch::manual_seed(5);
  auto vec = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  const auto w = torch::randn({3, 3, 2, 3});
  for (const std::string padding : {"SAME", "VALID"}) {
    const int64_t out_hw = padding == "SAME" ? 4 : 3;
    GraphBuilder c;
    c.input("x", {1, 7, 7, 2}).constant("w", {3, 3, 2, 3}, vec(w));
    c.node("conv", "Conv2D", {"x", "w"}, conv_attr({1, 2, 2, 1}, padding));
    Graph conv(c.write(test::temp_dir("tfjs-op")));
    auto x = torch::randn({1, 7, 7, 2}).requires_grad_(true);
    const auto dy = torch::randn({1, out_hw, out_hw, 3});
    auto expected = torch::autograd::grad({conv.execute(x, {"conv"})[0]}, {x}, {dy})[0];
    GraphBuilder t;
    t.input("dy", {1, out_hw, out_hw, 3}).constant("w", {3, 3, 2, 3}, vec(w));
    t.ints("sizes", {4}, {1, 7, 7, 2});
    t.node("deconv", "Conv2DBackpropInput", {"sizes", "w", "dy"}, conv_attr({1, 2, 2, 1}, padding));
    auto got = run1(t, dy, "deconv");
    ASSERT_EQ(got.sizes(), expected.sizes()) << padding;
    EXPECT_TRUE(got.allclose(expected, 1e-5, 1e-5)) << padding;
  }
}

TEST(TfjsOps, NewOpsPassGradientsLikeFiniteDifferences) {
  // StridedSlice (reversed, strided), SplitV, GatherV2, DepthToSpace and a transposed
  // convolution on the way from x to a scalar.
  torch::manual_seed(4);
  auto vec = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  GraphBuilder g;
  g.input("x", {1, 4, 4, 8}).constant("w", {3, 3, 2, 2}, vec(torch::randn({3, 3, 2, 2})));
  g.node("d2s", "DepthToSpace", {"x"}, {{"block_size", {{"i", "2"}}}});  // 1x8x8x2
  g.ints("sizes", {4}, {1, 16, 16, 2});
  g.node("up", "Conv2DBackpropInput", {"sizes", "w", "d2s"}, conv_attr({1, 2, 2, 1}, "SAME"));
  g.ints("b", {4}, {0, -1, 0, 0}).ints("e", {4}, {0, 0, 16, 0}).ints("s", {4}, {1, -3, 2, 1});
  g.node("ss", "StridedSlice", {"up", "b", "e", "s"}, masks(9, 11, 0, 0, 0));
  g.ints("parts", {2}, {1, 1})
      .ints("axis3", {}, {3})
      .ints("idx", {3}, {2, 0, 2})
      .ints("axis2", {}, {2});
  g.node("split", "SplitV", {"ss", "parts", "axis3"}, {{"num_split", {{"i", "2"}}}});
  g.node("gather", "GatherV2", {"split:1", "idx", "axis2"});
  g.node("prod", "Mul", {"gather", "gather"});
  g.node("sum", "Sum", {"prod", "axes"});
  g.ints("axes", {4}, {0, 1, 2, 3});
  Graph graph(g.write(test::temp_dir("tfjs-grad")));
  auto x = torch::randn({1, 4, 4, 8}).requires_grad_(true);
  auto grad = torch::autograd::grad({graph.execute(x, {"sum"})[0]}, {x})[0];
  const double worst = worst_fd_error(graph, "sum", x, grad, 3);
  EXPECT_LT(worst, 2e-3 * std::max(1.0, grad.abs().max().item<double>()));
  EXPECT_GT(grad.abs().max().item<double>(), 1e-3);
}

TEST(TfjsOps, BadSliceAndSplitArgumentsNameTheNode) {
  GraphBuilder g;
  g.input("x", {2, 3});
  g.ints("b", {1}, {5}).ints("e", {1}, {6}).ints("s", {1}, {1});
  g.node("oob", "StridedSlice", {"x", "b", "e", "s"}, masks(0, 0, 0, 0, 1));
  g.ints("sizes", {2}, {2, 2}).ints("axis", {}, {1});
  g.node("badsplit", "SplitV", {"x", "sizes", "axis"}, {{"num_split", {{"i", "2"}}}});
  g.ints("k", {}, {9});
  g.node("bigk", "TopKV2", {"x", "k"});
  Graph graph(g.write(test::temp_dir("tfjs-op")));
  for (const std::string node : {"oob", "badsplit", "bigk"}) {
    try {
      graph.execute(torch::zeros({2, 3}), {node});
      FAIL() << node;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + node + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(TfjsOps, UnsupportedOpNamesOpAndNode) {
  GraphBuilder g;
  g.input("x", {1, 2});
  g.node("weird", "Erfinv", {"x"});
  const std::string path = g.write(test::temp_dir("tfjs-op"));
  try {
    Graph graph(path);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'weird'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'Erfinv'"), std::string::npos) << msg;
  }
}

TEST(TfjsOps, GradientsMatchFiniteDifferences) {
  // conv(SAME, stride 2) + bias + sigmoid -> depthwise -> resize -> max pool -> mean, on
  // random weights. Central differences in float32 with a step of 1e-2.
  torch::manual_seed(3);
  auto w = torch::randn({3, 3, 2, 4}) * 0.5, dw = torch::randn({3, 3, 4, 1}) * 0.5;
  auto vec = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  GraphBuilder g;
  g.input("x", {1, 7, 7, 2})
      .constant("w", {3, 3, 2, 4}, vec(w))
      .constant("b", {4}, vec(torch::randn({4})));
  g.constant("dw", {3, 3, 4, 1}, vec(dw)).ints("size", {2}, {6, 6}).ints("axes", {3}, {1, 2, 3});
  json a = conv_attr({1, 2, 2, 1}, "SAME");
  a["fused_ops"] = attr_strings({"BiasAdd", "Sigmoid"});
  a["num_args"] = {{"i", "1"}};
  g.node("conv", "_FusedConv2D", {"x", "w", "b"}, a);
  g.node("dwc", "DepthwiseConv2dNative", {"conv", "dw"}, conv_attr({1, 1, 1, 1}, "SAME"));
  g.node("up", "ResizeBilinear", {"dwc", "size"}, {{"half_pixel_centers", {{"b", true}}}});
  g.node("pool", "MaxPool", {"up"},
         {{"ksize", attr_ints({1, 2, 2, 1})},
          {"strides", attr_ints({1, 2, 2, 1})},
          {"padding", attr_s("VALID")}});
  g.node("sq", "Square", {"pool"});
  g.node("out", "Mean", {"sq", "axes"});
  Graph graph(g.write(test::temp_dir("tfjs-grad")));
  auto x = torch::randn({1, 7, 7, 2}).requires_grad_(true);
  auto y = graph.execute(x, {"out"})[0].sum();
  auto grad = torch::autograd::grad({y}, {x})[0];
  const double worst = worst_fd_error(graph, "out", x, grad, 5);
  EXPECT_LT(worst, 2e-3 * std::max(1.0, grad.abs().max().item<double>()));
  EXPECT_GT(grad.abs().max().item<double>(), 1e-4);  // the gradient is not trivially zero
}

TEST(GraphModel, SidecarMetadataSetsScalingOutputsAndClasses) {
  // A 2-class "classifier" on 1x2x2x1 inputs: logits = mean(x) * [1, -1], then Softmax.
  GraphBuilder g;
  g.input("img", {-1, 2, 2, 1}).ints("axes", {3}, {1, 2, 3}).constant("w", {1, 2}, {1, -1});
  g.node("m", "Mean", {"img", "axes"}, {{"keep_dims", {{"b", false}}}});
  g.node("col", "Reshape", {"m", "shape"}).ints("shape", {2}, {-1, 1});
  g.node("logits", "MatMul", {"col", "w"});
  g.node("prob", "Softmax", {"logits"}).node("Identity", "Identity", {"prob"});
  const std::string dir = test::temp_dir("tfjs-sidecar");
  const std::string path = g.write(dir, "tiny");
  std::ofstream(dir + "/tiny.foil.json")
      << R"({"task": "classifier", "scale": 2, "offset": -1, "class_names": ["bright", "dark"]})";
  GraphModel m(path);
  EXPECT_EQ(m.info().input.str(), ImageShape({1, 2, 2}).str());
  EXPECT_EQ(m.info().class_names, (std::vector<std::string>{"bright", "dark"}));
  EXPECT_EQ(m.meta().outputs, (std::vector<std::string>{"Identity"}));
  // Pixels of 0.75 -> model input 0.5; the Model output is the logits before the Softmax.
  auto logits = m.forward(torch::full({3, 1, 2, 2}, 0.75));
  EXPECT_TRUE(logits.allclose(torch::tensor({0.5f, -0.5f}).expand({3, 2})));
  EXPECT_TRUE(m.outputs(torch::full({1, 1, 2, 2}, 0.75))[0].allclose(
      torch::softmax(torch::tensor({{0.5f, -0.5f}}), 1)));
  // Every node is a tap by name.
  EXPECT_EQ(m.forward(torch::full({1, 1, 2, 2}, 0.75), {"m"}).taps.at("m").item<float>(), 0.5f);
}

}  // namespace
}  // namespace foil
