#include "foil/jobs/job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/models/graph_model.h"
#include "foil/models/torchscript.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"
#include "foil/train/default_model.h"
#include "foil/version.h"

namespace foil {

torch::Tensor probe_model(Model& model, const torch::Tensor& images, const std::string& spec) {
  const torch::Tensor first = images.slice(0, 0, 1);
  model.check_input_shape(first);
  torch::Tensor out;
  try {
    torch::NoGradGuard no_grad;
    out = model.forward(first.to(model.device()));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("model {} cannot take the data {} (images {}x{}x{}): {}",
                                 model.info().name, spec, images.size(1), images.size(2),
                                 images.size(3), library_message(e.what())));
  }
  check_input(out.is_floating_point(), "model " + model.info().name,
              "floating-point outputs (scores)",
              std::string(c10::toString(out.scalar_type())) + " outputs");
  check_input(torch::isfinite(out).all().item<bool>(), "model " + model.info().name,
              "finite outputs", "NaN or infinite outputs on " + spec + " (broken weights?)");
  return out;
}

void check_fits(Model& model, Model& other, const Dataset& data, const std::string& flag) {
  check_same_task(model, other, flag);
  const torch::Tensor a = probe_model(model, data.images, data.source);
  const torch::Tensor b = probe_model(other, data.images, data.source);
  check_input(b.dim() == 2 && a.dim() == 2 && b.size(1) == a.size(1),
              flag + " " + other.info().name,
              fmt::format("class scores as wide as {}'s ({})", model.info().name,
                          a.dim() == 2 ? a.size(1) : 0),
              fmt::format("an output of shape [{}]", fmt::join(b.sizes(), ", ")));
}

std::shared_ptr<Model> open_model(const ModelSpec& spec, c10::Device device) {
  std::shared_ptr<Model> model;
  if (spec.path.empty())
    model = default_model();
  else if (spec.path.rfind("zoo:", 0) == 0)
    model = default_zoo_model(spec.path.substr(4));
  else
    model = load_model(spec.path);
  if (!spec.mean.empty() || !spec.std.empty()) {
    check_input(!spec.mean.empty() && !spec.std.empty(), "--mean/--std", "both flags together",
                "only one");
    model->set_normalization(parse_number_list(spec.mean, "--mean"),
                             parse_number_list(spec.std, "--std"));
  }
  if (!spec.input_shape.empty()) {
    auto v = parse_number_list(spec.input_shape, "--input-shape");
    const bool ok = v.size() == 3 && v[0] >= 1 && v[1] >= 1 && v[2] >= 1 && v[0] <= 4 &&
                    v[1] <= kMaxImageSide && v[2] <= kMaxImageSide &&
                    v[0] * v[1] * v[2] <= static_cast<double>(kMaxImageElements);
    check_input(ok, "--input-shape",
                fmt::format("C,H,W: C in 1..4, H and W in 1..{}, C*H*W at most {}", kMaxImageSide,
                            kMaxImageElements),
                spec.input_shape);
    auto* ts = dynamic_cast<TorchScriptModel*>(model.get());
    check_input(ts != nullptr, "--input-shape", "a TorchScript model (foil models record theirs)",
                model->info().backend + " model " + model->info().name);
    ts->set_input_shape(
        {static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2])});
  }
  model->to(device);
  if (spec.access != Access::kGradients) model = std::make_shared<QueryModel>(model, spec.access);
  return model;
}

void refuse_target_as_surrogate(const std::vector<std::string>& surrogates,
                                const std::string& target) {
  const auto builtin = [](const std::string& p) { return p.empty() || p == "zoo:cnn"; };
  for (const auto& s : surrogates) {
    std::error_code ec;
    const bool same = builtin(s) || builtin(target)
                          ? builtin(s) && builtin(target)
                          : std::filesystem::weakly_canonical(s, ec) ==
                                std::filesystem::weakly_canonical(target, ec);
    if (same)
      throw InputError("--surrogate " + s +
                       ": expected a model other than the attacked one (crafting on the attacked "
                       "model itself is the white-box attack)");
  }
}

