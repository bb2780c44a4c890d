// The held-out split of the patch jobs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "foil/core/error.h"
#include "foil/jobs/job.h"
#include "foil/jobs/patch_jobs.h"
#include "test_util.h"

namespace foil {
namespace {

const std::string& kClip = test::kSampleClip;

TEST(PatchSplit, OneVideoSplitByTimeIsHeldOutOnlyWhereTheRangesDoNotOverlap) {
  ASSERT_TRUE(std::filesystem::exists(test::kSampleClip)) << "opencv-doc is not installed";
  auto model = test::cnn_model();
  const std::string train = kClip + ":every=100:frames=0-399";
  const Dataset data = open_data(train, *model);
  ASSERT_EQ(data.size(), 4);
  const PatchSplit s =
      split_patch_data(data, train, kClip + ":every=100:frames=500-", false, *model);
  EXPECT_EQ(s.train.size(), 4);
  ASSERT_EQ(s.eval.size(), 3);  // frames 500, 600, 700
  EXPECT_EQ(s.eval.frames.front().path, kClip + "/frame000500");
  EXPECT_FALSE(s.eval_on_train);
  for (const std::string& overlapping :
       {kClip + ":every=100:frames=399-", kClip + ":every=50", kClip + ":frames=100-200"})
    EXPECT_THROW(split_patch_data(data, train, overlapping, false, *model), InputError)
        << overlapping;
}

}  // namespace
}  // namespace foil
