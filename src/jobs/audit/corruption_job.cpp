// The corruption audit: accuracy per corruption and severity, mCE against a baseline.
#include "foil/jobs/corruption_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"
#include "foil/distributed/dist.h"
#include "foil/jobs/job.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

nlohmann::json or_null(double v) { return v < 0 ? nlohmann::json() : nlohmann::json(v); }

std::string pct(double v) { return v < 0 ? "n/a" : fmt::format("{:.2f}%", 100 * v); }

/// `images` under corruption `name` at `severity`, stored as the published set of `table`
/// when `as_published`.
torch::Tensor corrupted(const torch::Tensor& images, const std::string& name, int severity,
                        uint64_t seed, int64_t first, const std::string& table, bool as_published) {
  const torch::Tensor x = corrupt(images, name, severity, seed, first);
  return as_published ? store_as_published(x, table) : x;
}

/// The JSON fields that say which table ran and how the images were stored.
void add_table(nlohmann::json& j, const std::string& table, bool as_published) {
  j["table"] = table;
  j["table_rule"] =
      "by the images' longer side: under 48 pixels cifar-10-c (made for 32), 48 to 99 "
      "tiny-imagenet-c (made for 64), 100 and over imagenet-c (made for 224)";
  j["as_published"] = as_published;
  j["published_storage"] = published_storage(table);
  j["storage"] = as_published ? "as the published set (--as-published): " + published_storage(table)
                              : "none: the corrupted float images as computed (not the published "
                                "set's storage; --as-published applies it)";
}

/// The console's words for the table and storage.
std::string table_words(const std::string& table, bool as_published) {
  return fmt::format("{} constants{}", table, as_published ? ", stored as published" : "");
}

/// Whether each item is classified right by `model` and by `baseline` (N×2, the second
/// column false without a baseline), the images of items [b, e) given by `images_of`. Adds
/// this process's seconds making the images and in the forwards to `seconds`.
torch::Tensor verdicts(Model& model, Model* baseline, const torch::Tensor& labels, int64_t batch,
                       const std::function<torch::Tensor(int64_t, int64_t)>& images_of,
                       const std::string& progress, std::pair<double, double>& seconds) {
  return dist::map_batches(
      labels.size(0), batch, torch::zeros({0, 2}, torch::kBool),
      [&](int64_t b, int64_t e) {
        const double start = now_seconds();
        const torch::Tensor x = images_of(b, e);
        const double made = now_seconds();
        seconds.first += made - start;
        const torch::Tensor y = labels.slice(0, b, e);
        torch::NoGradGuard g;
        torch::Tensor ok = torch::zeros({e - b, 2}, torch::kBool);
        ok.select(1, 0).copy_(model.forward(x.to(model.device())).argmax(1).cpu().eq(y));
        if (baseline)
          ok.select(1, 1).copy_(baseline->forward(x.to(baseline->device())).argmax(1).cpu().eq(y));
        seconds.second += now_seconds() - made;
        return ok;
      },
      progress);
}

double share(const torch::Tensor& ok) {
  return ok.numel() == 0 ? 0.0 : ok.to(torch::kDouble).mean().item<double>();
}

/// Items right per class (the labels' classes, `classes` of them).
std::vector<int64_t> per_class(const torch::Tensor& ok, const torch::Tensor& labels,
                               int64_t classes) {
  const torch::Tensor counts =
      torch::zeros({classes}, torch::kLong).index_add_(0, labels, ok.to(torch::kLong));
  return std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + classes);
}

}  // namespace

void check_corruption_options(const CorruptionAuditOptions& o) {
  for (const auto& c : o.corruptions) corruption_info(c);
  check_input(!o.severities.empty(), "--severities", "severities in 1..5", "none");
  for (int s : o.severities)
    check_input(s >= 1 && s <= 5, "--severities", "severities in 1..5", std::to_string(s));
  check_input(o.batch >= 1, "--batch", "a batch of at least 1", std::to_string(o.batch));
}