std::vector<std::string> model_list(const std::string& text, const std::string& flag) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  for (const std::string& item : split_list(text, flag)) {
    if (item == "zoo") {
      for (const char* arch : {"mlp", "cnn", "resnet", "mobilenet"})
        out.push_back(std::string("zoo:") + arch);
    } else {
      out.push_back(item);
    }
  }
  return out;
}

void add_model_paths(RunPaths& paths, const std::string& flag, const std::string& list) {
  check_input(!list.empty(), flag, "a model file", "an empty string");
  for (const auto& m : model_list(list, flag)) {
    std::error_code ec;
    if (!std::filesystem::exists(m, ec)) continue;  // the loader names it (or it is zoo:ARCH)
    paths.input_files.push_back({flag, m});
    // A TF.js graph reads its weight shards from the model's folder.
    if (std::filesystem::path(m).extension() == ".json")
      paths.input_folders.push_back({flag, resolved_path(m).parent_path().string()});
  }
}

void add_data_paths(RunPaths& paths, const std::string& flag, const std::string& spec) {
  check_input(!spec.empty(), flag, "a data spec", "an empty string");
  DataSpec d;
  try {
    d = parse_data_spec(spec);
  } catch (const InputError&) {
    return;  // not a path (pose:test) or a bad spec the job names
  }
  if (d.kind == DataSpec::Kind::kImageFolder) {
    paths.input_folders.push_back({flag, d.path});
    paths.data_folders.push_back({flag, d.path});
  }
  if (d.kind == DataSpec::Kind::kImageFile) {
    paths.input_files.push_back({flag, d.path});
    paths.input_folders.push_back({flag, resolved_path(d.path).parent_path().string()});
  }
}

const std::vector<OptionField<RunSettings>>& run_settings_option_fields() {
  using S = RunSettings;
  using T = OptionType;
  static const std::vector<OptionField<S>> table = [] {
    std::vector<OptionField<S>> t = {
        make_option<S>("--threads", T::kInteger, "Run", "LibTorch threads (0 = all cores)", {},
                       FOIL_OPTION_MEMBER(S, threads, int64_t), 0, 1024),
        make_option<S>("--seed", T::kInteger, "Run",
                       "random seed (runs repeat exactly with the same seed)", {},
                       FOIL_OPTION_MEMBER(S, seed, int64_t), 0),
        make_option<S>("--device", T::kText, "Run", "cpu or cuda[:N]", {},
                       FOIL_OPTION_MEMBER(S, device, std::string)),
        make_option<S>("--deterministic", T::kSwitch, "Run",
                       "on a GPU, deterministic cuDNN, cuBLAS and ATen kernels: a rerun with the "
                       "same seed repeats bit for bit, often slower (default: PyTorch's own "
                       "kernel choice, as an eager PyTorch loop runs; the CPU is deterministic "
                       "either way)",
                       {}, FOIL_OPTION_MEMBER(S, deterministic, bool)),
        // One job of several processes (docs/scaling.md); torchrun's variables when not given.
        make_option<S>("--rank", T::kInteger, "Distributed",
                       "this process's rank in a job (default: $RANK)", {},
                       FOIL_OPTION_MEMBER(S, dist.rank, int64_t), 0, 1 << 20),
        make_option<S>("--world-size", T::kInteger, "Distributed",
                       "processes in the job (default: $WORLD_SIZE)", {},
                       FOIL_OPTION_MEMBER(S, dist.world_size, int64_t), 1, 1 << 20),
        make_option<S>("--master", T::kText, "Distributed",
                       "rank 0's HOST:PORT (default: $MASTER_ADDR:$MASTER_PORT)", {},
                       FOIL_OPTION_MEMBER(S, dist.master, std::string)),
        make_option<S>("--store-file", T::kText, "Distributed",
                       "join through a file on a shared file system instead of the master", {},
                       FOIL_OPTION_MEMBER(S, dist.store_file, std::string)),
        make_option<S>("--dist-timeout", T::kNumber, "Distributed",
                       "seconds to wait for the other processes of the job", {},
                       FOIL_OPTION_MEMBER(S, dist.timeout, double), 0, 86400),
    };
    t.back().open_lo = true;
    t[4].own_default = t[5].own_default = true;  // rank and world size: torchrun's variables
    for (auto& f : t) f.keyword.clear();         // Python passes the seed and device per call
    return t;
  }();
  return table;
}

