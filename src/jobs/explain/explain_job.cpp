// The explain job: maps of a dataset, clean and attacked or patched, and what they show.
#include "foil/jobs/explain_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "foil/core/error.h"
#include "foil/distributed/dist.h"
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

/// What the explain job's steps share: the model, the images on its device, the options, the
/// clean predictions and the class each image is explained for.
struct ExplainRun {
  Model& model;
  const Dataset& data;
  const ExplainJobOptions& o;
  const c10::Device device;
  torch::Tensor x, pred, labels, cls;
  std::string layer;
  torch::Tensor no_maps;  ///< a share without images

  /// The clean pass: predictions, labels (the prediction where there is none), the classes to
  /// explain and the layer of the CAMs.
  ExplainRun(Model& m, const Dataset& d, const ExplainJobOptions& options)
      : model(m), data(d), o(options), device(m.device()), x(d.images.to(device)) {
    torch::Tensor logits;
    {
      torch::NoGradGuard g;
      logits = model.forward(x);
    }
    pred = logits.argmax(1).cpu();
    labels = torch::where(data.labels.lt(0), pred, data.labels);
    cls = classes_for(o.target_class, pred, labels, logits.size(1), model.info().class_names);
    layer = explain_uses_layer(o.method) ? (o.layer.empty() ? default_cam_layer(model, x) : o.layer)
                                         : "";
    no_maps = torch::zeros({0, x.size(2), x.size(3)});
  }

  /// The maps of `images` for `classes`, in batches; in a job of several processes each
  /// explains its share of the batches, and the results are gathered.
  torch::Tensor explain_all(const torch::Tensor& images, const torch::Tensor& classes) const {
    return dist::map_batches(images.size(0), o.batch, no_maps, [&](int64_t b, int64_t e) {
      return explain(model, images.slice(0, b, e), classes.slice(0, b, e), o.method, layer,
                     o.explain);
    });
  }

  /// The data's name of class `k`, or its index.
  std::string name(int64_t k) const {
    return k < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k]
                                                             : std::to_string(k);
  }
};

/// Per image, what the job measured (undefined where it did not measure it).
struct Measures {
  torch::Tensor fg, adv_fg, moved, patch_mass, ref_clean, ref_alt;
  double object_share = 0;  ///< share of the pixels on the object
};

/// The altered images, what the model predicts on them and their row title; for a patch also
/// where it lies (N×H×W, 1 inside).
struct Altered {
  torch::Tensor x, pred, patch_area;
  std::string title;
};

/// The images attacked (--attacked), in batches shared out like the maps.
Altered attacked_images(const ExplainRun& ex, nlohmann::json& j) {
  const torch::Tensor& x = ex.x;
  const ExplainJobOptions& o = ex.o;
  Altered alt;
  alt.x = dist::map_batches(x.size(0), o.batch, torch::zeros({0, x.size(1), x.size(2), x.size(3)}),
                            [&](int64_t b, int64_t e) {
                              const torch::Tensor y = ex.labels.slice(0, b, e).to(ex.device);
                              return o.attack
                                  ->run(ex.model, x.slice(0, b, e), Criterion::misclassification(y),
                                        torch::arange(b, e))
                                  .adv;
                            })
              .to(ex.device);
  torch::NoGradGuard g;
  alt.pred = ex.model.forward(alt.x).argmax(1).cpu();
  alt.title = o.attack->name() + " " + o.attack->options().norm();
  j["attack"] = o.attack->describe();
  return alt;
}

