// The explanation methods' option table (foil/explain/explain.h): `foil explain`'s and
// `foil regions`' method flags and the keywords of foil.explain's methods.
#include "foil/data/dataset.h"
#include "foil/explain/explain.h"

namespace foil {
namespace {

using Type = OptionType;
using ExplainField = OptionField<ExplainOptions>;

ExplainField explain_field(
    std::string flag, Type type, std::string help, std::vector<std::string> used_by,
    std::function<void(ExplainOptions&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const ExplainOptions&)> get, double lo, double hi) {
  return make_option<ExplainOptions>(std::move(flag), type, "Method", std::move(help),
                                     std::move(used_by), std::move(set), std::move(get), lo, hi);
}

std::vector<ExplainField> make_explain_table() {
  const double side = static_cast<double>(kMaxImageSide);
  return {
      explain_field("--ig-steps", Type::kInteger, "ig: steps from the black image to the input",
                    {"ig"}, FOIL_OPTION_MEMBER(ExplainOptions, ig_steps, int64_t), 1, 100000),
      explain_field("--samples", Type::kInteger, "smoothgrad: noisy copies", {"smoothgrad"},
                    FOIL_OPTION_MEMBER(ExplainOptions, smooth_samples, int64_t), 1, 100000),
      explain_field("--noise", Type::kNumber, "smoothgrad: noise sd (pixels in [0,1])",
                    {"smoothgrad"}, FOIL_OPTION_MEMBER(ExplainOptions, smooth_sigma, double), 0,
                    10),
      explain_field("--window", Type::kInteger,
                    "occlusion: window side in pixels (0: a seventh of the image side)",
                    {"occlusion"}, FOIL_OPTION_MEMBER(ExplainOptions, window, int64_t), 0, side),
      explain_field("--stride", Type::kInteger, "occlusion: window stride (0: half the window)",
                    {"occlusion"}, FOIL_OPTION_MEMBER(ExplainOptions, stride, int64_t), 0, side),
  };
}

}  // namespace

const std::vector<OptionField<ExplainOptions>>& explain_option_fields() {
  static const std::vector<OptionField<ExplainOptions>> table = make_explain_table();
  return table;
}

}  // namespace foil