c10::Device apply_run_settings(const RunSettings& settings) {
  set_threads(settings.threads);
  seed_everything(settings.seed);
  const c10::Device device = parse_device(settings.device);
  if (settings.deterministic && device.is_cuda()) use_deterministic_cuda();
  dist::init(settings.dist);
  return device;
}

nlohmann::json run_info(const std::string& command, const std::string& kind,
                        const RunSettings& settings, const nlohmann::json& models) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json j = {{"command", command},
                      {"kind", kind},
                      {"foil_version", FOIL_VERSION},
                      {"seed", settings.seed},
                      {"threads", at::get_num_threads()},
                      {"device", settings.device},
                      {"deterministic", settings.deterministic},
                      {"finished", stamp}};
  if (!models.empty()) j["model"] = models.front();
  if (models.size() > 1) j["other_models"] = nlohmann::json(models.begin() + 1, models.end());
  return j;
}

nlohmann::json describe_model(const Model& model, const ModelSpec& spec) {
  const ModelInfo& info = model.info();
  nlohmann::json m = {{"name", info.name},
                      {"backend", info.backend},
                      {"arch", info.arch},
                      {"input", info.input.str()}};
  if (info.num_classes > 0) m["classes"] = info.num_classes;
  if (info.test_accuracy >= 0) m["test_accuracy_at_training"] = info.test_accuracy;
  if (const auto* g = dynamic_cast<const GraphModel*>(&model)) {
    std::string d = g->meta().description;
    if (!g->graph().description().empty()) d += (d.empty() ? "" : "; ") + g->graph().description();
    if (!d.empty()) m["description"] = d;
  } else if (spec.path.empty()) {
    m["description"] = "foil's built-in Fashion-MNIST CNN (trained on first use, cached)";
  } else if (spec.path.rfind("zoo:", 0) == 0) {
    m["description"] = "the zoo " + spec.path.substr(4) +
                       " trained on Fashion-MNIST like the built-in model (first use, cached)";
  }
  if (spec.access != Access::kGradients) m["access"] = access_name(spec.access);
  if (!spec.mean.empty()) m["normalisation"] = "mean " + spec.mean + ", std " + spec.std;
  return m;
}

namespace {

Dataset open_data_spec(const std::string& spec, Model& model, bool needs_gradient) {
  // Class scores are what these commands attack and explain: keypoint, landmark, embedding
  // and score models have none (their own commands are 'foil keypoints' and 'foil predict').
  if (const auto* t = dynamic_cast<const GraphModel*>(&model)) {
    const std::string& task = t->meta().task;
    check_input(task == "classifier" || task == "detection" || task == "generic",
                "model " + model.info().name,
                "a model with class scores (a classifier or detector) for this command",
                "a " + task + " model (" + t->meta().description +
                    "); use 'foil keypoints' or 'foil predict'");
  }
  Dataset data = load_data(spec, model.info().input);
  check_input(data.size() > 0, "--data " + spec, "at least one item", "an empty dataset");
  auto* query = dynamic_cast<QueryModel*>(&model);
  auto* ts = dynamic_cast<TorchScriptModel*>(query ? &query->inner() : &model);
  if (ts && ts->info().input.channels == 0) {
    ts->set_input_shape({data.images.size(1), data.images.size(2), data.images.size(3)});
  }
  data.relabel_to(model.info().class_names, "--data " + spec);
  const torch::Tensor out = probe_model(model, data.images, spec);
  check_input(out.dim() == 2, "model " + model.info().name + " output",
              "class scores of shape N x K", fmt::format("{} dimensions", out.dim()));
  // Two images in, two rows out; gradients reach the input when the command needs them.
  const int64_t two = std::min<int64_t>(2, data.size());
  const torch::Tensor x = data.images.slice(0, 0, two).to(model.device()).requires_grad_(true);
  const torch::Tensor y = model.forward(x);
  check_input(y.dim() == 2 && y.size(0) == two, "model " + model.info().name + " output",
              fmt::format("one row of scores per image ({} images in)", two),
              fmt::format("shape [{}]", fmt::join(y.sizes(), ", ")));
  if (needs_gradient)
    check_input(y.requires_grad(), "model " + model.info().name,
                "outputs differentiable in the input (this command follows gradients)",
                "outputs without a gradient (a detached graph or an op without one); 'foil "
                "attack' can query it instead: --access scores (square, spsa) or --access "
                "labels (hopskipjump)");
  const int64_t max_label = data.labels.max().item<int64_t>();
  check_input(max_label < out.size(1), "--data " + spec,
              fmt::format("labels below the model's {} classes", out.size(1)),
              fmt::format("label {}", max_label));
  if (ts && ts->info().num_classes == 0) ts->set_num_classes(out.size(1));
  if (data.class_names.empty() && !model.info().class_names.empty())
    data.class_names = model.info().class_names;
  return data;
}

}  // namespace

