// The trainer's option table (foil/train/trainer.h): `foil train`'s flags.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "foil/core/error.h"
#include "foil/models/zoo.h"
#include "foil/train/trainer.h"

namespace foil {
namespace {

using Type = OptionType;
using TrainField = OptionField<TrainOptions>;

TrainField train_field(
    std::string flag, Type type, std::string group, std::string help,
    std::function<void(TrainOptions&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const TrainOptions&)> get, double lo = -1e300, double hi = 1e300) {
  return make_option<TrainOptions>(std::move(flag), type, std::move(group), std::move(help), {},
                                   std::move(set), std::move(get), lo, hi);
}

/// A text field that takes one of `names`.
using train_Member = std::string& (*)(TrainOptions&);
TrainField train_one_of(std::string flag, std::string group, std::string help,
                        std::vector<std::string> names, train_Member member) {
  return train_field(
      std::move(flag), Type::kText, std::move(group), std::move(help),
      [names, member](TrainOptions& o, const OptionValue& v, const std::string& name) {
        const auto& text = std::get<std::string>(v);
        check_input(std::find(names.begin(), names.end(), text) != names.end(), name,
                    fmt::format("one of {}", fmt::join(names, ", ")), "'" + text + "'");
        member(o) = text;
      },
      [member](const TrainOptions& o) -> OptionValue {
        TrainOptions copy = o;
        return member(copy);
      });
}

#define FOIL_TRAIN(member, T) FOIL_OPTION_ARG(TrainOptions, member, T)

std::vector<TrainField> make_train_table() {
  const std::string kModel = "Model and optimiser", kAdv = "Adversarial training (--adv-train pgd)",
                    kAug = "Augmentation for certificates";
  std::vector<TrainField> t = {
      train_one_of("--arch", kModel, "architecture", zoo_architectures(),
                   [](TrainOptions& o) -> std::string& { return o.arch(); }),
      train_field("--epochs", Type::kInteger, kModel, "epochs", FOIL_TRAIN(epochs, int64_t), 1,
                  10000),
      train_field("--batch", Type::kInteger, kModel, "batch size", FOIL_TRAIN(batch, int64_t), 1,
                  100000),
      train_field("--lr", Type::kNumber, kModel, "peak learning rate (Adam, one-cycle)",
                  FOIL_TRAIN(lr, double), 0, 10),
      train_one_of("--adv-train", kAdv, "none or pgd (Madry et al.)", {"none", "pgd"},
                   [](TrainOptions& o) -> std::string& { return o.adv_train(); }),
      train_field("--eps", Type::kNumber, kAdv, "adversarial training: Linf radius",
                  FOIL_TRAIN(adv_eps, double), 0, 1),
      train_field("--alpha", Type::kNumber, kAdv, "adversarial training: PGD step",
                  FOIL_TRAIN(adv_alpha, double), 0, 1),
      train_field("--steps", Type::kInteger, kAdv, "adversarial training: PGD steps",
                  FOIL_TRAIN(adv_steps, int64_t), 1, 100000),
      train_field("--noise-sd", Type::kNumber, kAug,
                  "Gaussian data augmentation of this sd (base classifiers for 'foil certify', as "
                  "Cohen et al.); 0: none",
                  FOIL_TRAIN(noise_sd, double), 0, 10),
      train_field(
          "--cutout", Type::kNumber, kAug,
          "masked training for 'foil certify --patch' (Cutout, as PatchCleanser's base "
          "models): two square holes of this share of the image side per training image; 0: "
          "none",
          FOIL_TRAIN(cutout, double), 0, 1),
  };
  for (auto& f : t) f.open_lo = f.flag == "--lr" || f.flag == "--alpha";
  return t;
}

#undef FOIL_TRAIN

}  // namespace

const std::vector<OptionField<TrainOptions>>& train_option_fields() {
  static const std::vector<OptionField<TrainOptions>> table = make_train_table();
  return table;
}

}  // namespace foil
