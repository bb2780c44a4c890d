// The prediction job's option table (foil/jobs/predict_job.h): `foil predict`'s flags.
#include "foil/jobs/predict_job.h"

namespace foil {
namespace {

using Type = OptionType;
using PredictField = OptionField<PredictOptions>;

std::vector<PredictField> make_predict_table() {
  const std::string kGroup = "Predictions";
  std::vector<PredictField> t = {
      make_option<PredictOptions>("--top", Type::kInteger, kGroup, "classes to show per image", {},
                                  FOIL_OPTION_MEMBER(PredictOptions, top, int64_t), 1, 1000),
      make_option<PredictOptions>("--show", Type::kInteger, kGroup,
                                  "images to print (all go to --json)", {},
                                  FOIL_OPTION_MEMBER(PredictOptions, show, int64_t), 0),
      make_option<PredictOptions>(
          "--min-score", Type::kNumber, kGroup,
          "detectors: the score a detection needs (default: the model's own, 0.3)", {},
          FOIL_OPTION_MEMBER(PredictOptions, min_score, double), 0, 1),
      make_option<PredictOptions>("--labels", Type::kSwitch, kGroup,
                                  "--draw: write each keypoint's name and score beside it", {},
                                  FOIL_OPTION_MEMBER(PredictOptions, labels, bool)),
  };
  t[2].own_default = true;
  return t;
}

}  // namespace

const std::vector<OptionField<PredictOptions>>& predict_option_fields() {
  static const std::vector<OptionField<PredictOptions>> table = make_predict_table();
  return table;
}

}  // namespace foil
