#include "foil/patch/option_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <type_traits>

#include "foil/core/error.h"
#include "foil/corrupt/corruptions.h"

namespace foil {
namespace {

using Type = OptionType;
using PatchField = OptionField<PatchSettings>;

#define FOIL_SETTING(part, member, T) FOIL_OPTION_ARG(PatchSettings, part.member, T)

PatchField patch_field(
    std::string flag, Type type, std::string group, std::string help,
    std::vector<std::string> used_by,
    std::function<void(PatchSettings&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const PatchSettings&)> get, double lo = -1e300, double hi = 1e300) {
  return make_option<PatchSettings>(std::move(flag), type, std::move(group), std::move(help),
                                    std::move(used_by), std::move(set), std::move(get), lo, hi);
}

/// A "min,max" range of two numbers > 0 into two fields of the placement.
using Bound = double& (*)(PlacementOptions&);
PatchField patch_range_field(std::string flag, std::string help, Bound lo, Bound hi) {
  PatchField f = patch_field(
      std::move(flag), Type::kNumbers, "Placement", std::move(help), {},
      [lo, hi](PatchSettings& s, const OptionValue& v, const std::string& name) {
        const auto& r = std::get<std::vector<double>>(v);
        check_input(r[0] > 0 && r[0] <= r[1], name, "min,max with 0 < min <= max", option_text(v));
        lo(s.placement) = r[0];
        hi(s.placement) = r[1];
      },
      [lo, hi](const PatchSettings& s) -> OptionValue {
        PlacementOptions p = s.placement;
        return std::vector<double>{lo(p), hi(p)};
      });
  f.count = 2;
  return f;
}

std::vector<PatchField> make_patch_table() {
  const std::vector<std::string> all, made = {"train", "transfer"};
  const std::string kForm = "Patch", kPlace = "Placement", kObj = "Objective", kTrain = "Training";
  std::vector<PatchField> t = {
      patch_field("--param", Type::kText, kForm, "grid (printable cells) or free", all,
                  FOIL_SETTING(patch, param, std::string)),
      patch_field("--cells", Type::kInteger, kForm, "grid cells per side", all,
                  FOIL_SETTING(patch, cells, int64_t), 1, 256),
      patch_field("--area", Type::kNumber, kForm, "patch area as a fraction of the image, (0, 0.5]",
                  all, FOIL_SETTING(patch, area, double)),
      patch_field("--shape", Type::kText, kForm, "square or circle", all,
                  FOIL_SETTING(patch, shape, std::string)),
      patch_field("--init", Type::kText, kForm, "starting patch: grey (0.5 everywhere) or random",
                  made, FOIL_SETTING(patch, init, std::string)),
      patch_field("--keep-out", Type::kNumber, kPlace,
                  "central fraction of the image the patch avoids", all,
                  FOIL_SETTING(placement, keep_out, double)),
      patch_field(
          "--on-object", Type::kNumber, kPlace,
          "--task detect: put the patch on the object, its centre in this central fraction of "
          "the box of the class's best detection (0: the box centre, 1: anywhere in the box; "
          "images without one: anywhere; default: anywhere on the image)",
          all, FOIL_SETTING(placement, on_object, double), 0, 1),
      patch_field(
          "--objects", Type::kInteger, kPlace,
          "--on-object: a patch on each of the class's N best detections per image (Thys et "
          "al. put one on every person), the same patch each time",
          all, FOIL_SETTING(placement, objects, int64_t), 1, 1000),
      patch_field("--eot", Type::kSwitch, kPlace,
                  "expectation over transformation (scale, rotation, brightness, contrast, noise)",
                  all, FOIL_SETTING(placement, eot, bool)),
      patch_range_field(
          "--scale", "EOT area scale range min,max",
          [](PlacementOptions& p) -> double& { return p.scale_min(); },
          [](PlacementOptions& p) -> double& { return p.scale_max(); }),
      patch_field("--rotation", Type::kNumber, kPlace, "EOT rotation +- degrees", all,
                  FOIL_SETTING(placement, rotation, double), 0, 180),
      patch_field("--brightness", Type::kNumber, kPlace, "EOT brightness +-", all,
                  FOIL_SETTING(placement, brightness, double), 0, 1),
      patch_range_field(
          "--contrast", "EOT contrast range min,max (factors, 1 = unchanged)",
          [](PlacementOptions& p) -> double& { return p.contrast_min(); },
          [](PlacementOptions& p) -> double& { return p.contrast_max(); }),
      patch_field("--noise", Type::kNumber, kPlace, "EOT Gaussian noise sigma", all,
                  FOIL_SETTING(placement, noise, double), 0, 1),
      patch_field("--tilt", Type::kNumber, kPlace, "EOT perspective tilt about x and y, +- degrees",
                  all, FOIL_SETTING(placement, tilt, double)),
      patch_field(
          "--eot-corruptions", Type::kTexts, kPlace,
          "common corruptions each image draws one of (severity 1-5) after the patch is pasted, "
          "e.g. jpeg_compression,gaussian_blur or blur; gradients pass them straight through "
          "(BPDA); with or without --eot",
          all,
          [](PatchSettings& s, const OptionValue& v, const std::string& name) {
            const auto& names = std::get<std::vector<std::string>>(v);
            s.placement.eot_corruptions(
                names.empty() ? names
                              : parse_corruptions(fmt::format("{}", fmt::join(names, ",")), name));
          },
          [](const PatchSettings& s) -> OptionValue { return s.placement.eot_corruptions(); }),
      patch_field("--loss", Type::kText, kObj,
                  "ce, feature or ot (default ce); with --task detect also vanish (hide the class: "
                  "lower its best score) or appear (raise it), default vanish",
                  {"train"}, FOIL_SETTING(objective, loss, std::string)),
      patch_field("--layers", Type::kTexts, kObj,
                  "taps for feature/ot, comma-separated (default: the second-to-last layer)", made,
                  FOIL_SETTING(objective, layers, std::vector<std::string>)),
      patch_field(
          "--layer-weights", Type::kNumbers, kObj, "one weight per layer (>= 0, one > 0)", made,
          [](PatchSettings& s, const OptionValue& v, const std::string& name) {
            const auto& w = std::get<std::vector<double>>(v);
            check_input(w.empty() || *std::max_element(w.begin(), w.end()) > 0, name,
                        "weights >= 0, at least one > 0", option_text(v));
            s.objective.weights(w);
          },
          [](const PatchSettings& s) -> OptionValue { return s.objective.weights(); }, 0),
      patch_field("--projections", Type::kInteger, kObj, "sliced Wasserstein directions per step",
                  made, FOIL_SETTING(objective, projections, int64_t), 1, 100000),
      patch_field("--exact-1d", Type::kSwitch, kObj, "OT: exact 1-D W2 per feature axis instead",
                  made, FOIL_SETTING(objective, exact_1d, bool)),
      patch_field(
          "--target-data", Type::kText, kObj,
          "feature/ot: data spec of the clean target-class images they match (default: the "
          "training images of --target; unlabelled data: the images each source model predicts "
          "as --target); never the --eval-data source",
          made,
          [](PatchSettings& s, const OptionValue& v, const std::string&) {
            s.target_spec = std::get<std::string>(v);
          },
          [](const PatchSettings& s) -> OptionValue { return s.target_spec; }),
      patch_field("--max-target-images", Type::kInteger, kObj,
                  "clean target-class images for OT/feature", made,
                  FOIL_SETTING(objective, max_target_images, int64_t), 1, 1000000),
      patch_field("--epochs", Type::kInteger, kTrain, "epochs", made,
                  FOIL_SETTING(train, epochs, int64_t), 1, 10000),
      patch_field("--batch", Type::kInteger, kTrain, "batch size", made,
                  FOIL_SETTING(train, batch, int64_t), 1, 100000),
      patch_field("--optimizer", Type::kText, kTrain, "adam or sgd (momentum 0.9)", made,
                  FOIL_SETTING(train, optimizer, std::string)),
      patch_field("--lr", Type::kNumber, kTrain, "learning rate", made,
                  FOIL_SETTING(train, lr, double), 0, 1e6),
      patch_field("--tv", Type::kNumber, kTrain, "total-variation weight", made,
                  FOIL_SETTING(train, tv, double), 0, 1e6),
  };
  for (auto& f : t) {
    f.own_default = f.flag == "--on-object";  // off unless given
    f.open_lo = f.flag == "--lr";
  }
  return t;
}

#undef FOIL_SETTING

}  // namespace

const std::vector<OptionField<PatchSettings>>& patch_option_fields() {
  static const std::vector<OptionField<PatchSettings>> table = make_patch_table();
  return table;
}

}  // namespace foil
