// The transfer job: a success matrix per attack over a list of models.
#include "foil/jobs/transfer_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "foil/attacks/sample_random.h"
#include "foil/attacks/transfer.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/access.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// Predictions of `model` for `images`, in batches.
torch::Tensor predict(Model& model, const torch::Tensor& images, int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < images.size(0); b += batch)
    out.push_back(
        model.forward(images.slice(0, b, std::min(images.size(0), b + batch))).argmax(1).cpu());
  return torch::cat(out);
}

/// Of the items `clean` gets right, the share `attacked` gets wrong.
double success_rate(const torch::Tensor& labels, const torch::Tensor& clean,
                    const torch::Tensor& attacked) {
  const torch::Tensor ok = clean.eq(labels);
  const int64_t base = ok.sum().item<int64_t>();
  return base > 0 ? static_cast<double>((ok & attacked.ne(labels)).sum().item<int64_t>()) / base
                  : 0.0;
}

std::string cell(double v) { return fmt::format("{:>9.1f}%", 100 * v); }

}  // namespace

TransferResult run_transfer(const std::vector<Model*>& models, const Dataset& data,
                            const TransferOptions& o) {
  check_input(!models.empty(), "--models", "at least one model", "none");
  check_input(!o.attacks.empty(), "--attacks", "at least one attack", "none");
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  check_input(data.labels.min().item<int64_t>() >= 0, "--data " + data.source,
              "labelled items (success is judged against the label)", "unlabelled items");
  for (Model* m : models) check_fits(*models.front(), *m, data, "--models");
  // Attacks are built (and their options checked) before anything slow.
  std::vector<std::unique_ptr<Attack>> attacks;
  for (const auto& name : o.attacks) {
    attacks.push_back(make_attack(name, AttackOptions(o.attack).seed(o.seed)));
    if (const auto* t = dynamic_cast<const TransferFgsm*>(attacks.back().get()))
      t->kernel(data.images.size(2));  // TI's kernel fits these images, or one line now
  }
  if (o.log) {
    std::vector<std::string> names;
    for (Model* m : models) names.push_back(m->info().name);
    o.log(fmt::format("models  {}\ndata    {} ({} items)\nattacks {} ({} eps {:g}, {} steps)",
                      fmt::join(names, ", "), data.source, data.size(), fmt::join(o.attacks, ","),
                      o.attack.norm(), o.attack.eps(), o.attack.steps()));
  }

  TransferResult r;
  r.data = data.source;
  r.n = data.size();
  r.norm = o.attack.norm();
  r.eps = o.attack.eps();
  const torch::Tensor labels = data.labels.to(torch::kLong);
  std::vector<torch::Tensor> clean;
  for (Model* m : models) {
    r.models.push_back(m->info().name);
    clean.push_back(predict(*m, data.images, o.batch));
    r.clean_accuracy.push_back(clean.back().eq(labels).to(torch::kDouble).mean().item<double>());
  }
  // The baseline: random noise of the same norm, from each item's own stream.
  {
    const torch::Tensor noise = same_norm_noise(
        o.seed, torch::arange(r.n), data.images.sizes().slice(1), r.norm, r.eps, torch::kCPU);
    const torch::Tensor noisy = (data.images + noise).clamp(0, 1);
    for (size_t j = 0; j < models.size(); ++j)
      r.noise_success.push_back(
          success_rate(labels, clean[j], predict(*models[j], noisy, o.batch)));
  }
  for (size_t a = 0; a < attacks.size(); ++a) {
    TransferMatrix mat;
    mat.attack = attacks[a]->name();
    mat.describe = attacks[a]->describe();
    const double start = now_seconds();
    for (size_t i = 0; i < models.size(); ++i) {
      if (o.log)
        o.log(fmt::format("{}: crafting on {} ({}/{})", mat.attack, r.models[i], i + 1,
                          models.size()));
      // The white-box run on the surrogate is the diagonal; its examples go to the others.
      const Evaluation ev = evaluate_attack(
          *models[i], data, *attacks[a],
          EvaluationOptions().batch(o.batch).seed(o.seed).keep_adv(true).progress(mat.attack));
      std::vector<double> row;
      for (size_t j = 0; j < models.size(); ++j)
        row.push_back(j == i
                          ? ev.attack_success_rate
                          : success_rate(labels, clean[j], predict(*models[j], ev.adv, o.batch)));
      mat.success.push_back(row);
    }
    mat.seconds = now_seconds() - start;
    r.matrices.push_back(std::move(mat));
  }
  // The tables.
  auto say = [&](const std::string& line) {
    r.lines.push_back(line);
    if (o.log) o.log(line);
  };
  // Columns are numbered (names can be long); the rows name the models.
  std::string head = fmt::format("{:<26}", "crafted on \\ target");
  for (size_t j = 0; j < r.models.size(); ++j)
    head += fmt::format("{:>10}", fmt::format("#{}", j + 1));
  const auto row_name = [&](size_t i) {
    return fmt::format("#{} {}", i + 1, r.models[i]).substr(0, 25);
  };
  for (const auto& mat : r.matrices) {
    say(
        fmt::format("\n{} ({} eps {:g}): success rate on the items each target classifies "
                    "correctly; diagonal = white box; {:.1f}s",
                    mat.attack, r.norm, r.eps, mat.seconds));
    say(head);
    for (size_t i = 0; i < mat.success.size(); ++i) {
      std::string line = fmt::format("{:<26}", row_name(i));
      for (double v : mat.success[i]) line += cell(v);
      say(line);
    }
  }
  std::string acc = fmt::format("{:<22}", "clean accuracy"),
              noise = fmt::format("{:<22}", "noise (same norm)");
  for (size_t j = 0; j < r.models.size(); ++j) {
    acc += cell(r.clean_accuracy[j]);
    noise += cell(r.noise_success[j]);
  }
  say("");
  say(acc);
  say(noise);
  return r;
}

nlohmann::json TransferResult::to_json() const {
  nlohmann::json mats = nlohmann::json::array();
  for (const auto& m : matrices)
    mats.push_back({{"attack", m.attack},
                    {"describe", m.describe},
                    {"success_rate", m.success},
                    {"seconds", m.seconds}});
  return {{"models", models},
          {"data", data},
          {"n", n},
          {"norm", norm},
          {"eps", eps},
          {"clean_accuracy", clean_accuracy},
          {"noise_success_rate", noise_success},
          {"matrices", mats},
          {"meaning",
           "success_rate[i][j]: of the items model j classifies correctly, the share whose "
           "example crafted on model i (white box) model j gets wrong; the diagonal is the "
           "white-box run; noise_success_rate[j]: the same for random noise of norm eps"}};
}

void TransferResult::write(const std::string& dir) const {
  write_json(dir + "/transfer.json", to_json());
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : matrices)
    for (size_t i = 0; i < models.size(); ++i)
      for (size_t j = 0; j < models.size(); ++j)
        rows.push_back({m.attack, models[i], models[j], fmt::format("{:.6f}", m.success[i][j]),
                        fmt::format("{:.6f}", clean_accuracy[j]),
                        fmt::format("{:.6f}", noise_success[j])});
  write_csv(dir + "/transfer.csv",
            {"attack", "surrogate", "target", "success_rate", "target_clean_accuracy",
             "noise_success_rate"},
            rows);
  for (const auto& m : matrices)
    write_heatmap(dir + "/transfer-" + m.attack + ".png",
                  fmt::format("{}: success rate (rows: crafted on, columns: target)", m.attack),
                  models, models, m.success);
}

}  // namespace foil
