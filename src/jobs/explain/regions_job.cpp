// The regions job: RoI vs RoA over a dataset, per item and in all.
#include "foil/jobs/regions_job.h"

#include <fmt/format.h>

#include "foil/core/error.h"
#include "foil/distributed/dist.h"
#include "foil/jobs/faithfulness_job.h"
#include "foil/regions/regions.h"

namespace foil {
namespace {

nlohmann::json stats(const torch::Tensor& v) {
  const torch::Tensor d = v.to(torch::kDouble);
  return {{"mean", d.mean().item<double>()},
          {"std", d.numel() > 1 ? d.std().item<double>() : 0.0},
          {"min", d.min().item<double>()},
          {"max", d.max().item<double>()}};
}

double rate(const torch::Tensor& b) { return b.to(torch::kDouble).mean().item<double>(); }

/// Colours of the four parts: both yellow, RoI only green, RoA only red, neither black.
torch::Tensor segregation_map(const torch::Tensor& roi, const torch::Tensor& roa) {
  const torch::Tensor r = roa.to(torch::kFloat), g = roi.to(torch::kFloat);
  return torch::stack({r, g, torch::zeros_like(r)});
}

}  // namespace

void check_regions_options(const RegionsJobOptions& o) {
  check_input(o.q > 0 && o.q < 100, "--q", "a percentage in (0, 100)", fmt::format("{}", o.q));
  check_input(o.roa == "gradient" || o.roa == "delta", "--roa", "gradient or delta",
              "'" + o.roa + "'");
  check_input(o.attack != nullptr, "regions", "an attack", "none");
  check_input(o.batch >= 1 && o.panels >= 1, "--batch/--panels", "counts >= 1",
              fmt::format("{}/{}", o.batch, o.panels));
}

RegionsJobResult run_regions(Model& model, const Dataset& data, const RegionsJobOptions& o) {
  check_regions_options(o);
  const ExplainMethod method = o.method;
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  RegionsJobResult r;
  const std::string layer =
      explain_uses_layer(method)
          ? (o.layer.empty() ? default_cam_layer(model, data.images) : o.layer)
          : "";
  const std::string roa_name =
      o.roa == "gradient" ? "the attack's accumulated |gradient| (ties: |delta|)" : "|delta|";
  log(fmt::format(
      "regions of {} on {} ({} items): RoI = top {}% of {}{}, RoA = top {}% of {} for {}",
      model.info().name, data.source, data.size(), o.q, explain_method_name(method),
      layer.empty() ? "" : " at '" + layer + "'", o.q, roa_name, o.attack->describe()));
  // Each process analyses its share of the batches. Per item, as gathered: iou, the RoA's
  // tied share, pixel and |delta| shares of the 4 parts, then whether it is classified correctly
  // clean, attacked, with delta only in each part, only in the RoI, only in the RoA.
  // The first batch's owner also keeps its first panels: importance, attack score, RoI, RoA.
  torch::Tensor panel = torch::zeros({0, 4, data.images.size(2), data.images.size(3)});
  const torch::Tensor table = dist::map_batches(
      data.size(), o.batch, torch::zeros({0, 18}, torch::kDouble),
      [&](int64_t b, int64_t e) {
        const torch::Tensor x = data.images.slice(0, b, e).to(model.device());
        torch::Tensor y = data.labels.slice(0, b, e).to(model.device());
        torch::Tensor pred;
        {
          torch::NoGradGuard g;
          pred = model.forward(x).argmax(1);
        }
        y = torch::where(y.lt(0), pred, y);
        const auto r =
            o.attack->run(model, x, Criterion::misclassification(y), torch::arange(b, e));
        const torch::Tensor cam = explain(model, x, pred, method, layer, o.explain);
        const RegionAnalysis a = analyze_regions(
            model, x, r.adv, y, cam, o.q, o.roa == "gradient" ? r.grad_score : torch::Tensor());
        if (b == 0) {
          const int64_t k = std::min<int64_t>(o.panels, e);
          const torch::Tensor score = o.roa == "gradient" ? r.grad_score : (r.adv - x).abs().sum(1);
          panel = torch::stack({cam.slice(0, 0, k).cpu(), score.slice(0, 0, k).cpu(),
                                a.roi.slice(0, 0, k).cpu(), a.roa.slice(0, 0, k).cpu()},
                               1)
                      .to(torch::kFloat);
        }
        auto col = [](const torch::Tensor& t) {
          return t.cpu().to(torch::kDouble).view({t.size(0), -1});
        };
        return torch::cat({col(a.iou), col(a.roa_tied_share), col(a.pixel_share), col(a.mass_share),
                           col(a.correct_clean), col(a.correct_full), col(a.correct_in_part),
                           col(a.correct_in_roi), col(a.correct_in_roa)},
                          1);
      },
      "regions");
  panel = dist::all_gather_rows(panel);
  auto bools = [&](int64_t from, int64_t to) { return table.slice(1, from, to).gt(0.5); };
  const torch::Tensor iou = table.select(1, 0), tied = table.select(1, 1);
  const double chance = iou_chance(o.q);
  const torch::Tensor pixel = table.slice(1, 2, 6), mass = table.slice(1, 6, 10),
                      in_part = bools(12, 16);
  nlohmann::json split = nlohmann::json::object();
  for (size_t k = 0; k < 4; ++k) {
    const int64_t i = static_cast<int64_t>(k);
    split[region_parts()[k]] = {{"pixel_share", stats(pixel.select(1, i))},
                                {"mass_share", stats(mass.select(1, i))},
                                {"accuracy_with_delta_only_here", rate(in_part.select(1, i))}};
  }
  const nlohmann::json accuracy = {{"clean", rate(bools(10, 11))},
                                   {"full_attack", rate(bools(11, 12))},
                                   {"delta_only_in_roi", rate(bools(16, 17))},
                                   {"delta_only_in_roa", rate(bools(17, 18))}};
  r.summary = {
      {"model", model.info().name},
      {"data", data.source},
      {"n", data.size()},
      {"attack", o.attack->describe()},
      {"importance", explain_method_name(method)},
      {"layer", layer},
      {"q", o.q},
      {"roa_score", o.roa},
      {"iou", stats(iou)},
      {"iou_chance", chance},
      {"roa_tied_share", stats(tied)},
      {"split", split},
      {"accuracy", accuracy},
      {"importance_faithfulness",
       method_faithfulness(model, data.images.slice(0, 0, std::min<int64_t>(100, data.size())),
                           method, layer, o.explain, o.batch)}};
  std::vector<std::vector<std::string>>& csv = r.csv;
  for (int64_t i = 0; i < data.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i), fmt::format("{:.4f}", iou[i].item<double>()),
                                    fmt::format("{:.4f}", chance),
                                    fmt::format("{:.4f}", tied[i].item<double>())};
    for (int64_t k = 0; k < 4; ++k)
      row.push_back(fmt::format("{:.4f}", pixel[i][k].item<double>()));
    for (int64_t k = 0; k < 4; ++k) row.push_back(fmt::format("{:.4f}", mass[i][k].item<double>()));
    for (int64_t k = 0; k < 4; ++k) row.push_back(std::to_string(in_part[i][k].item<bool>()));
    csv.push_back(row);
  }
  std::vector<std::string>& header = r.csv_header;
  header = {"index", "iou", "iou_chance", "roa_tied_share"};
  for (const char* what : {"pixels_", "mass_", "correct_delta_only_"})
    for (const auto& p : region_parts()) header.push_back(what + p);
  // Panels: image, CAM overlay, |delta|, segregation map.
  std::vector<std::vector<GridCell>>& rows = r.panels;
  rows.resize(4);
  const int64_t k = panel.size(0);
  const torch::Tensor cam_n = normalize_maps(panel.select(1, 0));
  const torch::Tensor mag_n = normalize_maps(panel.select(1, 1));
  for (int64_t i = 0; i < k; ++i) {
    rows[0].push_back({data.images[i], fmt::format("IoU {:.2f}", iou[i].item<double>()), false});
    rows[1].push_back({overlay(data.images[i], cam_n[i]), explain_method_name(method), false});
    rows[2].push_back(
        {mag_n[i].unsqueeze(0), o.roa == "gradient" ? "attack score" : "|delta|", false});
    rows[3].push_back(
        {segregation_map(panel[i][2].gt(0.5), panel[i][3].gt(0.5)), "regions", false});
  }
  r.lines.push_back(fmt::format(
      "IoU(RoI, RoA) {:.3f} +- {:.3f}   (two random {}% regions: {:.3f}; pixels tied at the RoA "
      "cut {:.1f}%)",
      iou.mean().item<double>(), iou.numel() > 1 ? iou.std().item<double>() : 0.0, o.q, chance,
      100 * tied.mean().item<double>()));
  r.lines.push_back(
      fmt::format("{:<10}{:>10}{:>10}{:>22}", "part", "pixels", "|delta|", "accuracy, delta only"));
  for (size_t p = 0; p < 4; ++p)
    r.lines.push_back(fmt::format("{:<10}{:>9.1f}%{:>9.1f}%{:>21.1f}%", region_parts()[p],
                                  100 * pixel.select(1, p).mean().item<double>(),
                                  100 * mass.select(1, p).mean().item<double>(),
                                  100 * rate(in_part.select(1, p))));
  r.lines.push_back(fmt::format(
      "accuracy: clean {:.1f}%, full attack {:.1f}%, delta only in RoI {:.1f}%, only in "
      "RoA {:.1f}%",
      100 * accuracy["clean"].get<double>(), 100 * accuracy["full_attack"].get<double>(),
      100 * accuracy["delta_only_in_roi"].get<double>(),
      100 * accuracy["delta_only_in_roa"].get<double>()));
  r.lines.push_back(faithfulness_line(r.summary["importance_faithfulness"]));
  return r;
}

