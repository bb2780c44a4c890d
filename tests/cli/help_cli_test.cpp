// Every sub-command whose options a library table declares (foil/core/option_fields.h) lists
// in --help exactly the table's flags its job reads: generated, never written by hand.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "foil/attacks/option_table.h"
#include "foil/explain/explain.h"
#include "foil/explain/faithfulness.h"
#include "foil/jobs/attack_job.h"
#include "foil/jobs/audit.h"
#include "foil/jobs/bench.h"
#include "foil/jobs/certify_options.h"
#include "foil/jobs/corruption_job.h"
#include "foil/jobs/defend_job.h"
#include "foil/jobs/explain_job.h"
#include "foil/jobs/job.h"
#include "foil/jobs/keypoint_jobs.h"
#include "foil/jobs/predict_job.h"
#include "foil/jobs/regions_job.h"
#include "foil/jobs/train_job.h"
#include "foil/patch/option_table.h"
#include "foil/train/trainer.h"
#include "test_util.h"

namespace foil {
namespace {

/// `foil COMMAND --help` lists a flag of `table` iff a field of it that `job` reads ("": every
/// field) has that flag.
template <class O>
void expect_help_lists(const std::string& command, const std::vector<OptionField<O>>& table,
                       const std::string& job) {
  const auto r = test::run_foil(command + " --help");
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> read;
  for (const auto& f : table)
    if (job.empty() || f.used_by_name(job)) read.insert(f.flag);
  for (const auto& f : table) {
    if (f.flag.empty()) continue;  // set another way (the global --seed)
    const bool listed = std::regex_search(r.out, std::regex("\\s" + f.flag + "[ ,\\n]"));
    EXPECT_EQ(listed, read.count(f.flag) > 0) << command << ": " << f.flag;
  }
}

TEST(CliHelp, EachCommandListsTheFlagsItsJobReads) {
  for (const std::string job : {"train", "eval", "transfer"})
    expect_help_lists("patch " + job, patch_option_fields(), job);
  for (const std::string job : {"attack", "table"})
    expect_help_lists("keypoints " + job, keypoint_option_fields(), job);
  expect_help_lists("audit", audit_option_fields(), "");
  expect_help_lists("corrupt", corruption_option_fields(), "");
  expect_help_lists("certify", certify_option_fields(), "");
  expect_help_lists("train", train_option_fields(), "");
  expect_help_lists("keypoints train", pose_train_option_fields(), "");
  expect_help_lists("defend", defend_option_fields(), "");
  expect_help_lists("predict", predict_option_fields(), "");
  expect_help_lists("bench", bench_option_fields(), "");
  for (const std::string command : {"explain", "regions"})
    expect_help_lists(command, explain_option_fields(), "");
  expect_help_lists("explain", explain_job_option_fields(), "");
  expect_help_lists("explain", faithfulness_option_fields(), "");
  expect_help_lists("regions", regions_option_fields(), "");
  expect_help_lists("", run_settings_option_fields(), "");  // the global flags
  expect_help_lists("attack", attack_job_option_fields(), "");
  // Every attack flag, each saying which attacks read it; a flag the chosen attack does not
  // read is refused when given (option_table_test.cpp, bad_input_test.cpp).
  for (const std::string command : {"attack", "explain", "regions", "defend", "transfer"})
    expect_help_lists(command, attack_option_fields(), "");
}

}  // namespace
}  // namespace foil
