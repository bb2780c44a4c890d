// Segmentation metrics (foil/metrics/segmentation.h) on hand-made masks, worked out by hand.
#include "foil/metrics/segmentation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

torch::Tensor mask(std::vector<int64_t> v, int64_t h, int64_t w) {
  return torch::tensor(v, torch::kLong).view({h, w});
}

TEST(SegmentationMetrics, PerfectMasksScoreOne) {
  const torch::Tensor m = mask({0, 1, 1, 2, 2, 0}, 2, 3);
  const auto s = segmentation_metrics(confusion_matrix(m, m, 3), {"a", "b", "c"});
  EXPECT_DOUBLE_EQ(s.miou, 1.0);
  EXPECT_DOUBLE_EQ(s.pixel_accuracy, 1.0);
  EXPECT_EQ(s.pixels, 6);
}

TEST(SegmentationMetrics, IouPerClassFromTheConfusionMatrix) {
  // Reference 0 0 1 1 / 1 1 255 255; prediction 0 1 1 1 / 0 1 0 0.
  const torch::Tensor ref = mask({0, 0, 1, 1, 1, 1, 255, 255}, 2, 4);
  const torch::Tensor pred = mask({0, 1, 1, 1, 0, 1, 0, 0}, 2, 4);
  const torch::Tensor cm = confusion_matrix(ref, pred, 3);
  // Scored pixels: 6 (two ignored). Class 0: tp 1, ref 2, pred 2 -> 1/3. Class 1: tp 3, ref 4,
  // pred 4 -> 3/5. Class 2: empty union, not averaged.
  EXPECT_TRUE(cm.equal(torch::tensor({1, 1, 0, 1, 3, 0, 0, 0, 0}, torch::kLong).view({3, 3})))
      << cm;
  const auto s = segmentation_metrics(cm, {"bg", "person", "dog"});
  EXPECT_NEAR(s.iou[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(s.iou[1], 3.0 / 5, 1e-12);
  EXPECT_EQ(s.iou[2], -1);
  EXPECT_NEAR(s.miou, (1.0 / 3 + 3.0 / 5) / 2, 1e-12);
  EXPECT_NEAR(s.pixel_accuracy, 4.0 / 6, 1e-12);
  EXPECT_EQ(s.reference_pixels, (std::vector<int64_t>{2, 4, 0}));
  EXPECT_TRUE(s.to_json()["per_class"][2]["iou"].is_null());
  // Images add up: the matrix of two images is the sum of theirs.
  const torch::Tensor two =
      confusion_matrix(torch::stack({ref, ref}), torch::stack({pred, ref}), 3);
  EXPECT_TRUE(two.equal(cm + confusion_matrix(ref, ref, 3)));
}

TEST(SegmentationMetrics, RefusesLabelsOutsideTheClasses) {
  const torch::Tensor ok = mask({0, 1}, 1, 2);
  EXPECT_THROW(confusion_matrix(mask({0, 3}, 1, 2), ok, 2), InputError);
  EXPECT_THROW(confusion_matrix(ok, mask({0, 2}, 1, 2), 2), InputError);
  EXPECT_THROW(confusion_matrix(ok, mask({0, 1, 1, 0}, 2, 2), 2), InputError);
}

TEST(SegmentationMetrics, ReadsLabelPngsAndNamesWhatIsWrong) {
  const std::string dir = test::temp_dir("seg-masks");
  torch::Tensor labels = torch::ones({1, 3, 4});  // written as label / 255: 8-bit labels
  labels[0][0][0] = 0;
  labels[0][2][3] = 255;
  write_image(dir + "/a.png", labels / 255);
  const torch::Tensor t = read_label_mask(dir + "/a.png", 2);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(t[0][0].item<int64_t>(), 0);
  EXPECT_EQ(t[2][3].item<int64_t>(), 255);
  EXPECT_EQ(t.sum().item<int64_t>(), 10 + 255);
  labels[0][1][2] = 7;
  write_image(dir + "/b.png", labels / 255);
  try {
    read_label_mask(dir + "/b.png", 2);
    ADD_FAILURE() << "label 7 of 2 classes read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("(x 2, y 1) has label 7"), std::string::npos) << e.what();
  }
  write_image(dir + "/rgb.png", torch::full({3, 3, 4}, 1.0 / 255));
  EXPECT_THROW(read_label_mask(dir + "/rgb.png", 2), InputError);
  EXPECT_THROW(read_label_mask(dir + "/none.png", 2), InputError);
}

}  // namespace
}  // namespace foil