CorruptionAuditResult run_corruption_audit(Model& model, const Dataset& data,
                                           const CorruptionAuditOptions& o, Model* baseline) {
  check_corruption_options(o);
  check_input(data.size() > 0, "corruption audit data", "at least one item", "none");
  // mCE divides by the baseline's errors on the same classes: a model of other classes or
  // inputs has no errors to compare.
  if (baseline) check_fits(model, *baseline, data, "--baseline");
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  CorruptionAuditResult r;
  r.n = data.size();
  r.class_names = data.class_names;
  r.severities = o.severities;
  r.seed = o.seed;
  r.table = corruption_table(data.images.size(2), data.images.size(3));
  r.as_published = o.as_published;
  for (const auto& name : o.corruptions) {
    const std::string unfit = corruption_unfit(name, data.images.size(1));
    if (unfit.empty()) {
      r.corruptions.push_back(name);
    } else {
      r.skipped.push_back(unfit);
      log("skipped: " + unfit);
    }
  }
  // Photos without labels are judged against the model's own clean prediction.
  Dataset labelled = data;
  r.labelled_by_model = label_unlabelled(labelled, model, o.log);
  const torch::Tensor labels = labelled.labels.to(torch::kCPU);
  const int64_t classes = std::max<int64_t>(static_cast<int64_t>(data.class_names.size()),
                                            labels.max().item<int64_t>() + 1);
  r.class_counts = per_class(torch::ones_like(labels, torch::kBool), labels, classes);
  r.model.model = model.info().name;
  r.has_baseline = baseline != nullptr;
  if (baseline) r.baseline.model = baseline->info().name;

  const torch::Tensor clean = verdicts(
      model, baseline, labels, o.batch,
      [&](int64_t b, int64_t e) { return data.images.slice(0, b, e); }, "", r.clean_seconds);
  r.model.clean = share(clean.select(1, 0));
  r.baseline.clean = share(clean.select(1, 1));
  r.model.clean_per_class = per_class(clean.select(1, 0), labels, classes);
  r.baseline.clean_per_class = per_class(clean.select(1, 1), labels, classes);
  log(fmt::format(
      "corruptions ({}, {} images): clean accuracy {}{}", table_words(r.table, r.as_published), r.n,
      pct(r.model.clean),
      baseline ? fmt::format(", baseline {} {}", r.baseline.model, pct(r.baseline.clean)) : ""));
  std::vector<std::vector<int64_t>> right_per_class(r.corruptions.size());
  for (size_t c = 0; c < r.corruptions.size(); ++c) {
    const std::string& name = r.corruptions[c];
    const double start = now_seconds();
    std::vector<double> acc, base;
    std::vector<int64_t> summed(classes, 0);
    for (int s : o.severities) {
      const torch::Tensor ok = verdicts(
          model, baseline, labels, o.batch,
          [&](int64_t b, int64_t e) {
            return corrupted(data.images.slice(0, b, e), name, s, o.seed, b, r.table,
                             o.as_published);
          },
          fmt::format("{} {}", name, s), r.seconds);
      acc.push_back(share(ok.select(1, 0)));
      base.push_back(share(ok.select(1, 1)));
      const auto pc = per_class(ok.select(1, 0), labels, classes);
      for (int64_t k = 0; k < classes; ++k) summed[k] += pc[k];
    }
    right_per_class[c] = summed;
    r.model.accuracy.push_back(acc);
    r.baseline.accuracy.push_back(base);
    std::string row;
    for (double a : acc) row += fmt::format(" {:>7}", pct(a));
    log(fmt::format("{:<18}{}  ({:.1f}s)", name, row, now_seconds() - start));
  }
  const std::vector<double> means = r.mean_accuracy(r.model);
  if (!means.empty()) {
    const size_t w = std::min_element(means.begin(), means.end()) - means.begin();
    r.worst = r.corruptions[w];
    r.model.worst_per_class = right_per_class[w];
  }
  if (!baseline) r.baseline = CorruptionScores{};
  log(fmt::format("corrupting took {:.1f}s, the forwards on the corrupted images {:.1f}s ({:.2f}x)",
                  r.seconds.first, r.seconds.second,
                  r.seconds.second > 0 ? r.seconds.first / r.seconds.second : 0.0));
  return r;
}

std::vector<double> CorruptionAuditResult::mean_accuracy(const CorruptionScores& s) const {
  std::vector<double> out;
  for (const auto& row : s.accuracy) {
    double sum = 0;
    for (double a : row) sum += a;
    out.push_back(row.empty() ? 0 : sum / row.size());
  }
  return out;
}

