// The faithfulness curves' option table (foil/explain/faithfulness.h): `foil explain
// --faithfulness`'s flags.
#include "foil/core/error.h"
#include "foil/explain/faithfulness.h"

namespace foil {
namespace {

using Type = OptionType;
using FaithfulnessField = OptionField<FaithfulnessOptions>;

std::vector<FaithfulnessField> make_faithfulness_table() {
  const std::string kGroup = "Faithfulness (--faithfulness)";
  return {
      make_option<FaithfulnessOptions>(
          "--protocol", Type::kText, kGroup,
          "deletion/insertion as foil draws them (foil: --baseline, --faithfulness-steps) or as "
          "RISE's authors do (rise: deletion to the model's mean colour, insertion from their "
          "11x11 sigma-5 blur, in normalised space, one image row of pixels per step)",
          {},
          [](FaithfulnessOptions& o, const OptionValue& v, const std::string& name) {
            const auto& text = std::get<std::string>(v);
            check_input(text == "foil" || text == "rise", name, "foil or rise", "'" + text + "'");
            o.protocol = text;
          },
          [](const FaithfulnessOptions& o) -> OptionValue { return o.protocol; }),
      make_option<FaithfulnessOptions>(
          "--baseline", Type::kText, kGroup,
          "foil protocol: what removed pixels become: blur (foil's Gaussian, sd a tenth of the "
          "side; not RISE's) or mean",
          {"foil"}, FOIL_OPTION_MEMBER(FaithfulnessOptions, baseline, std::string)),
      make_option<FaithfulnessOptions>(
          "--faithfulness-steps", Type::kInteger, kGroup,
          "foil protocol: points on each curve after the first", {"foil"},
          FOIL_OPTION_MEMBER(FaithfulnessOptions, steps, int64_t), 1, 1000),
  };
}

}  // namespace

const std::vector<OptionField<FaithfulnessOptions>>& faithfulness_option_fields() {
  static const std::vector<OptionField<FaithfulnessOptions>> table = make_faithfulness_table();
  return table;
}

}  // namespace foil
