#pragma once
/// @file
/// Natural robustness: accuracy under the common corruptions (foil/corrupt/corruptions.h) per
/// corruption and severity, the mean corruption accuracy, and, against a baseline model, the
/// corruption error CE and mCE of Hendrycks & Dietterich (ICLR 2019) and the relative mCE.
/// The benchmark normalises by AlexNet's errors on ImageNet-C; foil normalises by the baseline
/// model the caller gives (on the same corrupted images) and names it.
///
/// Example:
///   foil::CorruptionAuditOptions o;
///   o.corruptions = foil::parse_corruptions("noise,fog", "corruptions");
///   foil::CorruptionAuditResult r = foil::run_corruption_audit(*model, data, o);

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/data/dataset.h"
#include "foil/jobs/job.h"
#include "foil/models/model.h"

namespace foil {

/// Which corruptions, how hard, and how the images are taken.
struct CorruptionAuditOptions {
  /// Corruption names (parse_corruptions); empty: none (the audit then skips the section).
  std::vector<std::string> corruptions;
  std::vector<int> severities{1, 2, 3, 4, 5};  ///< each in 1..5
  uint64_t seed = 0;                           ///< the corruptions' randomness
  int64_t batch = 250;                         ///< images per pass
  /// Store each corrupted image as the published set of its table did before it is used
  /// (store_as_published: CIFAR-10-C truncated to 8 bits, Tiny-ImageNet-C and ImageNet-C
  /// also JPEG quality 85), so accuracies compare with published ones. Default off: the
  /// float images as computed.
  bool as_published = false;
  Log log;  ///< a line per corruption
};

/// Accuracies of one model under each corruption and severity.
struct CorruptionScores {
  std::string model;                          ///< its name
  double clean = 0;                           ///< accuracy on the clean images
  std::vector<std::vector<double>> accuracy;  ///< [corruption][severity]
  std::vector<int64_t> clean_per_class;       ///< items right per class on the clean images
  /// Items right per class under the worst corruption, summed over its severities.
  std::vector<int64_t> worst_per_class;
};

/// What the corruption audit found; `write` gives its files.
struct CorruptionAuditResult {
  /// The constants used: cifar-10-c, tiny-imagenet-c or imagenet-c (corruption_table).
  std::string table;
  bool as_published = false;             ///< the images were stored as the published set's
  int64_t n = 0;                         ///< items
  std::vector<std::string> class_names;  ///< the data's
  std::vector<int64_t> class_counts;     ///< items per class
  /// Items without a label (photos), judged against the model's clean prediction instead.
  int64_t labelled_by_model = 0;
  std::vector<std::string> corruptions;  ///< as run, in the benchmark's order
  std::vector<int> severities;           ///< as run
  std::vector<std::string> skipped;      ///< corruptions that cannot apply, with why
  uint64_t seed = 0;                     ///< the corruptions' randomness
  CorruptionScores model;                ///< the audited model
  bool has_baseline = false;             ///< `baseline` was measured
  CorruptionScores baseline;             ///< the baseline model, on the same images
  std::string worst;  ///< the corruption of the lowest mean accuracy over severities
  /// This process's seconds corrupting and in the models' forwards on the corrupted images.
  std::pair<double, double> seconds{0, 0};
  /// The same for the clean images (nothing to corrupt: the forwards alone).
  std::pair<double, double> clean_seconds{0, 0};

  /// Mean accuracy over severities, per corruption.
  std::vector<double> mean_accuracy(const CorruptionScores& s) const;
  /// Mean accuracy over the benchmark corruptions run and their severities (-1: none run).
  double mean_corruption_accuracy(const CorruptionScores& s) const;
  /// CE per corruption: the model's errors summed over severities over the baseline's (-1
  /// without a baseline, or when the baseline makes no error).
  std::vector<double> ce() const;
  /// Relative CE per corruption: the same with each error less the clean error (-1 when
  /// undefined).
  std::vector<double> relative_ce() const;
  /// The corruptions whose relative CE is undefined: the baseline's errors under them do not
  /// exceed its clean error (relative mCE is then undefined too).
  std::vector<std::string> relative_ce_undefined() const;
  /// The mean of `per_corruption` over the benchmark corruptions run (-1 when any is
  /// undefined or none ran): mCE from ce(), relative mCE from relative_ce().
  double benchmark_mean(const std::vector<double>& per_corruption) const;

  /// Class `k`'s name (its number when the data names none).
  std::string class_label(int64_t k) const;
  /// `right` of class `k`'s items over `runs` runs as a share (-1: the class has none).
  double class_share(int64_t right, int64_t k, size_t runs) const;

  /// corruptions.json's content.
  nlohmann::json to_json() const;
  /// The console summary: the table, the means, mCE, the worst corruption per class.
  std::vector<std::string> lines() const;
  /// Writes corruptions.json, corruptions.csv, corruptions.png (a corruption x severity heat
  /// map) and corruption_examples.png (the first image under every corruption at severity 3,
  /// or the middle one run).
  void write(const std::string& dir, const Dataset& data) const;
};

/// What `write_corrupted_data` wrote.
struct CorruptedDataResult {
  std::vector<std::string> folders;  ///< one image folder per corruption and severity
  std::vector<std::string> skipped;  ///< corruptions that cannot apply, with why
  int64_t images = 0;                ///< image files written
  std::string table;                 ///< the constants used
  bool as_published = false;         ///< stored as the published set's before written
  /// corrupt.json's content: the data, table, storage, seed, folders, skipped.
  nlohmann::json to_json(const Dataset& data, uint64_t seed) const;
};

/// Writes `data` under each corruption and severity of `options` into `dir` as image folders
/// `dir`/CORRUPTION-SEVERITY/ with the data's class layout (one sub-folder per class, named as
/// the class with '/' written '_'; photos without labels: the folder itself), PNG files
/// named by item, and `dir`/corrupt.json. Each folder reads back as a dataset
/// (`--data dir/fog-3`).
CorruptedDataResult write_corrupted_data(const Dataset& data, const CorruptionAuditOptions& options,
                                         const std::string& dir);

/// Throws InputError for options that cannot run (no severity, a bad batch).
void check_corruption_options(const CorruptionAuditOptions& options);

/// The corruption fields a user sets (foil/core/option_fields.h): `foil corrupt`'s flags and
/// those of the audit's corruption section (--corruptions, --severities, --as-published).
const std::vector<OptionField<CorruptionAuditOptions>>& corruption_option_fields();
/// What `foil corrupt` and the audit start from: every corruption at severities 1-5.
CorruptionAuditOptions every_corruption();

/// Runs `model` (and `baseline`, when given) on `data` under every corruption and severity of
/// `options`; shared out between the processes of a job. Corruptions that cannot apply to the
/// data (saturate on grey images) are skipped and named in the result.
CorruptionAuditResult run_corruption_audit(Model& model, const Dataset& data,
                                           const CorruptionAuditOptions& options,
                                           Model* baseline = nullptr);

}  // namespace foil
