// The keypoint jobs' option table (foil/jobs/keypoint_jobs.h): `foil keypoints attack` and
// `foil keypoints table` flags.
#include <algorithm>

#include "foil/jobs/keypoint_jobs.h"
#include "foil/jobs/train_job.h"

namespace foil {
namespace {

using Type = OptionType;
using KeypointField = OptionField<KeypointTableOptions>;

#define FOIL_MASK(member, T) FOIL_OPTION_ARG(KeypointTableOptions, mask.member, T)

KeypointField keypoint_field(
    std::string flag, Type type, std::string group, std::string help,
    std::vector<std::string> used_by,
    std::function<void(KeypointTableOptions&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const KeypointTableOptions&)> get, double lo = -1e300,
    double hi = 1e300) {
  return make_option<KeypointTableOptions>(std::move(flag), type, std::move(group), std::move(help),
                                           std::move(used_by), std::move(set), std::move(get), lo,
                                           hi);
}

std::vector<KeypointField> make_keypoint_table() {
  const std::string kMask = "Relational mask (KAA+ER)", kJudge = "Target and judging",
                    kAttack = "Attack";
  const std::vector<std::string> all, attack = {"attack"};
  std::vector<KeypointField> t = {
      keypoint_field("--layer", Type::kText, kMask,
                     "heatmap layer k (a tap; default: the model output, or the heatmap node of a "
                     "TensorFlow.js keypoint model)",
                     all, FOIL_MASK(layer, std::string)),
      keypoint_field(
          "--outputs", Type::kText, kMask,
          "Jacobian rows: peak,x,y per keypoint (foil's 3K summaries) or heatmap (all K*h*w "
          "elements of layer k, as the source)",
          all, FOIL_MASK(outputs, std::string)),
      keypoint_field("--jacobian-threshold", Type::kNumber, kMask,
                     "threshold on |J| relative to each output's largest", all,
                     FOIL_MASK(jacobian_threshold, double)),
      keypoint_field(
          "--jacobian-threshold-abs", Type::kNumber, kMask,
          "absolute threshold alpha on J (the source's; overrides the relative one; default: "
          "off)",
          all, FOIL_MASK(jacobian_threshold_abs, double), 0),
      keypoint_field("--mask-rule", Type::kText, kMask,
                     "both (a row has +1 and -1) or strict (its values are exactly {+1,-1}, as the "
                     "source)",
                     all, FOIL_MASK(mask_rule, std::string)),
      keypoint_field("--per-pixel", Type::kSwitch, kMask,
                     "one mask value per pixel, shared by its channels (as the source)", all,
                     FOIL_MASK(per_pixel, bool)),
      keypoint_field("--eps", Type::kNumber, kAttack, "budget", attack, FOIL_MASK(eps, double)),
      keypoint_field("--alpha", Type::kNumber, kAttack, "step size", attack,
                     FOIL_MASK(alpha, double)),
      keypoint_field("--steps", Type::kInteger, kAttack, "iterations", attack,
                     FOIL_MASK(steps, int64_t), 1, 100000),
      keypoint_field("--norm", Type::kText, kAttack, "linf or l2", attack,
                     FOIL_MASK(norm, std::string)),
      keypoint_field("--mask", Type::kText, kAttack, "none (KAA) or relational (KAA+ER)", attack,
                     FOIL_MASK(mask, std::string)),
      budget_list<KeypointTableOptions>("--linf-eps", "Attack", "Linf budgets", {"table"},
                                        &KeypointTableOptions::linf_eps),
      budget_list<KeypointTableOptions>("--l2-eps", "Attack", "L2 budgets", {"table"},
                                        &KeypointTableOptions::l2_eps),
      keypoint_field("--steps", Type::kInteger, kAttack, "iterations (step 2.5 eps / steps)",
                     {"table"}, FOIL_OPTION_MEMBER(KeypointTableOptions, steps, int64_t), 1,
                     100000),
      keypoint_field(
          "--target", Type::kText, kJudge,
          "target pose: shift:DX,DY | swap (left/right) | item:I | file:POSE.json (attack "
          "default: non-target; table: its target rows)",
          all, FOIL_OPTION_MEMBER(KeypointTableOptions, target, std::string)),
      keypoint_field("--tau", Type::kNumber, kJudge, "success threshold in pixels", all,
                     FOIL_OPTION_MEMBER(KeypointTableOptions, judging.tau, double)),
      keypoint_field("--tau-3d", Type::kNumber, kJudge,
                     "3-D models (BlazePose): success threshold in metres of the world coordinates",
                     all, FOIL_OPTION_MEMBER(KeypointTableOptions, judging.tau_3d, double)),
      keypoint_field("--batch", Type::kInteger, kJudge,
                     "images per pass (the unit shared out between processes)", all,
                     FOIL_OPTION_MEMBER(KeypointTableOptions, judging.batch, int64_t), 1, 100000),
  };
  for (auto& f : t) f.own_default = f.flag == "--jacobian-threshold-abs";
  return t;
}

#undef FOIL_MASK

}  // namespace

const std::vector<OptionField<KeypointTableOptions>>& keypoint_option_fields() {
  static const std::vector<OptionField<KeypointTableOptions>> table = make_keypoint_table();
  return table;
}

KeypointTableOptions keypoint_attack_defaults() {
  KeypointTableOptions o;
  o.mask.mask("relational");
  o.target = "";
  return o;
}

const std::vector<OptionField<PoseTrainOptions>>& pose_train_option_fields() {
  using O = PoseTrainOptions;
  static const std::vector<OptionField<O>> table = [] {
    std::vector<OptionField<O>> t = {
        make_option<O>("--epochs", OptionType::kInteger, "Training", "epochs", {},
                       FOIL_OPTION_ARG(O, epochs, int64_t), 1, 10000),
        make_option<O>("--batch", OptionType::kInteger, "Training", "batch size", {},
                       FOIL_OPTION_ARG(O, batch, int64_t), 1, 100000),
        make_option<O>("--lr", OptionType::kNumber, "Training", "peak learning rate", {},
                       FOIL_OPTION_ARG(O, lr, double), 0, 10),
    };
    t[2].open_lo = true;
    return t;
  }();
  return table;
}

}  // namespace foil
