// The faithfulness job: every importance method's deletion and insertion curves, ranked.
#include "foil/jobs/faithfulness_job.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// Images shown with each method's maps in methods.png.
constexpr int64_t kExamples = 6;

/// The rank score: the insertion area minus the deletion area (higher: more faithful).
double score(const FaithfulnessRow& r) { return r.curves.insertion_auc - r.curves.deletion_auc; }

/// The predicted classes of `x`, `batch` images per pass.
torch::Tensor predicted(Model& model, const torch::Tensor& x, int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < x.size(0); b += batch)
    parts.push_back(model.forward(x.slice(0, b, std::min(x.size(0), b + batch))).argmax(1).cpu());
  return torch::cat(parts);
}

/// One method's maps of `x` for `classes`, `batch` images per pass.
torch::Tensor maps_of(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                      ExplainMethod m, const std::string& layer, const ExplainOptions& o,
                      int64_t batch) {
  std::vector<torch::Tensor> maps;
  for (int64_t b = 0; b < x.size(0); b += batch) {
    const int64_t e = std::min(x.size(0), b + batch);
    maps.push_back(explain(model, x.slice(0, b, e), classes.slice(0, b, e), m, layer, o).cpu());
  }
  return torch::cat(maps);
}

}  // namespace

std::string protocol_words(const FaithfulnessOptions& o) {
  if (o.protocol == "rise")
    return "RISE's protocol (deletion to the model's mean colour, insertion from RISE's 11x11 "
           "sigma-5 blur in normalised space, one image row of pixels per step)";
  return fmt::format("foil's protocol ({} baseline for deletion and insertion, {} steps)",
                     o.baseline, o.steps);
}

nlohmann::json method_faithfulness(Model& model, const torch::Tensor& x, ExplainMethod method,
                                   const std::string& layer, const ExplainOptions& explain,
                                   int64_t batch) {
  const torch::Tensor classes = predicted(model, x, batch);
  FaithfulnessOptions fo;
  fo.batch = batch;
  const FaithfulnessCurves c = faithfulness(
      model, x, classes, maps_of(model, x, classes, method, layer, explain, batch), fo);
  at::Generator gen = at::detail::createCPUGenerator(explain.seed);
  const FaithfulnessCurves r =
      faithfulness(model, x, classes, torch::rand({x.size(0), x.size(2), x.size(3)}, gen), fo);
  return {{"method", explain_method_name(method)},
          {"n", x.size(0)},
          {"protocol", fo.protocol},
          {"baseline", fo.baseline},
          {"deletion_auc", c.deletion_auc},
          {"insertion_auc", c.insertion_auc},
          {"random_deletion_auc", r.deletion_auc},
          {"random_insertion_auc", r.insertion_auc}};
}

std::string faithfulness_line(const nlohmann::json& row) {
  return fmt::format(
      "importance map {}: deletion AUC {:.4f}, insertion AUC {:.4f} (a random pixel order: "
      "{:.4f}, {:.4f}; first {} items)",
      row["method"].get<std::string>(), row["deletion_auc"].get<double>(),
      row["insertion_auc"].get<double>(), row["random_deletion_auc"].get<double>(),
      row["random_insertion_auc"].get<double>(), row["n"].get<int64_t>());
}

FaithfulnessJobResult run_faithfulness(Model& model, const Dataset& data,
                                       const FaithfulnessJobOptions& o) {
  check_explain_options(o.explain);
  check_faithfulness_options(o.faithfulness);
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  FaithfulnessJobResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.n = data.size();
  r.curves = o.faithfulness;
  const std::vector<ExplainMethod>& methods = o.methods.empty() ? explain_methods() : o.methods;
  const torch::Tensor x = data.images;
  const torch::Tensor classes = predicted(model, x, o.explain.batch);
  bool need_layer = false;
  for (ExplainMethod m : methods) need_layer = need_layer || explain_uses_layer(m);
  r.layer = need_layer ? (o.layer.empty() ? default_cam_layer(model, x) : o.layer) : "";
  const int64_t shown = std::min<int64_t>(r.n, kExamples);
  r.examples = x.slice(0, 0, shown).cpu();
  for (int64_t i = 0; i < shown; ++i) {
    const int64_t k = classes[i].item<int64_t>();
    const auto& names = model.info().class_names;
    r.example_captions.push_back(
        "predicted " + (k < static_cast<int64_t>(names.size()) ? names[k] : std::to_string(k)));
  }
  auto add = [&](const std::string& name, const torch::Tensor& maps, double seconds) {
    FaithfulnessRow row{name, faithfulness(model, x, classes, maps, o.faithfulness),
                        road(model, x, classes, maps, o.faithfulness.batch, o.seed), seconds,
                        normalize_maps(maps.slice(0, 0, shown).cpu())};
    if (o.log)
      o.log(
          fmt::format("{:<12} deletion AUC {:.4f}  insertion AUC {:.4f}  ROAD MoRF {:.4f} LeRF "
                      "{:.4f}  ({:.1f} s)",
                      name, row.curves.deletion_auc, row.curves.insertion_auc, row.road.morf_mean,
                      row.road.lerf_mean, seconds));
    r.rows.push_back(std::move(row));
  };
  for (ExplainMethod m : methods) {
    const double start = now_seconds();
    const torch::Tensor maps = maps_of(model, x, classes, m, r.layer, o.explain, o.explain.batch);
    add(explain_method_name(m), maps, now_seconds() - start);
  }
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  add("random", torch::rand({r.n, x.size(2), x.size(3)}, gen), 0);
  std::stable_sort(r.rows.begin(), r.rows.end(),
                   [](const auto& a, const auto& b) { return score(a) > score(b); });
  auto say = [&](const std::string& line) {
    r.lines.push_back(line);
    if (o.log) o.log(line);
  };
  say(fmt::format("\n{:<4}{:<12}{:>10}{:>11}{:>12}{:>11}{:>11}{:>10}{:>10}{:>10}", "", "method",
                  "deletion", "insertion", "ins - del", "ROAD MoRF", "ROAD LeRF", "avg drop",
                  "increase", "seconds"));
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const auto& row = r.rows[i];
    say(fmt::format(
        "{:<4}{:<12}{:>10.4f}{:>11.4f}{:>12.4f}{:>11.4f}{:>11.4f}{:>9.1f}%{:>9.1f}%{:>10.1f}",
        i + 1, row.method, row.curves.deletion_auc, row.curves.insertion_auc, score(row),
        row.road.morf_mean, row.road.lerf_mean, 100 * row.curves.average_drop,
        100 * row.curves.increase_in_confidence, row.seconds));
  }
  say(fmt::format(
      "(areas under the class probability as the map's most important pixels are removed "
      "(deletion: lower is more faithful) or put back (insertion: higher), {}, {} "
      "images, their predicted class; ROAD: the mean probability with 10..90% of the pixels "
      "imputed by noisy linear imputation, most important first (MoRF: lower is more faithful) "
      "or least important first (LeRF: higher); avg drop / increase: the class probability's "
      "mean relative drop (lower) and the share of images where it rises (higher) when the "
      "image is masked by its map in the model's normalised space; 'random' orders the pixels at "
      "random: the chance level)",
      protocol_words(o.faithfulness), r.n));
  return r;
}

