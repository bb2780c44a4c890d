// The explain job: maps of a dataset, clean and attacked or patched, and what they show.
#include "foil/jobs/explain_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "foil/core/error.h"
#include "foil/dist/dist.h"
#include "foil/patch/patch.h"
#include "foil/patch/trainer.h"

namespace foil {
namespace {

/// A class given by index or by one of the model's class names; nullopt for anything else.
std::optional<int64_t> class_index(const std::string& choice,
                                   const std::vector<std::string>& names) {
  const auto it = std::find(names.begin(), names.end(), choice);
  if (it != names.end()) return it - names.begin();
  return parse_integer(choice);
}

/// "pred", "label", a class index or a class name, for every image.
torch::Tensor classes_for(const std::string& choice, const torch::Tensor& pred,
                          const torch::Tensor& labels, int64_t num_classes,
                          const std::vector<std::string>& names) {
  if (choice == "pred") return pred;
  if (choice == "label") {
    check_input(labels.min().item<int64_t>() >= 0, "--class label", "labelled data",
                "unlabelled images (use pred or a class index)");
    return labels;
  }
  const auto index = class_index(choice, names);
  check_input(index.has_value(), "--class", "pred, label, a class index or a class name",
              "'" + choice + "'");
  const int64_t k = *index;
  check_input(k < num_classes, "--class", fmt::format("a class index in 0..{}", num_classes - 1),
              choice);
  return torch::full_like(pred, k);
}

/// Pearson correlation of each map (N×H×W) with `reference` (H×W); NaN where either is
/// constant (an all-zero Grad-CAM map), where it is undefined.
torch::Tensor correlation(const torch::Tensor& maps, const torch::Tensor& reference) {
  const torch::Tensor a = maps.flatten(1).to(torch::kDouble), b = reference.flatten().to(a.dtype());
  const torch::Tensor ac = a - a.mean(1, true), bc = b - b.mean();
  const torch::Tensor den = ac.norm(2, 1) * bc.norm();
  return torch::where(den.gt(0), (ac * bc).sum(1) / den, torch::full_like(den, NAN));
}

/// The mean of the defined values (null when none is), and one value or null.
nlohmann::json defined_mean(const torch::Tensor& v) {
  const torch::Tensor ok = v.isnan().logical_not();
  return ok.any().item<bool>() ? nlohmann::json(v.masked_select(ok).mean().item<double>())
                               : nlohmann::json();
}
nlohmann::json defined(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

/// Share of each map's mass on pixels brighter than 0.05 (the object, on dark backgrounds).
torch::Tensor foreground_mass(const torch::Tensor& maps, const torch::Tensor& images) {
  const torch::Tensor fg = images.amax(1).gt(0.05).to(maps.dtype());
  return (maps * fg).flatten(1).sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12);
}

}  // namespace

ExplainJobResult run_explain(Model& model, const Dataset& data, const ExplainJobOptions& o) {
  const ExplainMethod method = o.method;
  const c10::Device device = model.device();
  ExplainJobResult r;
  std::vector<std::vector<GridCell>>& rows = r.rows;
  std::vector<std::string>& titles = r.titles;
  nlohmann::json& j = r.summary;
  const torch::Tensor x = data.images.to(device);
  torch::Tensor logits;
  {
    torch::NoGradGuard g;
    logits = model.forward(x);
  }
  const torch::Tensor pred = logits.argmax(1).cpu();
  const torch::Tensor labels = torch::where(data.labels.lt(0), pred, data.labels);
  const torch::Tensor cls =
      classes_for(o.target_class, pred, labels, logits.size(1), model.info().class_names);
  const std::string layer =
      explain_uses_layer(method) ? (o.layer.empty() ? default_cam_layer(model, x) : o.layer) : "";
  // The images in batches; in a job of several processes each explains (and attacks) its
  // share of the batches, and the results are gathered.
  const torch::Tensor no_maps = torch::zeros({0, x.size(2), x.size(3)});
  auto explain_all = [&](const torch::Tensor& images, const torch::Tensor& classes) {
    return dist::map_batches(images.size(0), o.batch, no_maps, [&](int64_t b, int64_t e) {
      return explain(model, images.slice(0, b, e), classes.slice(0, b, e), method, layer,
                     o.explain);
    });
  };
  const torch::Tensor maps = explain_all(x, cls);
  auto name = [&](int64_t k) {
    return k < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k]
                                                             : std::to_string(k);
  };
  const torch::Tensor norm = normalize_maps(maps);
  rows.resize(2);
  titles = {"image", explain_method_name(method)};
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t p = pred[i].item<int64_t>();
    rows[0].push_back({data.images[i], name(p), p != labels[i].item<int64_t>()});
    rows[1].push_back(
        {overlay(data.images[i], norm[i]), "class " + name(cls[i].item<int64_t>()), false});
  }
  j = {{"model", model.info().name},
       {"data", data.source},
       {"method", explain_method_name(method)},
       {"layer", layer},
       {"class", o.target_class}};
  const torch::Tensor fg = foreground_mass(maps, data.images);
  j["foreground_mass_mean"] = fg.mean().item<double>();
  // The object is told from a dark background; on photos it covers nearly everything.
  const double object_share = data.images.amax(1).gt(0.05).to(torch::kFloat).mean().item<double>();
  j["foreground_pixel_share"] = object_share;
  // The altered images: attacked (--attacked) or patched (--patch), explained for the same
  // class so the maps are comparable.
  torch::Tensor adv_fg, moved, patch_mass, adv_maps;
  const bool altered = o.attack || !o.patch.empty();
  if (altered) {
    torch::Tensor x_alt, alt_pred;
    std::string title;
    if (o.attack) {
      x_alt =
          dist::map_batches(x.size(0), o.batch, torch::zeros({0, x.size(1), x.size(2), x.size(3)}),
                            [&](int64_t b, int64_t e) {
                              const torch::Tensor y = labels.slice(0, b, e).to(device);
                              return o.attack
                                  ->run(model, x.slice(0, b, e), Criterion::misclassification(y),
                                        torch::arange(b, e))
                                  .adv;
                            })
              .to(device);
      torch::NoGradGuard g;
      alt_pred = model.forward(x_alt).argmax(1).cpu();
      title = o.attack->name() + " " + o.attack->options().norm();
      j["attack"] = o.attack->describe();
    } else {
      const ImageShape shape{x.size(1), x.size(2), x.size(3)};
      const Patch patch = read_patch(o.patch, PatchOptions(), shape);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
      const auto placement =
          PlacementOptions().keep_out(o.keep_out).on_object(o.on_object).objects(o.objects);
      std::vector<std::vector<ObjectBox>> objects;  // on the explained class's detections
      for (int64_t i = 0; i < x.size(0) && o.on_object >= 0; ++i)
        objects.push_back(
            object_boxes_each(model, x.slice(0, i, i + 1), cls[i].item<int64_t>(), o.objects)[0]);
      const auto places =
          sample_object_placements(patch, x.size(0), shape, placement, gen, objects);
      x_alt = apply_patch_each(x, patch.render().detach(), patch.mask(), places, placement);
      const torch::Tensor where = apply_patch_each(
          torch::zeros({x.size(0), 1, x.size(2), x.size(3)}),
          torch::ones({1, patch.side(), patch.side()}), patch.mask(), places, placement);
      torch::NoGradGuard g;
      alt_pred = model.forward(x_alt).argmax(1).cpu();
      title = "patched";
      j["patch"] = o.patch;
      int64_t pasted = 0;
      for (const auto& p : places) pasted += static_cast<int64_t>(p.size());
      j["patches_pasted"] = pasted;
      if (o.on_object >= 0) j["on_object"] = {{"fraction", o.on_object}, {"objects", o.objects}};
      // Filled in below once the patched maps exist.
      patch_mass = where.squeeze(1);
    }
    adv_maps = explain_all(x_alt, cls);
    const torch::Tensor adv_norm = normalize_maps(adv_maps);
    rows.resize(4);
    titles.push_back(title);
    titles.push_back(explain_method_name(method));
    for (int64_t i = 0; i < data.size(); ++i) {
      const int64_t p = alt_pred[i].item<int64_t>();
      rows[2].push_back({x_alt[i].cpu(), name(p), p != labels[i].item<int64_t>()});
      rows[3].push_back(
          {overlay(x_alt[i].cpu(), adv_norm[i]), "class " + name(cls[i].item<int64_t>()), false});
    }
    adv_fg = foreground_mass(adv_maps, data.images);
    // How far the map moved: 1 - IoU of the top-20% regions.
    const torch::Tensor a = top_percent(maps, 20), b = top_percent(adv_maps, 20);
    moved = 1 - (a & b).flatten(1).sum(1).to(torch::kDouble) /
                    (a | b).flatten(1).sum(1).to(torch::kDouble).clamp_min(1);
    j["foreground_mass_mean_altered"] = adv_fg.mean().item<double>();
    j["top20_moved_mean"] = moved.mean().item<double>();
    if (patch_mass.defined()) {
      // Share of the map's mass that falls inside the patch, clean vs patched.
      auto inside = [&](const torch::Tensor& m) {
        return (m * patch_mass).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1e-12);
      };
      j["cam_mass_in_patch_area_clean"] = inside(maps).mean().item<double>();
      j["cam_mass_in_patch_same_class"] = inside(adv_maps).mean().item<double>();
      // The map of what the model now predicts: how much of that evidence is the patch.
      patch_mass = inside(explain_all(x_alt, alt_pred));
      j["cam_mass_in_patch"] = patch_mass.mean().item<double>();
    }
  }
  // The source's expectation (`001_...`): a patched image's map of the class resembles the map
  // of a real image of that class. Clean images' correlation is the baseline.
  torch::Tensor ref_clean, ref_alt;
  if (!o.reference.empty()) {
    const auto k = class_index(o.target_class, model.info().class_names);
    check_input(k.has_value(), "--reference", "--class naming the class it shows (index or name)",
                "--class " + o.target_class);
    const Dataset ref = open_data(o.reference, model, true, "--reference");
    const torch::Tensor ref_maps =
        explain_all(ref.images.to(device), torch::full({ref.size()}, *k, torch::kLong));
    const torch::Tensor ref_norm = normalize_maps(ref_maps), ref_map = ref_norm.mean(0);
    std::vector<GridCell> cells;
    for (int64_t i = 0; i < std::min<int64_t>(ref.size(), 8); ++i)
      cells.push_back({overlay(ref.images[i], ref_norm[i]), "class " + name(*k), false});
    r.reference_cells = {cells};
    ref_clean = correlation(maps, ref_map);
    j["reference"] = {{"data", ref.source}, {"images", ref.size()}, {"class", *k}};
    j["reference_correlation_clean"] = defined_mean(ref_clean);
    if (altered) {
      ref_alt = correlation(adv_maps, ref_map);
      j["reference_correlation_altered"] = defined_mean(ref_alt);
    }
  }
  nlohmann::json per = nlohmann::json::array();
  for (int64_t i = 0; i < data.size(); ++i) {
    nlohmann::json e = {{"index", i},
                        {"label", labels[i].item<int64_t>()},
                        {"pred", pred[i].item<int64_t>()},
                        {"class", cls[i].item<int64_t>()},
                        {"foreground_mass", fg[i].item<double>()}};
    if (altered) {
      e["foreground_mass_altered"] = adv_fg[i].item<double>();
      e["top20_moved"] = moved[i].item<double>();
    }
    if (patch_mass.defined()) e["cam_mass_in_patch"] = patch_mass[i].item<double>();
    if (ref_clean.defined())
      e["reference_correlation_clean"] = defined(ref_clean[i].item<double>());
    if (ref_alt.defined()) e["reference_correlation_altered"] = defined(ref_alt[i].item<double>());
    per.push_back(e);
  }
  j["images"] = per;
  r.lines.push_back(
      fmt::format("{}{} for {} images: {:.1f}% of the map mass on the object (pixels > 0.05, "
                  "{:.1f}% of the image)",
                  explain_method_name(method), layer.empty() ? "" : " on layer '" + layer + "'",
                  data.size(), 100 * fg.mean().item<double>(), 100 * object_share));
  if (altered)
    r.lines.push_back(
        fmt::format("{}: {:.1f}% on the object; top-20% region moved {:.1f}%{}", titles[2],
                    100 * adv_fg.mean().item<double>(), 100 * moved.mean().item<double>(),
                    patch_mass.defined()
                        ? fmt::format("; {:.1f}% of the patched prediction's map inside the patch",
                                      100 * patch_mass.mean().item<double>())
                        : ""));
  if (ref_clean.defined()) {
    auto text = [](const nlohmann::json& v) {
      return v.is_null() ? std::string("undefined (constant maps)")
                         : fmt::format("{:.3f}", v.get<double>());
    };
    r.lines.push_back(fmt::format(
        "map correlation with the reference images' map of class {}: clean {}{}",
        j["reference"]["class"].get<int64_t>(), text(j["reference_correlation_clean"]),
        ref_alt.defined()
            ? fmt::format(", {} {}", titles[2], text(j["reference_correlation_altered"]))
            : ""));
  }
  r.maps = maps;
  r.altered_maps = adv_maps;
  return r;
}

void ExplainJobResult::write(const std::string& dir) const {
  save_tensor(dir + "/maps.pt", maps);
  if (altered_maps.defined()) save_tensor(dir + "/maps_altered.pt", altered_maps);
  if (!reference_cells.empty())
    write_image_grid(dir + "/reference.png", reference_cells, {"reference"}, 112,
                     {{RowKey::Kind::jet, "low", "high"}});
  const RowKey heat{RowKey::Kind::jet, "low", "high importance"};
  write_image_grid(dir + "/overlays.png", rows, titles, 112, {{}, heat, {}, heat});
  write_json(dir + "/explain.json", summary);
}

}  // namespace foil
