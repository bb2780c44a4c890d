// The certification job: randomized smoothing's certificates over a dataset.
#include "foil/jobs/certify_job.h"

#include <fmt/format.h>

#include <cmath>

#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/distributed/dist.h"
#include "foil/report/figures.h"

namespace foil {

nlohmann::json CertifyResult::empirical_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (size_t k = 0; k < empirical_accuracy.size(); ++k)
    out.push_back({{"attack", "SmoothAdv (PGD-L2 on the smoothed soft classifier)"},
                   {"eps", attack_eps[k]},
                   {"smoothed_accuracy", empirical_accuracy[k]},
                   {"certified_accuracy", certified_at_attack[k]}});
  return out;
}

double CertifyResult::certified_at(double r) const {
  int64_t ok = 0;
  for (size_t i = 0; i < items.size(); ++i)
    ok += items[i].prediction == labels[i] && items[i].radius >= r ? 1 : 0;
  return n > 0 ? static_cast<double>(ok) / static_cast<double>(n) : 0.0;
}

CertifyResult run_certify(std::shared_ptr<Model> shared, const Dataset& data,
                          const CertifyOptions& o) {
  check_smoothing_options(o.smoothing);
  for (double e : o.attack_eps)
    check_input(std::isfinite(e) && e > 0, "--attack-eps", "budgets > 0", fmt::format("{}", e));
  check_input(o.attack_steps >= 1 && o.attack_steps <= 100000, "--attack-steps",
              "an integer in 1..100000", std::to_string(o.attack_steps));
  Model& model = *shared;
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  const double start = now_seconds();
  CertifyResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.n = data.size();
  r.smoothing = o.smoothing;
  r.attack_eps = o.attack_eps;
  const SmoothingOptions& s = o.smoothing;
  if (o.log)
    o.log(fmt::format(
        "model   {} ({})\ndata    {} ({} items)\nsmooth  sigma {:g}, n0 {}, n {}, alpha {:g}",
        model.info().name, model.info().backend, data.source, data.size(), s.sigma(), s.n0(), s.n(),
        s.alpha()));
  // Each rank certifies a contiguous share; every per-item number is gathered in data order.
  const auto [lo, hi] = dist::shard(r.n);
  std::vector<double> mine;  // prediction, radius, p_lower, count per item
  Progress progress("certify", hi - lo);
  for (int64_t i = lo; i < hi; ++i) {
    const SmoothedCertificate c =
        certify_smoothed(model, data.images.slice(0, i, i + 1), torch::tensor({i}), s)[0];
    for (double v :
         {static_cast<double>(c.prediction), c.radius, c.p_lower, static_cast<double>(c.count)})
      mine.push_back(v);
    progress.update(i + 1 - lo, fmt::format("item {}", i + 1));
  }
  progress.finish();
  const torch::Tensor all =
      dist::all_gather_rows(torch::tensor(mine, torch::kDouble).view({-1, 4}));
  torch::Tensor clean;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < r.n; b += 250)
      parts.push_back(
          model.forward(data.images.slice(0, b, std::min(r.n, b + 250))).argmax(1).cpu());
    clean = torch::cat(parts);
  }
  int64_t correct = 0, abstained = 0;
  for (int64_t i = 0; i < r.n; ++i) {
    SmoothedCertificate c;
    c.prediction = static_cast<int64_t>(all[i][0].item<double>());
    c.radius = all[i][1].item<double>();
    c.p_lower = all[i][2].item<double>();
    c.count = static_cast<int64_t>(all[i][3].item<double>());
    const int64_t label = data.labels[i].item<int64_t>();
    r.labels.push_back(label >= 0 ? label : clean[i].item<int64_t>());
    correct += clean[i].item<int64_t>() == r.labels.back() ? 1 : 0;
    abstained += c.prediction < 0 ? 1 : 0;
    r.items.push_back(c);
  }
  r.base_accuracy = static_cast<double>(correct) / static_cast<double>(r.n);
  r.abstain_rate = static_cast<double>(abstained) / static_cast<double>(r.n);
  // All n copies on the class: the largest lower bound, hence radius, n and alpha allow.
  r.max_radius = s.sigma() * normal_quantile(clopper_pearson_lower(s.n(), s.n(), s.alpha()));
  for (int k = 0; k <= 50; ++k) {
    r.radii.push_back(r.max_radius * k / 50.0);
    r.certified_accuracy.push_back(r.certified_at(r.radii.back()));
  }
  r.seconds_per_item = (now_seconds() - start) / static_cast<double>(r.n);
  // The empirical attack on the same smoothed model: SmoothAdv's examples, judged by PREDICT.
  SmoothedSoftModel soft(shared, s.sigma(), o.attack_samples);
  for (double eps : o.attack_eps) {
    torch::manual_seed(s.seed());
    const auto pgd = make_attack("pgd", AttackOptions()
                                            .norm("l2")
                                            .eps(eps)
                                            .alpha(2 * eps / static_cast<double>(o.attack_steps))
                                            .steps(o.attack_steps)
                                            .random_start(false)
                                            .seed(s.seed()));
    int64_t robust = 0;
    const torch::Tensor labels = torch::tensor(r.labels, torch::kLong);
    for (int64_t b = lo; b < hi; b += 50) {
      const int64_t e = std::min(hi, b + 50);
      const torch::Tensor y = labels.slice(0, b, e);
      const torch::Tensor adv =
          pgd->run(soft, data.images.slice(0, b, e), Criterion::misclassification(y)).adv;
      const auto pred = predict_smoothed(model, adv, torch::arange(b, e), s);
      for (int64_t i = b; i < e; ++i) robust += pred[i - b] == r.labels[i] ? 1 : 0;
    }
    robust = dist::all_gather_rows(torch::tensor({robust}).view({1, 1})).sum().item<int64_t>();
    r.empirical_accuracy.push_back(static_cast<double>(robust) / static_cast<double>(r.n));
    r.certified_at_attack.push_back(r.certified_at(eps));
    if (o.log)
      o.log(fmt::format("SmoothAdv L2 eps {:g}: smoothed accuracy {:.2f}% (certified {:.2f}%)", eps,
                        100 * r.empirical_accuracy.back(), 100 * r.certified_at_attack.back()));
  }
  r.seconds = now_seconds() - start;
  auto say = [&](const std::string& line) {
    r.lines.push_back(line);
    if (o.log) o.log(line);
  };
  say(fmt::format("\n{:<34}{:>10}", "L2 radius", "certified"));
  for (double radius : {0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0})
    if (radius <= r.max_radius)
      say(fmt::format("{:<34}{:>9.2f}%", fmt::format("{:g}", radius),
                      100 * r.certified_at(radius)));
  say(fmt::format("{:<34}{:>9.2f}%", "abstained", 100 * r.abstain_rate));
  for (size_t k = 0; k < o.attack_eps.size(); ++k) {
    say(fmt::format("{:<34}{:>9.2f}%  (certified {:.2f}%)",
                    fmt::format("SmoothAdv L2 eps {:g}", o.attack_eps[k]),
                    100 * r.empirical_accuracy[k], 100 * r.certified_at_attack[k]));
    if (r.empirical_accuracy[k] < r.certified_at_attack[k])
      say(
          fmt::format("  the attack beat the certificate at eps {:g}: a certificate failed (each "
                      "may, with probability alpha) or foil has a bug; please report it",
                      o.attack_eps[k]));
  }
  say(fmt::format("{:<34}{:>9.2f}%", "base model accuracy (no noise)", 100 * r.base_accuracy));
  say(fmt::format("{:<34}{:>10.4f}", "largest radius n, alpha allow", r.max_radius));
  say(fmt::format("{:<34}{:>9.3f}s", "seconds per item", r.seconds_per_item));
  say(fmt::format(
      "(certified at r: share of all items whose smoothed prediction is the label with an L2 "
      "radius >= r; each certificate is wrong with probability at most alpha = {:g} over the "
      "noise; sigma {:g}, n0 {}, n {})",
      s.alpha(), s.sigma(), s.n0(), s.n()));
  return r;
}

