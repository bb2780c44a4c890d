// foil.patch in the Python extension: train a universal patch on the caller's models and
// images (or a data spec), evaluate one, as `foil patch train` and `foil patch eval`.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>
#include <vector>

#include "bindings.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/job.h"
#include "foil/jobs/patch_jobs.h"
#include "foil/patch/option_table.h"

namespace foil {
namespace {

/// A patch job's settings from Python keyword arguments (foil.patch.train's parameters, the
/// CLI's flags with '_' for '-'), as the library's table declares them for `job`.
PatchSettings patch_kwargs(const py::dict& kw, const std::string& job) {
  PatchSettings s;
  set_from_kwargs(s, patch_option_fields(), kw, job, "foil.patch");
  try {
    check_placement_options(s.placement);
  } catch (const InputError& e) {
    throw InputError(in_python_terms(e.what()));
  }
  return s;
}

std::vector<std::shared_ptr<Model>> checked_models(
    const std::vector<std::shared_ptr<Model>>& models) {
  check_input(!models.empty(), "models", "at least one model", "none");
  return models;
}

/// Progress lines on stderr when the caller asks for them.
Log log_of(bool verbose) {
  if (!verbose) return {};
  return [](const std::string& line) { std::cerr << line << std::endl; };
}

/// The data a patch job reads: the spec (as the CLI's --data) or the caller's tensors.
std::vector<Dataset> job_data(const std::vector<std::shared_ptr<Model>>& models,
                              const std::string& spec, const std::optional<torch::Tensor>& images,
                              const std::optional<torch::Tensor>& labels, int64_t target,
                              const Log& log) {
  check_input(spec.empty() != !images.has_value(), "data",
              "either a data spec (data=) or images (and labels), not both", "both or neither");
  if (!spec.empty()) return open_patch_data(spec, models, target, log);
  // As open_patch_data: unlabelled images take the first model's predictions, for every model.
  std::vector<Dataset> per_model{dataset_of(*models.front(), *images, labels)};
  for (size_t k = 1; k < models.size(); ++k) {
    per_model.push_back(dataset_of(*models[k], *images, per_model.front().labels));
    per_model.back().labels = per_model.front().labels;
  }
  return per_model;
}

/// A patch's options and pixels as Python values (foil.patch.Patch's fields).
py::dict patch_dict(const Patch& p) {
  const PatchOptions& o = p.options();
  py::dict d;
  d["params"] = p.params().detach().clone();
  d["pixels"] = p.render().detach();
  d["mask"] = p.mask();
  d["options"] = py::dict(py::arg("param") = o.param(), py::arg("cells") = o.cells(),
                          py::arg("area") = o.area(), py::arg("shape") = o.shape(),
                          py::arg("side") = p.side());
  return d;
}

}  // namespace

void bind_patch(py::module_& m) {
  m.def(
      "patch_train",
      [](const std::vector<std::shared_ptr<Model>>& models_in, const std::string& data,
         const std::optional<torch::Tensor>& images, const std::optional<torch::Tensor>& labels,
         const std::optional<torch::Tensor>& eval_images,
         const std::optional<torch::Tensor>& eval_labels, const std::string& eval_data,
         bool eval_on_train, const std::string& task, const std::string& cls, int64_t target,
         uint64_t seed, const std::string& out, bool verbose, const py::kwargs& kw) {
        const auto models = checked_models(models_in);
        const PatchSettings k = patch_kwargs(kw, "train");
        PatchTrainJobOptions o;
        o.patch = k.patch;
        o.placement = k.placement;
        o.objective = k.objective;
        o.train = k.train;
        o.target_spec = k.target_spec;
        o.train.progress(verbose ? "patch" : "");
        o.task = task;
        o.cls = cls;
        o.target = target;
        o.seed = seed;
        o.data_spec = data;
        o.eval_spec = eval_data;
        o.eval_on_train = eval_on_train;
        o.log = log_of(verbose);
        const nlohmann::json run =
            python_run_info("foil.patch.train", "patch train", *models.front(), seed);
        PatchTrainJobResult r;
        without_gil(*models.front(), [&] {
          with_results_folder(out, run, [&](const std::string& dir) {
            const Dataset train = job_data(models, data, images, labels, target, o.log).front();
            if (eval_images) {
              check_input(!eval_on_train && eval_data.empty(), "eval_images",
                          "held-out images alone (without eval_data or eval_on_train)",
                          "eval_images with eval_data or eval_on_train");
              o.eval_items = dataset_of(*models.front(), *eval_images, eval_labels, "eval_images",
                                        "eval_labels");
            } else {
              check_input(!images || eval_on_train || !eval_data.empty(), "eval_images",
                          "held-out images to evaluate the patch on (eval_images=, eval_data= "
                          "or eval_on_train=True)",
                          "none");
            }
            r = run_patch_train(models, train, o);
            if (!dir.empty()) r.write(dir);
          });
          return 0;
        });
        py::dict d = patch_dict(r.trained.patch);
        d["step_loss"] = r.trained.step_loss;
        d["epoch_loss"] = r.trained.epoch_loss;
        d["summary"] = to_python(r.summary);
        return d;
      },
      py::arg("models"), py::arg("data"), py::arg("images"), py::arg("labels"),
      py::arg("eval_images"), py::arg("eval_labels"), py::arg("eval_data"),
      py::arg("eval_on_train"), py::arg("task"), py::arg("cls"), py::arg("target"), py::arg("seed"),
      py::arg("out"), py::arg("verbose"));

  m.def(
      "patch_evaluate",
      [](const std::vector<std::shared_ptr<Model>>& models_in,
         const std::optional<torch::Tensor>& params, const std::string& patch_file,
         const std::string& data, const std::optional<torch::Tensor>& images,
         const std::optional<torch::Tensor>& labels, const std::string& task,
         const std::string& cls, int64_t target, int64_t repeats, uint64_t seed, bool verbose,
         const py::kwargs& kw) {
        const auto models = checked_models(models_in);
        const PatchSettings k = patch_kwargs(kw, "eval");
        check_input(repeats >= 1 && repeats <= 1000, "repeats", "an integer in 1..1000",
                    std::to_string(repeats));
        PatchEvalJobOptions o;
        o.placement = k.placement;
        o.task = task;
        o.cls = cls;
        o.target = target;
        o.repeats = repeats;
        o.seed = seed;
        o.patch_file = patch_file.empty() ? "python" : patch_file;
        o.log = log_of(verbose);
        const nlohmann::json result = without_gil(*models.front(), [&] {
          const auto per_model = job_data(models, data, images, labels, target, o.log);
          const Dataset& first = per_model.front();
          const ImageShape shape{first.images.size(1), first.images.size(2), first.images.size(3)};
          const Patch patch =
              params
                  ? Patch::from_params(params->detach().cpu().to(torch::kFloat32), k.patch, shape)
                  : read_patch(patch_file, k.patch, shape);
          return run_patch_eval(models, per_model, patch, o);
        });
        return to_python(result);
      },
      py::arg("models"), py::arg("params"), py::arg("patch_file"), py::arg("data"),
      py::arg("images"), py::arg("labels"), py::arg("task"), py::arg("cls"), py::arg("target"),
      py::arg("repeats"), py::arg("seed"), py::arg("verbose"));

  m.def(
      "patch_apply",
      [](const torch::Tensor& params, const torch::Tensor& images, uint64_t seed,
         const py::kwargs& kw) {
        const PatchSettings k = patch_kwargs(kw, "apply");
        check_input(
            images.scalar_type() == torch::kFloat32 && images.dim() == 4 && images.size(0) > 0,
            "images", "a float32 N x C x H x W tensor", c10::str(images.sizes()));
        return without_gil("patch", [&] {
          const torch::Tensor x = images.detach().cpu();
          const ImageShape shape{x.size(1), x.size(2), x.size(3)};
          const Patch patch =
              Patch::from_params(params.detach().cpu().to(torch::kFloat32), k.patch, shape);
          auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
          const auto at = sample_placements(patch, x.size(0), shape, k.placement, gen);
          torch::NoGradGuard no_grad;
          return apply_patch(x, patch.render(), patch.mask(), at, k.placement).to(images.device());
        });
      },
      py::arg("params"), py::arg("images"), py::arg("seed"));
}

}  // namespace foil
