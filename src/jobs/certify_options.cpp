#include "foil/jobs/certify_options.h"

#include <algorithm>

#include "foil/core/error.h"

namespace foil {
namespace {

using Type = OptionType;
using CertifyField = OptionField<CertifySettings>;

#define FOIL_SMOOTHING(member, T) FOIL_OPTION_ARG(CertifySettings, smoothing.smoothing.member, T)
#define FOIL_PATCH(member, T) FOIL_OPTION_MEMBER(CertifySettings, patch.member, T)

CertifyField certify_field(
    std::string flag, Type type, std::string help, std::vector<std::string> used_by,
    std::function<void(CertifySettings&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const CertifySettings&)> get, double lo = -1e300, double hi = 1e300) {
  const std::string group = used_by.empty()                ? "Smoothing and PatchCleanser"
                            : used_by.front() == "--patch" ? "PatchCleanser (--patch)"
                                                           : "Randomized smoothing";
  return make_option<CertifySettings>(std::move(flag), type, group, std::move(help),
                                      std::move(used_by), std::move(set), std::move(get), lo, hi);
}

std::vector<CertifyField> make_certify_table() {
  const std::vector<std::string> smooth = {"smoothing"}, patch = {"--patch"};
  std::vector<CertifyField> t = {
      certify_field("--sigma", Type::kNumber, "noise standard deviation (pixels in [0,1])", smooth,
                    FOIL_SMOOTHING(sigma, double)),
      certify_field("--n0", Type::kInteger, "noise samples that select the class", smooth,
                    FOIL_SMOOTHING(n0, int64_t)),
      certify_field(
          "--n", Type::kInteger,
          "noise samples that estimate its probability (the paper's 100000; fewer for a quick "
          "run: the largest radius shrinks with n)",
          smooth, FOIL_SMOOTHING(n, int64_t)),
      certify_field("--alpha", Type::kNumber, "probability that a certificate is wrong", smooth,
                    FOIL_SMOOTHING(alpha, double)),
      certify_field(
          "--batch", Type::kInteger, "noisy (or masked) copies per forward pass", {},
          [](CertifySettings& s, const OptionValue& v, const std::string&) {
            s.smoothing.smoothing.batch(std::get<int64_t>(v));
            s.patch.batch = std::get<int64_t>(v);
          },
          [](const CertifySettings& s) -> OptionValue { return s.smoothing.smoothing.batch(); }),
      certify_field(
          "--attack-eps", Type::kText,
          "SmoothAdv (Salman et al. 2019: PGD-L2 on the smoothed soft classifier) at these L2 "
          "budgets, judged by the smoothed model; 'none' to skip",
          smooth,
          [](CertifySettings& s, const OptionValue& v, const std::string& name) {
            static const auto budgets =
                budget_list<CertifyOptions>("", "", "", {}, &CertifyOptions::attack_eps);
            const std::string& text = std::get<std::string>(v);
            check_input(!text.empty(), name, "L2 budgets > 0, or none", "''");
            if (text == "none") return s.smoothing.attack_eps.clear();
            set_option(s.smoothing, budgets, parse_option_text(budgets, text, name), name);
          },
          [](const CertifySettings& s) -> OptionValue {
            return s.smoothing.attack_eps.empty() ? std::string("none")
                                                  : option_text(s.smoothing.attack_eps);
          }),
      certify_field("--attack-steps", Type::kInteger, "SmoothAdv's PGD steps", smooth,
                    FOIL_OPTION_MEMBER(CertifySettings, smoothing.attack_steps, int64_t), 1,
                    100000),
      certify_field("--attack-samples", Type::kInteger, "noise copies per SmoothAdv gradient",
                    smooth, FOIL_OPTION_MEMBER(CertifySettings, smoothing.attack_samples, int64_t),
                    1, 10000),
      certify_field(
          "--patch", Type::kNumbers,
          "certify against one adversarial patch instead (PatchCleanser's double masking): "
          "patch areas as shares of the image, e.g. 0.02,0.05,0.1; the certified patch is the "
          "square of side ceil(sqrt(area x H x W)) pixels, anywhere on the image",
          patch,
          [](CertifySettings& s, const OptionValue& v, const std::string&) {
            s.patch.areas = std::get<std::vector<double>>(v);
            std::sort(s.patch.areas.begin(), s.patch.areas.end());
          },
          [](const CertifySettings& s) -> OptionValue { return s.patch.areas; }, 0, 1),
      certify_field("--masks", Type::kInteger,
                    "mask positions per axis (K = masks^2 masks, K(K+1)/2 forward passes per item)",
                    patch, FOIL_PATCH(masks_per_axis, int64_t), 1, 64),
      certify_field("--per-image-steps", Type::kInteger,
                    "ascent steps of the per-image patch attacks (0: none)", patch,
                    FOIL_PATCH(per_image_steps, int64_t), 0, 100000),
      certify_field("--positions", Type::kInteger,
                    "per-image attacks try positions x positions places per item", patch,
                    FOIL_PATCH(positions, int64_t), 1, 64),
      certify_field("--attack-epochs", Type::kInteger,
                    "epochs of each universal attack patch (0: none)", patch,
                    FOIL_PATCH(attack_epochs, int64_t), 0, 1000),
      certify_field("--repeats", Type::kInteger,
                    "random placements per item when an attack patch is evaluated", patch,
                    FOIL_PATCH(repeats, int64_t), 1, 100),
  };
  for (auto& f : t) {
    if (f.flag == "--patch") {
      f.open_lo = true;
      f.own_default = true;  // off unless given
    }
  }
  return t;
}

#undef FOIL_SMOOTHING
#undef FOIL_PATCH

}  // namespace

const std::vector<OptionField<CertifySettings>>& certify_option_fields() {
  static const std::vector<OptionField<CertifySettings>> table = make_certify_table();
  return table;
}

}  // namespace foil