nlohmann::json FaithfulnessJobResult::to_json() const {
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& row : rows)
    methods.push_back({{"method", row.method},
                       {"deletion_auc", row.curves.deletion_auc},
                       {"insertion_auc", row.curves.insertion_auc},
                       {"insertion_minus_deletion", score(row)},
                       {"average_drop", row.curves.average_drop},
                       {"increase_in_confidence", row.curves.increase_in_confidence},
                       {"road_morf_mean", row.road.morf_mean},
                       {"road_lerf_mean", row.road.lerf_mean},
                       {"road_morf", row.road.morf},
                       {"road_lerf", row.road.lerf},
                       {"seconds", row.seconds}});
  return {{"model", model},
          {"data", data},
          {"n", n},
          {"layer", layer},
          {"protocol", curves.protocol},
          {"protocol_meaning", protocol_words(curves)},
          {"methods", methods},
          {"meaning",
           "deletion/insertion (Petsiuk et al. 2018): the mean probability of each image's "
           "predicted class as the map's most important pixels are replaced by the baseline "
           "(deletion, lower area = more faithful) or restored from it (insertion, higher = more "
           "faithful); ranked by insertion minus deletion; ROAD (Rong et al. 2022): the mean "
           "class probability with 10%..90% of the pixels replaced by noisy linear imputation, "
           "most important first (road_morf, lower = more faithful) or least important first "
           "(road_lerf, higher); average_drop and increase_in_confidence (Chattopadhay et al. "
           "2018): the class probability on the image masked by its map scaled to [0,1] (in the "
           "model's normalised space: masked-out pixels take its mean colour) against the "
           "image's, the mean relative drop (lower = more faithful) and the share of images where "
           "it rises; 'random' is a random pixel order, the chance level"}};
}

void FaithfulnessJobResult::write(const std::string& dir) const {
  write_json(dir + "/faithfulness.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.curves.shares.size(); ++i)
      csv.push_back({row.method, fmt::format("{:.4f}", row.curves.shares[i]),
                     fmt::format("{:.6f}", row.curves.deletion[i]),
                     fmt::format("{:.6f}", row.curves.insertion[i])});
  write_csv(dir + "/faithfulness.csv", {"method", "share", "deletion", "insertion"}, csv);
  for (const bool deletion : {true, false}) {
    std::vector<Series> series;
    for (const auto& row : rows)
      series.push_back({row.method, row.curves.shares,
                        deletion ? row.curves.deletion : row.curves.insertion,
                        row.method == "random"});
    write_line_plot(dir + (deletion ? "/deletion.svg" : "/insertion.svg"),
                    fmt::format("{}: {} curves", model, deletion ? "deletion" : "insertion"),
                    deletion ? "share of pixels removed" : "share of pixels put back",
                    "probability of the predicted class", series);
  }
  // Rows: the images, then each method's maps over them, most faithful first.
  std::vector<std::vector<GridCell>> grid(1);
  std::vector<std::string> titles{"image"};
  std::vector<RowKey> keys{{}};
  for (int64_t i = 0; i < examples.size(0); ++i)
    grid[0].push_back({examples[i], example_captions[i]});
  for (size_t m = 0; m < rows.size(); ++m) {
    if (rows[m].method == "random") continue;
    grid.emplace_back();
    for (int64_t i = 0; i < examples.size(0); ++i)
      grid.back().push_back({overlay(examples[i], rows[m].examples[i]), ""});
    titles.push_back(fmt::format("#{} {}", m + 1, rows[m].method));
    keys.push_back({RowKey::Kind::jet, "0", "max"});
  }
  write_image_grid(dir + "/methods.png", grid, titles, 112, keys);
}

}  // namespace foil