void RegionsJobResult::write(const std::string& dir) const {
  write_json(dir + "/regions.json", summary);
  write_csv(dir + "/regions.csv", csv_header, csv);
  const RowKey heat{RowKey::Kind::jet, "low", "high"};
  const RowKey legend{RowKey::Kind::swatches,
                      "",
                      "",
                      {{{1, 1, 0}, "both"},
                       {{0, 1, 0}, "RoI only"},
                       {{1, 0, 0}, "RoA only"},
                       {{0, 0, 0}, "neither"}}};
  write_image_grid(dir + "/panels.png", panels, {"image", "importance", "attack", "regions"}, 112,
                   {{}, heat, {RowKey::Kind::grey, "0", "max"}, legend});
}

namespace {

std::vector<OptionField<RegionsJobOptions>> make_regions_table() {
  using O = RegionsJobOptions;
  const std::string kGroup = "Regions";
  std::vector<OptionField<O>> t = {
      make_option<O>("--layer", OptionType::kText, kGroup,
                     "CAM layer (default: the last spatial or token layer)", {},
                     FOIL_OPTION_MEMBER(O, layer, std::string)),
      make_option<O>("--q", OptionType::kNumber, kGroup, "percent of pixels in RoI and in RoA", {},
                     FOIL_OPTION_MEMBER(O, q, double), 0, 100),
      make_option<O>("--roa", OptionType::kText, kGroup,
                     "Region of Attack score: gradient (the attack's |gradient| accumulated over "
                     "its steps, ties broken by |delta|) or delta (|delta| alone; for L2 attacks: "
                     "sign attacks make it flat)",
                     {}, FOIL_OPTION_MEMBER(O, roa, std::string)),
      make_option<O>("--batch", OptionType::kInteger, kGroup, "batch size", {},
                     FOIL_OPTION_MEMBER(O, batch, int64_t), 1, 100000),
      make_option<O>("--panels", OptionType::kInteger, kGroup, "images in panels.png", {},
                     FOIL_OPTION_MEMBER(O, panels, int64_t), 1, 32),
  };
  t[1].open_lo = true;
  return t;
}

}  // namespace

const std::vector<OptionField<RegionsJobOptions>>& regions_option_fields() {
  static const std::vector<OptionField<RegionsJobOptions>> table = make_regions_table();
  return table;
}

}  // namespace foil