double CorruptionAuditResult::mean_corruption_accuracy(const CorruptionScores& s) const {
  double sum = 0;
  int64_t count = 0;
  for (size_t c = 0; c < corruptions.size() && c < s.accuracy.size(); ++c) {
    if (!corruption_info(corruptions[c]).benchmark) continue;
    for (double a : s.accuracy[c]) sum += a, ++count;
  }
  return count == 0 ? -1 : sum / count;
}

namespace {

/// Per corruption: the model's errors summed over severities over the baseline's, each error
/// less its model's `offset` (-1 without a baseline or where the baseline's sum is not > 0).
std::vector<double> error_ratios(const CorruptionAuditResult& r, double model_offset,
                                 double baseline_offset) {
  std::vector<double> out(r.corruptions.size(), -1);
  if (!r.has_baseline) return out;
  for (size_t c = 0; c < r.corruptions.size(); ++c) {
    double mine = 0, theirs = 0;
    for (size_t s = 0; s < r.severities.size(); ++s) {
      mine += (1 - r.model.accuracy[c][s]) - model_offset;
      theirs += (1 - r.baseline.accuracy[c][s]) - baseline_offset;
    }
    if (theirs > 0) out[c] = mine / theirs;
  }
  return out;
}

}  // namespace

std::vector<double> CorruptionAuditResult::ce() const { return error_ratios(*this, 0, 0); }

std::vector<double> CorruptionAuditResult::relative_ce() const {
  return error_ratios(*this, 1 - model.clean, 1 - baseline.clean);
}

std::vector<std::string> CorruptionAuditResult::relative_ce_undefined() const {
  std::vector<std::string> out;
  const auto rce = relative_ce();
  for (size_t c = 0; c < corruptions.size(); ++c)
    if (has_baseline && rce[c] < 0) out.push_back(corruptions[c]);
  return out;
}

double CorruptionAuditResult::benchmark_mean(const std::vector<double>& per) const {
  double sum = 0;
  int count = 0;
  for (size_t c = 0; c < corruptions.size() && c < per.size(); ++c) {
    if (!corruption_info(corruptions[c]).benchmark) continue;
    if (per[c] < 0) return -1;
    sum += per[c], ++count;
  }
  return count == 0 ? -1 : sum / count;
}

nlohmann::json CorruptionAuditResult::to_json() const {
  const auto means = mean_accuracy(model), base_means = mean_accuracy(baseline);
  const auto ces = ce(), rces = relative_ce();
  nlohmann::json rows = nlohmann::json::array();
  for (size_t c = 0; c < corruptions.size(); ++c) {
    const CorruptionInfo& info = corruption_info(corruptions[c]);
    nlohmann::json row = {{"name", info.name},
                          {"family", info.family},
                          {"benchmark", info.benchmark},
                          {"accuracy", model.accuracy[c]},
                          {"mean_accuracy", means[c]}};
    if (!info.variant.empty()) row["variant"] = info.variant;
    if (has_baseline) {
      row["baseline_accuracy"] = baseline.accuracy[c];
      row["ce"] = or_null(ces[c]);
      row["relative_ce"] = or_null(rces[c]);
    }
    rows.push_back(row);
  }
  const int64_t classes = static_cast<int64_t>(model.clean_per_class.size());
  nlohmann::json j = {
      {"n", n},
      {"seed", seed},
      {"severities", severities},
      {"labelled_by_model", labelled_by_model},
      {"chance", classes > 0 ? 1.0 / classes : 0.0},
      {"clean_accuracy", model.clean},
      {"mean_corruption_accuracy", or_null(mean_corruption_accuracy(model))},
      {"mean_corruption_accuracy_covers", "the benchmark corruptions run (not the held-out)"},
      {"corruptions", rows},
      {"skipped", skipped},
      {"seconds_corrupting", seconds.first},
      {"seconds_forwards", seconds.second},
      {"seconds_clean_forwards", clean_seconds.second}};
  add_table(j, table, as_published);
  if (has_baseline) {
    j["baseline"] = {{"model", baseline.model},
                     {"clean_accuracy", baseline.clean},
                     {"mean_corruption_accuracy", or_null(mean_corruption_accuracy(baseline))}};
    j["mce"] = or_null(benchmark_mean(ces));
    j["relative_mce"] = or_null(benchmark_mean(rces));
    j["relative_ce_undefined_for"] = relative_ce_undefined();
    j["normalised_by"] = "the baseline model " + baseline.model +
                         " on the same corrupted images (the benchmark normalises by AlexNet)";
  } else {
    j["baseline"] = nullptr;
    j["mce"] = nullptr;
    j["relative_mce"] = nullptr;
    j["normalised_by"] = "no baseline given: mCE needs one (--baseline)";
  }
  if (!worst.empty()) {
    nlohmann::json per = nlohmann::json::array();
    for (int64_t k = 0; k < classes; ++k)
      per.push_back(
          {{"class", class_label(k)},
           {"items", class_counts[k]},
           {"clean_accuracy", class_share(model.clean_per_class[k], k, 1)},
           {"corrupted_accuracy", class_share(model.worst_per_class[k], k, severities.size())}});
    j["worst"] = {{"name", worst}, {"per_class", per}};
  }
  return j;
}