nlohmann::json CertifyResult::to_json() const {
  nlohmann::json per_item = nlohmann::json::array();
  for (size_t i = 0; i < items.size(); ++i)
    per_item.push_back(
        {{"label", labels[i]},
         {"prediction", items[i].prediction >= 0 ? nlohmann::json(items[i].prediction)
                                                 : nlohmann::json("abstain")},
         {"radius", items[i].radius},
         {"p_lower", items[i].p_lower},
         {"count", items[i].count}});
  nlohmann::json curve = nlohmann::json::array();
  for (size_t k = 0; k < radii.size(); ++k)
    curve.push_back({{"radius", radii[k]}, {"certified_accuracy", certified_accuracy[k]}});
  return {{"model", model},
          {"data", data},
          {"n", n},
          {"smoothing",
           {{"sigma", smoothing.sigma()},
            {"n0", smoothing.n0()},
            {"n", smoothing.n()},
            {"alpha", smoothing.alpha()},
            {"seed", smoothing.seed()}}},
          {"certified_accuracy_at_0", certified_at(0)},
          {"abstain_rate", abstain_rate},
          {"base_accuracy", base_accuracy},
          {"max_radius", max_radius},
          {"seconds", seconds},
          {"seconds_per_item", seconds_per_item},
          {"curve", curve},
          {"empirical", empirical_json()},
          {"per_item", per_item},
          {"meaning",
           "randomized smoothing (Cohen et al. 2019): the smoothed model predicts the class the "
           "base model gives most often under Gaussian noise of sd sigma; CERTIFY returns a "
           "class and an L2 radius within which no perturbation changes that prediction, each "
           "wrong with probability at most alpha over the noise, or abstains; certified "
           "accuracy at r = share of all items certified correct with radius >= r"}};
}

void CertifyResult::write(const std::string& dir) const {
  write_json(dir + "/certify.json", to_json());
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < items.size(); ++i)
    rows.push_back({std::to_string(i), std::to_string(labels[i]),
                    items[i].prediction >= 0 ? std::to_string(items[i].prediction) : "abstain",
                    fmt::format("{:.6f}", items[i].radius), fmt::format("{:.6f}", items[i].p_lower),
                    std::to_string(items[i].count)});
  write_csv(dir + "/certify.csv", {"item", "label", "prediction", "radius", "p_lower", "count"},
            rows);
  write_line_plot(
      dir + "/certified_accuracy.svg",
      fmt::format("{}: certified accuracy vs L2 radius (sigma {:g})", model, smoothing.sigma()),
      "L2 radius", "certified accuracy", {{"randomized smoothing", radii, certified_accuracy}});
}

}  // namespace foil