/// The images with the patch (--patch) pasted (with --on-object, on the explained class's
/// detections).
Altered patched_images(const ExplainRun& ex, nlohmann::json& j) {
  const torch::Tensor& x = ex.x;
  const ExplainJobOptions& o = ex.o;
  Altered alt;
  const ImageShape shape{x.size(1), x.size(2), x.size(3)};
  const Patch patch = read_patch(o.patch, PatchOptions(), shape);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const auto placement =
      PlacementOptions().keep_out(o.keep_out).on_object(o.on_object).objects(o.objects);
  std::vector<std::vector<ObjectBox>> objects;  // on the explained class's detections
  for (int64_t i = 0; i < x.size(0) && o.on_object >= 0; ++i)
    objects.push_back(
        object_boxes_each(ex.model, x.slice(0, i, i + 1), ex.cls[i].item<int64_t>(), o.objects)[0]);
  const auto places = sample_object_placements(patch, x.size(0), shape, placement, gen, objects);
  alt.x = apply_patch_each(x, patch.render().detach(), patch.mask(), places, placement);
  const torch::Tensor where = apply_patch_each(torch::zeros({x.size(0), 1, x.size(2), x.size(3)}),
                                               torch::ones({1, patch.side(), patch.side()}),
                                               patch.mask(), places, placement);
  torch::NoGradGuard g;
  alt.pred = ex.model.forward(alt.x).argmax(1).cpu();
  alt.title = "patched";
  j["patch"] = o.patch;
  int64_t pasted = 0;
  for (const auto& p : places) pasted += static_cast<int64_t>(p.size());
  j["patches_pasted"] = pasted;
  if (o.on_object >= 0) j["on_object"] = {{"fraction", o.on_object}, {"objects", o.objects}};
  alt.patch_area = where.squeeze(1);
  return alt;
}

/// The overlays' first two rows (the images with their predictions, and the clean maps) and
/// the summary's opening: the run and how much of the maps lies on the object.
void explain_clean(const ExplainRun& ex, const torch::Tensor& maps, ExplainJobResult& r,
                   Measures& m) {
  const Dataset& data = ex.data;
  const torch::Tensor norm = normalize_maps(maps);
  r.rows.resize(2);
  r.titles = {"image", explain_method_name(ex.o.method)};
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t p = ex.pred[i].item<int64_t>();
    r.rows[0].push_back({data.images[i], ex.name(p), p != ex.labels[i].item<int64_t>()});
    r.rows[1].push_back(
        {overlay(data.images[i], norm[i]), "class " + ex.name(ex.cls[i].item<int64_t>()), false});
  }
  nlohmann::json& j = r.summary;
  j = {{"model", ex.model.info().name},
       {"data", data.source},
       {"method", explain_method_name(ex.o.method)},
       {"layer", ex.layer},
       {"class", ex.o.target_class}};
  m.fg = foreground_mass(maps, data.images);
  j["foreground_mass_mean"] = m.fg.mean().item<double>();
  // The object is told from a dark background; on photos it covers nearly everything.
  m.object_share = data.images.amax(1).gt(0.05).to(torch::kFloat).mean().item<double>();
  j["foreground_pixel_share"] = m.object_share;
}

/// The altered images: attacked (--attacked) or patched (--patch), explained for the same class
/// so the maps are comparable. Adds their two rows, how far the maps moved and, for a patch,
/// how much of the maps lies inside it.
void explain_altered(const ExplainRun& ex, const torch::Tensor& maps, ExplainJobResult& r,
                     Measures& m) {
  nlohmann::json& j = r.summary;
  const Altered alt = ex.o.attack ? attacked_images(ex, j) : patched_images(ex, j);
  const torch::Tensor adv_maps = ex.explain_all(alt.x, ex.cls);
  const torch::Tensor adv_norm = normalize_maps(adv_maps);
  r.rows.resize(4);
  r.titles.push_back(alt.title);
  r.titles.push_back(explain_method_name(ex.o.method));
  for (int64_t i = 0; i < ex.data.size(); ++i) {
    const int64_t p = alt.pred[i].item<int64_t>();
    r.rows[2].push_back({alt.x[i].cpu(), ex.name(p), p != ex.labels[i].item<int64_t>()});
    r.rows[3].push_back({overlay(alt.x[i].cpu(), adv_norm[i]),
                         "class " + ex.name(ex.cls[i].item<int64_t>()), false});
  }
  m.adv_fg = foreground_mass(adv_maps, ex.data.images);
  // How far the map moved: 1 - IoU of the top-20% regions.
  const torch::Tensor a = top_percent(maps, 20), b = top_percent(adv_maps, 20);
  m.moved = 1 - (a & b).flatten(1).sum(1).to(torch::kDouble) /
                    (a | b).flatten(1).sum(1).to(torch::kDouble).clamp_min(1);
  j["foreground_mass_mean_altered"] = m.adv_fg.mean().item<double>();
  j["top20_moved_mean"] = m.moved.mean().item<double>();
  if (alt.patch_area.defined()) {
    // Share of the map's mass that falls inside the patch, clean vs patched.
    auto inside = [&](const torch::Tensor& map) {
      return (map * alt.patch_area).flatten(1).sum(1) / map.flatten(1).sum(1).clamp_min(1e-12);
    };
    j["cam_mass_in_patch_area_clean"] = inside(maps).mean().item<double>();
    j["cam_mass_in_patch_same_class"] = inside(adv_maps).mean().item<double>();
    // The map of what the model now predicts: how much of that evidence is the patch.
    m.patch_mass = inside(ex.explain_all(alt.x, alt.pred));
    j["cam_mass_in_patch"] = m.patch_mass.mean().item<double>();
  }
  r.altered_maps = adv_maps;
}