std::string CorruptionAuditResult::class_label(int64_t k) const {
  return k < static_cast<int64_t>(class_names.size()) ? class_names[k] : std::to_string(k);
}

double CorruptionAuditResult::class_share(int64_t right, int64_t k, size_t runs) const {
  const int64_t total = class_counts[k] * static_cast<int64_t>(runs);
  return total == 0 ? -1 : static_cast<double>(right) / static_cast<double>(total);
}

std::vector<std::string> CorruptionAuditResult::lines() const {
  const int64_t classes = static_cast<int64_t>(class_counts.size());
  std::vector<std::string> out;
  std::string head = fmt::format("{:<18}", "corruption");
  for (int s : severities) head += fmt::format(" {:>7}", fmt::format("sev {}", s));
  out.push_back(head + "     mean");
  const auto means = mean_accuracy(model);
  for (size_t c = 0; c < corruptions.size(); ++c) {
    std::string row = fmt::format("{:<18}", corruptions[c]);
    for (double a : model.accuracy[c]) row += fmt::format(" {:>7}", pct(a));
    out.push_back(row +
                  fmt::format("  {:>7}{}", pct(means[c]),
                              corruption_info(corruptions[c]).benchmark ? "" : "  (held out)"));
  }
  out.push_back(fmt::format(
      "clean accuracy {}, mean corruption accuracy {} over the benchmark corruptions run "
      "(chance {}; {})",
      pct(model.clean), pct(mean_corruption_accuracy(model)), pct(classes > 0 ? 1.0 / classes : 0),
      table_words(table, as_published)));
  if (has_baseline) {
    out.push_back(
        fmt::format("mCE {} and relative mCE {} against the baseline {} (clean {}, mean corruption "
                    "accuracy {}; 100% = as the baseline, lower is better)",
                    pct(benchmark_mean(ce())), pct(benchmark_mean(relative_ce())), baseline.model,
                    pct(baseline.clean), pct(mean_corruption_accuracy(baseline))));
    const auto undefined = relative_ce_undefined();
    if (!undefined.empty())
      out.push_back(fmt::format(
          "relative CE undefined (the baseline's errors under it do not exceed its clean "
          "error): {}",
          fmt::join(undefined, ", ")));
  } else {
    out.push_back("mCE: give a baseline model (--baseline) to normalise the errors by");
  }
  if (!worst.empty()) {
    std::string per;
    for (int64_t k = 0; k < classes; ++k)
      if (class_counts[k] > 0)
        per += fmt::format("{}{} {} -> {}", per.empty() ? "" : ", ", class_label(k),
                           pct(class_share(model.clean_per_class[k], k, 1)),
                           pct(class_share(model.worst_per_class[k], k, severities.size())));
    out.push_back(fmt::format("worst: {} (per class, clean -> corrupted: {})", worst, per));
  }
  for (const auto& s : skipped) out.push_back("skipped: " + s);
  return out;
}

