// The bench's option table (foil/jobs/bench.h): `foil bench`'s flags.
#include "foil/jobs/bench.h"

namespace foil {
namespace {

using Type = OptionType;
using BenchField = OptionField<BenchOptions>;

std::vector<BenchField> make_bench_table() {
  const std::string kGroup = "Timing";
  return {
      make_option<BenchOptions>("--steps", Type::kInteger, kGroup, "attack steps", {},
                                FOIL_OPTION_MEMBER(BenchOptions, steps, int64_t), 1, 100000),
      make_option<BenchOptions>("--repeats", Type::kInteger, kGroup, "timed repeats (median)", {},
                                FOIL_OPTION_MEMBER(BenchOptions, repeats, int64_t), 1, 1000),
      make_option<BenchOptions>(
          "--only", Type::kTexts, kGroup,
          "comma-separated rows to time, e.g. pgd-linf,apgd-ce-linf,patch-ce+eot (default: all)",
          {}, FOIL_OPTION_MEMBER(BenchOptions, only, std::vector<std::string>)),
      make_option<BenchOptions>(
          "--profile", Type::kSwitch, kGroup,
          "after timing, run each attack and patch row once under LibTorch's profiler: its JSON "
          "row gets the read-backs per step (ops that wait for the device: "
          "item/_local_scalar_dense, nonzero, masked_select, synchronising copies) and the ten "
          "ops with the most inclusive time",
          {}, FOIL_OPTION_MEMBER(BenchOptions, profile, bool)),
      make_option<BenchOptions>("--batch", Type::kInteger, kGroup, "batch size", {},
                                FOIL_OPTION_MEMBER(BenchOptions, batch, int64_t), 1, 100000),
      make_option<BenchOptions>(
          "--model-only", Type::kSwitch, kGroup,
          "time only the model's forward and forward+backward (any model, e.g. MoveNet)", {},
          FOIL_OPTION_MEMBER(BenchOptions, model_only, bool)),
  };
}

}  // namespace

const std::vector<OptionField<BenchOptions>>& bench_option_fields() {
  static const std::vector<OptionField<BenchOptions>> table = make_bench_table();
  return table;
}

}  // namespace foil