/// The source's expectation (`001_...`): a patched image's map of the class resembles the map
/// of a real image of that class (--reference). Clean images' correlation is the baseline.
void compare_with_reference(const ExplainRun& ex, const torch::Tensor& maps, bool altered,
                            ExplainJobResult& r, Measures& m) {
  nlohmann::json& j = r.summary;
  const auto k = class_index(ex.o.target_class, ex.model.info().class_names);
  check_input(k.has_value(), "--reference", "--class naming the class it shows (index or name)",
              "--class " + ex.o.target_class);
  const Dataset ref = open_data(ex.o.reference, ex.model, true, "--reference");
  const torch::Tensor ref_maps =
      ex.explain_all(ref.images.to(ex.device), torch::full({ref.size()}, *k, torch::kLong));
  const torch::Tensor ref_norm = normalize_maps(ref_maps), ref_map = ref_norm.mean(0);
  std::vector<GridCell> cells;
  for (int64_t i = 0; i < std::min<int64_t>(ref.size(), 8); ++i)
    cells.push_back({overlay(ref.images[i], ref_norm[i]), "class " + ex.name(*k), false});
  r.reference_cells = {cells};
  m.ref_clean = correlation(maps, ref_map);
  j["reference"] = {{"data", ref.source}, {"images", ref.size()}, {"class", *k}};
  j["reference_correlation_clean"] = defined_mean(m.ref_clean);
  if (altered) {
    m.ref_alt = correlation(r.altered_maps, ref_map);
    j["reference_correlation_altered"] = defined_mean(m.ref_alt);
  }
}

/// Per image: its label, prediction and explained class, and what was measured on it.
nlohmann::json per_image(const ExplainRun& ex, const Measures& m, bool altered) {
  nlohmann::json per = nlohmann::json::array();
  for (int64_t i = 0; i < ex.data.size(); ++i) {
    nlohmann::json e = {{"index", i},
                        {"label", ex.labels[i].item<int64_t>()},
                        {"pred", ex.pred[i].item<int64_t>()},
                        {"class", ex.cls[i].item<int64_t>()},
                        {"foreground_mass", m.fg[i].item<double>()}};
    if (altered) {
      e["foreground_mass_altered"] = m.adv_fg[i].item<double>();
      e["top20_moved"] = m.moved[i].item<double>();
    }
    if (m.patch_mass.defined()) e["cam_mass_in_patch"] = m.patch_mass[i].item<double>();
    if (m.ref_clean.defined())
      e["reference_correlation_clean"] = defined(m.ref_clean[i].item<double>());
    if (m.ref_alt.defined())
      e["reference_correlation_altered"] = defined(m.ref_alt[i].item<double>());
    per.push_back(e);
  }
  return per;
}

