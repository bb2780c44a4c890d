// foil explain: Grad-CAM, Grad-CAM++ and gradient saliency maps as overlays, raw tensors and a
// clean-vs-attacked panel.
#include "foil/explain/explain.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct ExplainCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:8";
  std::string method = "gradcam";
  std::string layer;
  std::string target_class = "pred";
  AttackFlags attack;
  bool attacked = false;
  std::string out = "foil-explain";
};

/// "pred", "label" or a class index, for every image.
torch::Tensor classes_for(const std::string& choice, const torch::Tensor& pred,
                          const torch::Tensor& labels, int64_t num_classes) {
  if (choice == "pred") return pred;
  if (choice == "label") {
    check_input(labels.min().item<int64_t>() >= 0, "--class label", "labelled data",
                "unlabelled images (use pred or a class index)");
    return labels;
  }
  const bool digits = !choice.empty() && std::all_of(choice.begin(), choice.end(), ::isdigit);
  check_input(digits, "--class", "pred, label or a class index", "'" + choice + "'");
  const int64_t k = std::stoll(choice);
  check_input(k < num_classes, "--class", fmt::format("a class index in 0..{}", num_classes - 1),
              choice);
  return torch::full_like(pred, k);
}

/// Share of each map's mass on pixels brighter than 0.05 (the object, on dark backgrounds).
torch::Tensor foreground_mass(const torch::Tensor& maps, const torch::Tensor& images) {
  const torch::Tensor fg = images.amax(1).gt(0.05).to(maps.dtype());
  return (maps * fg).flatten(1).sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12);
}

void run_explain(const ExplainCmd& c) {
  const c10::Device device = apply_global_options();
  const ExplainMethod method = parse_explain_method(c.method);
  std::unique_ptr<Attack> attack;
  if (c.attacked) attack = make_attack_from(c.attack);
  std::filesystem::create_directories(c.out);
  auto model = open_model(c.model, device);
  Dataset data = open_data(c.data, *model);
  const torch::Tensor x = data.images.to(device);
  torch::Tensor logits;
  {
    torch::NoGradGuard g;
    logits = model->forward(x);
  }
  const torch::Tensor pred = logits.argmax(1).cpu();
  const torch::Tensor labels = torch::where(data.labels.lt(0), pred, data.labels);
  const torch::Tensor cls = classes_for(c.target_class, pred, labels, logits.size(1));
  const std::string layer =
      explain_uses_layer(method) ? (c.layer.empty() ? default_cam_layer(*model, x) : c.layer) : "";
  const torch::Tensor maps = explain(*model, x, cls, method, layer).cpu();
  save_tensor(c.out + "/maps.pt", maps);
  auto name = [&](int64_t k) {
    return k < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k]
                                                             : std::to_string(k);
  };
  const torch::Tensor norm = normalize_maps(maps);
  std::vector<std::vector<GridCell>> rows(2);
  std::vector<std::string> titles = {"image", explain_method_name(method)};
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t p = pred[i].item<int64_t>();
    rows[0].push_back({data.images[i], name(p), p != labels[i].item<int64_t>()});
    rows[1].push_back(
        {overlay(data.images[i], norm[i]), "class " + name(cls[i].item<int64_t>()), false});
  }
  nlohmann::json j = {{"model", model->info().name},
                      {"data", data.source},
                      {"method", explain_method_name(method)},
                      {"layer", layer},
                      {"class", c.target_class}};
  const torch::Tensor fg = foreground_mass(maps, data.images);
  j["foreground_mass_mean"] = fg.mean().item<double>();
  torch::Tensor adv_fg;
  torch::Tensor moved;
  if (attack) {
    // The same class is explained on the attacked image, so the maps are comparable.
    const auto r = attack->run(*model, x, Criterion::misclassification(labels.to(device)));
    const torch::Tensor adv_maps = explain(*model, r.adv, cls, method, layer).cpu();
    save_tensor(c.out + "/maps_attacked.pt", adv_maps);
    const torch::Tensor adv_norm = normalize_maps(adv_maps);
    rows.resize(4);
    titles.push_back(attack->name() + " " + c.attack.norm);
    titles.push_back(explain_method_name(method));
    for (int64_t i = 0; i < data.size(); ++i) {
      const int64_t p = r.pred[i].item<int64_t>();
      rows[2].push_back({r.adv[i].cpu(), name(p), p != labels[i].item<int64_t>()});
      rows[3].push_back(
          {overlay(r.adv[i].cpu(), adv_norm[i]), "class " + name(cls[i].item<int64_t>()), false});
    }
    adv_fg = foreground_mass(adv_maps, data.images);
    // How far the map moved: 1 - IoU of the top-20% regions.
    const torch::Tensor a = top_percent(maps, 20), b = top_percent(adv_maps, 20);
    moved = 1 - (a & b).flatten(1).sum(1).to(torch::kDouble) /
                    (a | b).flatten(1).sum(1).to(torch::kDouble).clamp_min(1);
    j["attack"] = attack->describe();
    j["foreground_mass_mean_attacked"] = adv_fg.mean().item<double>();
    j["top20_moved_mean"] = moved.mean().item<double>();
  }
  nlohmann::json per = nlohmann::json::array();
  for (int64_t i = 0; i < data.size(); ++i) {
    nlohmann::json e = {{"index", i},
                        {"label", labels[i].item<int64_t>()},
                        {"pred", pred[i].item<int64_t>()},
                        {"class", cls[i].item<int64_t>()},
                        {"foreground_mass", fg[i].item<double>()}};
    if (attack) {
      e["foreground_mass_attacked"] = adv_fg[i].item<double>();
      e["top20_moved"] = moved[i].item<double>();
    }
    per.push_back(e);
  }
  j["images"] = per;
  write_image_grid(c.out + "/overlays.png", rows, titles);
  write_json(c.out + "/explain.json", j);
  fmt::print("{} on layer '{}' for {} images: {:.1f}% of the map mass on the object{}\n",
             explain_method_name(method), layer, data.size(), 100 * fg.mean().item<double>(),
             attack ? fmt::format(" ({:.1f}% after {}; top-20% region moved {:.1f}%)",
                                  100 * adv_fg.mean().item<double>(), attack->name(),
                                  100 * moved.mean().item<double>())
                    : "");
  fmt::print("wrote {0}/overlays.png, {0}/maps.pt{1}, {0}/explain.json\n", c.out,
             attack ? ", " + c.out + "/maps_attacked.pt" : "");
}

}  // namespace

void setup_explain(CLI::App& app) {
  auto c = std::make_shared<ExplainCmd>();
  auto* sub =
      app.add_subcommand("explain", "Grad-CAM / Grad-CAM++ / saliency maps, clean and attacked");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  sub->add_option("--method", c->method, "gradcam, gradcam++, saliency or inputxgrad")
      ->capture_default_str();
  sub->add_option("--layer", c->layer, "tapped layer for Grad-CAM (default: last spatial layer)");
  sub->add_option("--class", c->target_class, "class to explain: pred, label or an index")
      ->capture_default_str();
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_flag("--attacked", c->attacked, "also explain attacked images (side-by-side panel)");
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->callback([c] { run_explain(*c); });
}

}  // namespace foil::cli