void CorruptionAuditResult::write(const std::string& dir, const Dataset& data) const {
  write_json(dir + "/corruptions.json", to_json());
  std::vector<std::string> header = {"corruption", "family", "benchmark", "severity", "accuracy"};
  if (has_baseline) header.push_back("baseline_accuracy");
  std::vector<std::vector<std::string>> rows;
  for (size_t c = 0; c < corruptions.size(); ++c) {
    const CorruptionInfo& info = corruption_info(corruptions[c]);
    for (size_t s = 0; s < severities.size(); ++s) {
      std::vector<std::string> row = {info.name, info.family, info.benchmark ? "yes" : "no",
                                      std::to_string(severities[s]),
                                      fmt::format("{:.6f}", model.accuracy[c][s])};
      if (has_baseline) row.push_back(fmt::format("{:.6f}", baseline.accuracy[c][s]));
      rows.push_back(row);
    }
  }
  write_csv(dir + "/corruptions.csv", header, rows);
  if (corruptions.empty()) return;
  std::vector<std::string> cols;
  for (int s : severities) cols.push_back(fmt::format("severity {}", s));
  write_heatmap(dir + "/corruptions.png",
                fmt::format("accuracy under each corruption (clean {})", pct(model.clean)),
                corruptions, cols, model.accuracy);
  // The first image under every corruption, by family, at severity 3 (or the middle one run).
  const int shown = severities[severities.size() / 2];
  const torch::Tensor first = data.images.slice(0, 0, 1);
  std::vector<std::vector<GridCell>> grid = {{{first[0], "clean"}}};
  std::vector<std::string> titles = {"clean"};
  for (const std::string family : {"noise", "blur", "weather", "digital"}) {
    std::vector<GridCell> row;
    for (const auto& name : corruptions)
      if (corruption_info(name).family == family)
        row.push_back({corrupted(first, name, shown, seed, 0, table, as_published)[0], name});
    if (row.empty()) continue;
    grid.push_back(row);
    titles.push_back(fmt::format("{}, severity {}", family, shown));
  }
  write_image_grid(dir + "/corruption_examples.png", grid, titles);
}

nlohmann::json CorruptedDataResult::to_json(const Dataset& data, uint64_t seed) const {
  nlohmann::json j = {{"data", data.source}, {"items", data.size()}, {"seed", seed},
                      {"folders", folders},  {"images", images},     {"skipped", skipped}};
  add_table(j, table, as_published);
  return j;
}

CorruptedDataResult write_corrupted_data(const Dataset& data, const CorruptionAuditOptions& o,
                                         const std::string& dir) {
  check_corruption_options(o);
  check_input(data.size() > 0, "data to corrupt", "at least one item", "none");
  CorruptedDataResult r;
  r.table = corruption_table(data.images.size(2), data.images.size(3));
  r.as_published = o.as_published;
  const torch::Tensor labels = data.labels.to(torch::kCPU);
  // Each item's file, relative to a corruption's folder.
  std::vector<std::string> names(data.size());
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t y = labels[i].item<int64_t>();
    const std::string stem =
        i < static_cast<int64_t>(data.frames.size()) && !data.frames[i].path.empty()
            ? fmt::format("{:05d}-{}", i,
                          std::filesystem::path(data.frames[i].path).stem().string())
            : fmt::format("{:05d}", i);
    names[i] = y >= 0 ? folder_safe_name(y < static_cast<int64_t>(data.class_names.size())
                                             ? data.class_names[y]
                                             : std::to_string(y)) +
                            "/" + stem + ".png"
                      : stem + ".png";
  }
  for (const auto& name : o.corruptions) {
    const std::string unfit = corruption_unfit(name, data.images.size(1));
    if (!unfit.empty()) {
      r.skipped.push_back(unfit);
      if (o.log) o.log("skipped: " + unfit);
      continue;
    }
    for (int s : o.severities) {
      const std::string folder = fmt::format("{}-{}", name, s);
      for (int64_t b = 0; b < data.size(); b += o.batch) {
        const int64_t e = std::min(data.size(), b + o.batch);
        const torch::Tensor x =
            corrupted(data.images.slice(0, b, e), name, s, o.seed, b, r.table, o.as_published);
        for (int64_t i = b; i < e; ++i) {
          const std::string path = dir + "/" + folder + "/" + names[i];
          std::filesystem::create_directories(std::filesystem::path(path).parent_path());
          write_image(path, x[i - b]);
          ++r.images;
        }
      }
      r.folders.push_back(folder);
      if (o.log) o.log(fmt::format("wrote {} ({} images)", folder, data.size()));
    }
  }
  write_json(dir + "/corrupt.json", r.to_json(data, o.seed));
  return r;
}

}  // namespace foil
