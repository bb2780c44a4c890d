// The common corruptions' option table (foil/jobs/corruption_job.h): `foil corrupt`'s flags
// and the audit's corruption section.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "foil/corrupt/corruptions.h"
#include "foil/jobs/corruption_job.h"

namespace foil {
namespace {

using Type = OptionType;
using CorruptionField = OptionField<CorruptionAuditOptions>;

std::vector<CorruptionField> make_corruption_table() {
  const std::string kGroup = "Common corruptions";
  std::vector<CorruptionField> t = {
      make_option<CorruptionAuditOptions>(
          "--corruptions", Type::kText, kGroup,
          "the common corruptions (Hendrycks & Dietterich): all, benchmark (the 15 of mCE), "
          "held-out, noise, blur, weather, digital, names, e.g. fog,jpeg_compression, or none "
          "(default: all)",
          {},
          [](CorruptionAuditOptions& o, const OptionValue& v, const std::string& name) {
            const auto& text = std::get<std::string>(v);
            o.corruptions =
                text == "none" ? std::vector<std::string>{} : parse_corruptions(text, name);
          },
          [](const CorruptionAuditOptions& o) -> OptionValue {
            return o.corruptions.empty() ? std::string("none")
                                         : fmt::format("{}", fmt::join(o.corruptions, ","));
          }),
      make_option<CorruptionAuditOptions>(
          "--severities", Type::kText, kGroup, "severities: 1-5, 3 or 1,3,5 (default: 1-5)", {},
          [](CorruptionAuditOptions& o, const OptionValue& v, const std::string& name) {
            o.severities = parse_severities(std::get<std::string>(v), name);
          },
          [](const CorruptionAuditOptions& o) -> OptionValue {
            return fmt::format("{}", fmt::join(o.severities, ","));
          }),
      make_option<CorruptionAuditOptions>(
          "--as-published", Type::kSwitch, kGroup,
          "store each corrupted image as the published set did before it is used: CIFAR-10-C "
          "(images under 48 px) truncated to 8 bits, Tiny-ImageNet-C (48-99 px) and ImageNet-C "
          "(100 px and over) also JPEG quality 85, to compare with published accuracies",
          {}, FOIL_OPTION_MEMBER(CorruptionAuditOptions, as_published, bool)),
  };
  t[0].own_default = t[1].own_default = true;
  return t;
}

}  // namespace

const std::vector<OptionField<CorruptionAuditOptions>>& corruption_option_fields() {
  static const std::vector<OptionField<CorruptionAuditOptions>> table = make_corruption_table();
  return table;
}

CorruptionAuditOptions every_corruption() {
  CorruptionAuditOptions o;
  o.corruptions = parse_corruptions("all", "--corruptions");
  return o;
}

}  // namespace foil
