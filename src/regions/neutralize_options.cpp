// The neutralisation defence's option table (foil/regions/neutralize.h): `foil defend`'s
// defence flags.
#include "foil/regions/neutralize.h"

namespace foil {
namespace {

using Type = OptionType;
using NeutralizeField = OptionField<NeutralizeOptions>;

#define FOIL_DEFENCE(member, T) FOIL_OPTION_ARG(NeutralizeOptions, member, T)

std::vector<NeutralizeField> make_neutralize_table() {
  const std::string kGroup = "Defence (neutralize)";
  return {
      make_option<NeutralizeOptions>("--q-vulnerable", Type::kNumber, kGroup,
                                     "percent of pixels taken as vulnerable (0: no defence)", {},
                                     FOIL_DEFENCE(q_vulnerable, double), 0, 100),
      make_option<NeutralizeOptions>("--q-important", Type::kNumber, kGroup,
                                     "percent of pixels taken as important (spared)", {},
                                     FOIL_DEFENCE(q_important, double), 0, 100),
      make_option<NeutralizeOptions>("--fill", Type::kText, kGroup, "blur, median or mean", {},
                                     FOIL_DEFENCE(fill, std::string)),
      make_option<NeutralizeOptions>(
          "--importance", Type::kText, kGroup,
          "the importance map whose top pixels are spared (any --method of 'foil explain'); "
          "its faithfulness is reported",
          {},
          [](NeutralizeOptions& o, const OptionValue& v, const std::string& name) {
            o.importance(parse_explain_method(std::get<std::string>(v), name));
          },
          [](const NeutralizeOptions& o) -> OptionValue {
            return explain_method_name(o.importance());
          }),
      make_option<NeutralizeOptions>(
          "--layer", Type::kText, kGroup,
          "importance map's layer (CAMs; default: the last spatial or token layer)", {},
          FOIL_DEFENCE(layer, std::string)),
  };
}

#undef FOIL_DEFENCE

}  // namespace

const std::vector<OptionField<NeutralizeOptions>>& neutralize_option_fields() {
  static const std::vector<OptionField<NeutralizeOptions>> table = make_neutralize_table();
  return table;
}

}  // namespace foil