/// The console summary: map mass on the object, clean and altered, and the reference
/// correlations.
void summary_lines(const ExplainRun& ex, const Measures& m, bool altered, ExplainJobResult& r) {
  const nlohmann::json& j = r.summary;
  const std::string& layer = ex.layer;
  r.lines.push_back(fmt::format(
      "{}{} for {} images: {:.1f}% of the map mass on the object (pixels > 0.05, "
      "{:.1f}% of the image)",
      explain_method_name(ex.o.method), layer.empty() ? "" : " on layer '" + layer + "'",
      ex.data.size(), 100 * m.fg.mean().item<double>(), 100 * m.object_share));
  if (altered)
    r.lines.push_back(
        fmt::format("{}: {:.1f}% on the object; top-20% region moved {:.1f}%{}", r.titles[2],
                    100 * m.adv_fg.mean().item<double>(), 100 * m.moved.mean().item<double>(),
                    m.patch_mass.defined()
                        ? fmt::format("; {:.1f}% of the patched prediction's map inside the patch",
                                      100 * m.patch_mass.mean().item<double>())
                        : ""));
  if (m.ref_clean.defined()) {
    auto text = [](const nlohmann::json& v) {
      return v.is_null() ? std::string("undefined (constant maps)")
                         : fmt::format("{:.3f}", v.get<double>());
    };
    r.lines.push_back(fmt::format(
        "map correlation with the reference images' map of class {}: clean {}{}",
        j["reference"]["class"].get<int64_t>(), text(j["reference_correlation_clean"]),
        m.ref_alt.defined()
            ? fmt::format(", {} {}", r.titles[2], text(j["reference_correlation_altered"]))
            : ""));
  }
}

}  // namespace

ExplainJobResult run_explain(Model& model, const Dataset& data, const ExplainJobOptions& o) {
  const ExplainRun ex(model, data, o);
  ExplainJobResult r;
  Measures m;
  const torch::Tensor maps = ex.explain_all(ex.x, ex.cls);
  explain_clean(ex, maps, r, m);
  const bool altered = o.attack || !o.patch.empty();
  if (altered) explain_altered(ex, maps, r, m);
  if (!o.reference.empty()) compare_with_reference(ex, maps, altered, r, m);
  r.summary["images"] = per_image(ex, m, altered);
  summary_lines(ex, m, altered, r);
  r.maps = maps;
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

namespace {

std::vector<OptionField<ExplainJobOptions>> make_explain_job_table() {
  using O = ExplainJobOptions;
  const std::string kMaps = "Maps", kPatch = "Patched images (--patch)";
  // "maps": the maps of `foil explain`, not its --faithfulness ranking.
  const std::vector<std::string> all, maps = {"maps"}, patch = {"--patch"};
  std::vector<OptionField<O>> t = {
      make_option<O>("--layer", OptionType::kText, kMaps,
                     "tapped layer for the CAMs (default: the last spatial or token layer)", all,
                     FOIL_OPTION_MEMBER(O, layer, std::string)),
      make_option<O>("--batch", OptionType::kInteger, kMaps,
                     "images per pass (the unit shared out between processes)", all,
                     FOIL_OPTION_MEMBER(O, batch, int64_t), 1, 100000),
      make_option<O>("--class", OptionType::kText, kMaps,
                     "class to explain: pred, label, a class index or a class name", maps,
                     FOIL_OPTION_MEMBER(O, target_class, std::string)),
      make_option<O>("--reference", OptionType::kText, kMaps,
                     "real images of the --class class (data spec): report how each image's "
                     "map correlates with their mean map (clean as baseline, and "
                     "patched/attacked)",
                     maps, FOIL_OPTION_MEMBER(O, reference, std::string)),
      make_option<O>("--patch", OptionType::kText, kPatch,
                     "also explain images with this patch (patch.pt from 'foil patch train') "
                     "pasted at random places",
                     patch, FOIL_OPTION_MEMBER(O, patch, std::string)),
      make_option<O>("--keep-out", OptionType::kNumber, kPatch,
                     "central fraction of the image the patch avoids", patch,
                     FOIL_OPTION_MEMBER(O, keep_out, double), 0, 1),
      make_option<O>("--on-object", OptionType::kNumber, kPatch,
                     "on a detector: the patch on the --class's best detection, its centre in "
                     "this central fraction of the box (as 'patch train --on-object'; default: "
                     "anywhere on the image)",
                     patch, FOIL_OPTION_MEMBER(O, on_object, double), 0, 1),
      make_option<O>("--objects", OptionType::kInteger, kPatch,
                     "with --on-object: a patch on each of the class's N best detections", patch,
                     FOIL_OPTION_MEMBER(O, objects, int64_t), 1, 1000),
  };
  t[6].own_default = true;  // --on-object: off unless given
  return t;
}

}  // namespace

const std::vector<OptionField<ExplainJobOptions>>& explain_job_option_fields() {
  static const std::vector<OptionField<ExplainJobOptions>> table = make_explain_job_table();
  return table;
}

}  // namespace foil