Dataset open_data(const std::string& spec, Model& model, bool needs_gradient,
                  const std::string& flag) {
  try {
    return open_data_spec(spec, model, needs_gradient);
  } catch (const InputError& e) {  // the data layer names --data; the spec came from `flag`
    const std::string what = e.what();
    if (flag == "--data" || what.rfind("--data", 0) != 0) throw;
    throw InputError(flag + what.substr(6));
  }
}

int64_t label_unlabelled(Dataset& data, Model& model, const Log& log) {
  const torch::Tensor missing = data.labels.lt(0);
  const int64_t n = missing.sum().item<int64_t>();
  if (n == 0) return 0;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pred;
  for (int64_t b = 0; b < data.size(); b += 250)
    pred.push_back(model.forward(data.images.slice(0, b, b + 250)).argmax(1).cpu());
  data.labels = torch::where(missing, torch::cat(pred), data.labels);
  if (log) log(fmt::format("{} unlabelled images take the model's prediction as their label", n));
  return n;
}

std::vector<std::string> flag_lines(const std::vector<Flag>& flags) {
  std::vector<std::string> lines, passed;
  for (const Flag& f : flags) {
    if (f.fired) {
      lines.push_back(fmt::format("CHECK FIRED: {}: {}.", f.name, f.measured));
      lines.push_back(fmt::format("  {}.", f.meaning));
    } else if (std::find(passed.begin(), passed.end(), f.name) == passed.end()) {
      passed.push_back(f.name);  // each name once (an audit checks every budget)
    }
  }
  if (!passed.empty())
    lines.push_back(fmt::format("checks that did not fire: {}", fmt::join(passed, ", ")));
  return lines;
}

nlohmann::json flags_json(const std::vector<Flag>& flags) {
  nlohmann::json out = nlohmann::json::array();
  for (const Flag& f : flags) out.push_back(f.to_json());
  return out;
}

void write_examples(const std::string& path, const Dataset& data,
                    const std::vector<std::pair<std::string, const Evaluation*>>& shown) {
  auto name = [&](int64_t k) {
    return k >= 0 && k < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k]
                                                                       : std::to_string(k);
  };
  std::vector<std::vector<GridCell>> grid;
  std::vector<std::string> titles;
  const Evaluation& first = *shown.at(0).second;
  const int64_t k = first.example_clean.size(0);
  std::vector<GridCell> clean;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t p = first.clean_pred[i].item<int64_t>(), y = first.labels[i].item<int64_t>();
    clean.push_back({first.example_clean[i], name(p), p != y});
  }
  grid.push_back(clean);
  titles.push_back("clean");
  for (const auto& [title, ev] : shown) {
    std::vector<GridCell> adv, delta;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t p = ev->adv_pred[i].item<int64_t>(), y = ev->labels[i].item<int64_t>();
      adv.push_back({ev->example_adv[i], name(p), p != y});
      torch::Tensor d = ev->example_adv[i] - ev->example_clean[i];
      const double m = std::max(1e-8, d.abs().max().item<double>());
      delta.push_back({d / (2 * m) + 0.5, fmt::format("|d|max {:.3f}", m), false});
    }
    grid.push_back(adv);
    titles.push_back(title);
    grid.push_back(delta);
    titles.push_back("perturbation");
  }
  std::vector<RowKey> keys(grid.size());
  for (size_t r = 2; r < keys.size(); r += 2) keys[r] = {RowKey::Kind::grey, "-|d|max", "+|d|max"};
  write_image_grid(path, grid, titles, 112, keys);
}

}  // namespace foil
