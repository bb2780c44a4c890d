// foil's Python extension `foil._foil`: the library's models, attacks, evaluation and
// explanations on PyTorch tensors. It links the libtorch Debian's python3-torch uses, so
// tensors and scripted modules cross without copies. The Python package (python/foil/)
// gives it torchattacks' call shape; errors arrive as ValueError with the CLI's line.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/python/module_python.h>
#include <torch/script.h>

#include "bindings.h"
#include "foil/attacks/attack.h"
#include "foil/attacks/option_table.h"
#include "foil/core/error.h"
#include "foil/corrupt/corruptions.h"
#include "foil/data/dataset.h"
#include "foil/explain/explain.h"
#include "foil/jobs/attack_job.h"
#include "foil/jobs/audit.h"
#include "foil/jobs/job.h"
#include "foil/jobs/task_audit.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "foil/models/torchscript.h"
#include "foil/report/results_folder.h"
#include "foil/version.h"

namespace foil {

std::string in_python_terms(const std::string& message) {
  if (message.rfind("--", 0) != 0) return message;
  // An attack flag reads as its keyword (--targets: n_targets).
  const std::string flag = message.substr(0, message.find(':'));
  if (const AttackOptionField* f = find_attack_option(flag); f != nullptr && f->flag == flag)
    return f->keyword + message.substr(flag.size());
  std::string out = message.substr(2);
  for (char& c : out) {
    if (c == ':' || c == ' ') break;
    if (c == '-') c = '_';
  }
  return out;
}

OptionValue python_option_value(const OptionDecl& field, const py::handle& value,
                                const std::string& key) {
  try {
    switch (field.type) {
      case OptionType::kNumber:
        return value.cast<double>();
      case OptionType::kInteger:
        return value.cast<int64_t>();
      case OptionType::kSwitch:
        return value.cast<bool>();
      case OptionType::kText:  // a list of names reads as the CLI's comma-separated text
        if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value))
          return fmt::format("{}", fmt::join(value.cast<std::vector<std::string>>(), ","));
        return std::string(py::str(value));
      case OptionType::kNumbers:
        return value.cast<std::vector<double>>();
      case OptionType::kTexts:
        if (py::isinstance<py::str>(value))
          return parse_option_text(field, value.cast<std::string>(), key);
        return value.cast<std::vector<std::string>>();
    }
  } catch (const py::cast_error&) {  // a string for a number, ...
  }
  throw InputError(key + ": a value of the wrong type or out of range (" +
                   std::string(py::str(py::repr(value))) + ")");
}

py::object to_python(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

torch::Tensor checked_images(const Model& model, const torch::Tensor& x, const std::string& what) {
  check_input(x.defined(), what, "a tensor", "None");
  check_input(x.scalar_type() == torch::kFloat32, what, "a float32 tensor",
              std::string(c10::toString(x.scalar_type())));
  check_input(x.dim() == 4, what, "an N x C x H x W tensor",
              "a " + std::to_string(x.dim()) + "-d tensor");
  check_input(x.size(0) > 0, what, "at least one image", "an empty batch");
  const auto lo = x.min().item<double>(), hi = x.max().item<double>();
  check_input(std::isfinite(lo) && std::isfinite(hi) && lo >= 0 && hi <= 1, what,
              "pixels in [0, 1] (divide 8-bit images by 255; undo any normalisation: foil "
              "applies the model's mean/std itself)",
              "values in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  model.check_input_shape(x);
  return x.detach().to(model.device());
}

int64_t class_count(Model& model, const torch::Tensor& x) {
  if (model.info().num_classes > 0) return model.info().num_classes;
  torch::NoGradGuard no_grad;
  return model.forward(x.slice(0, 0, 1)).size(1);
}

torch::Tensor checked_labels(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                             const std::string& what) {
  check_input(y.defined(), what, "a tensor", "None");
  check_input(!y.is_floating_point() && !y.is_complex() && y.scalar_type() != torch::kBool, what,
              "an integer tensor", std::string(c10::toString(y.scalar_type())));
  check_input(y.dim() == 1 && y.size(0) == x.size(0), what,
              "one label per image (" + std::to_string(x.size(0)) + ")",
              "shape " + c10::str(y.sizes()));
  const int64_t classes = class_count(model, x);
  const auto lo = y.min().item<int64_t>(), hi = y.max().item<int64_t>();
  check_input(lo >= 0 && hi < classes, what, "classes in [0, " + std::to_string(classes - 1) + "]",
              "values in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return y.to(torch::kLong).cpu();
}

Dataset dataset_of(Model& model, const torch::Tensor& images,
                   const std::optional<torch::Tensor>& labels, const std::string& what,
                   const std::string& labels_what) {
  Dataset d;
  d.images = checked_images(model, images, what).cpu();
  d.source = "python: " + what;
  if (labels) {
    d.labels = checked_labels(model, d.images, *labels, labels_what);
  } else {
    d.labels = torch::full({d.images.size(0)}, -1, torch::kLong);
    label_unlabelled(d, model);
  }
  return d;
}

nlohmann::json python_run_info(const std::string& call, const std::string& kind, const Model& model,
                               uint64_t seed) {
  RunSettings settings;
  settings.seed = seed;
  settings.device = c10::str(model.device());
  return run_info("python: " + call, kind, settings,
                  nlohmann::json::array({describe_model(model, {})}));
}

void with_results_folder(const std::string& out, const nlohmann::json& run,
                         const std::function<void(const std::string& dir)>& job) {
  if (out.empty()) return job("");
  ResultsFolderOptions fo;
  fo.run_info = [&] { return run; };
  ResultsFolder folder(out, "out", fo);  // an unwritable place fails before any work
  job(folder.dir());
  folder.commit();
}

namespace {

/// AttackOptions from Python keyword arguments over the CLI's defaults: the keywords, types,
/// ranges and the attacks that read each come from the library's table
/// (foil/attacks/option_table.h), as the CLI's flags do.
AttackOptions attack_options(const std::string& name, const py::dict& kw) {
  AttackOptions o = default_attack_options(name);
  for (const auto& [key, value] : kw) {
    const std::string k = py::str(key);
    const AttackOptionField* field = find_attack_option(k);
    if (field == nullptr || field->keyword != k)
      throw InputError(k + ": not an option of foil's attacks");
    set_attack_option(o, *field, python_option_value(*field, value, k), {name}, k);
  }
  return o;
}

/// The attack job's options for the caller's images (read from Python: with the GIL).
AttackJobOptions job_options(const std::string& name, const py::dict& kw, const std::string& target,
                             int64_t batch) {
  const AttackOptions ao = attack_options(name, kw);
  AttackJobOptions o;
  o.attack = make_attack(name, ao);
  o.batch = batch;
  o.seed = ao.seed();
  o.keep_adv = true;
  return o;
}

/// `run` (run_attack or evaluate_attack_job) over the caller's images, as `foil attack`.
template <class Run>
auto run_job(Model& model, const torch::Tensor& images, const std::optional<torch::Tensor>& labels,
             AttackJobOptions o, const std::string& target, Run run) {
  return without_gil(model, [&] {
    Dataset data = dataset_of(model, images, labels);
    o.target = TargetSpec::parse(target, class_count(model, data.images));
    return run(model, data, o);
  });
}

}  // namespace
}  // namespace foil

PYBIND11_MODULE(_foil, m) {
  using namespace foil;
  m.doc() = "foil's C++ library on PyTorch tensors (use the `foil` package, not this module).";
  py::register_exception<InputError>(m, "InputError", PyExc_ValueError);

  py::class_<Model, std::shared_ptr<Model>>(m, "Model",
                                            "A foil model: pixels in [0,1] in, logits out.")
      .def(
          "__call__",
          [](Model& self, const torch::Tensor& x) {
            return without_gil(self, [&] { return self.forward(checked_images(self, x)); });
          },
          py::arg("images"),
          "The model's output (logits) for float32 N x C x H x W pixels in [0,1].")
      .def("layer_names", &Model::layer_names, "Names a CAM or tap accepts, in forward order.")
      .def_property_readonly(
          "info",
          [](const Model& self) {
            const ModelInfo& i = self.info();
            py::dict d;
            d["name"] = i.name;
            d["backend"] = i.backend;
            d["arch"] = i.arch;
            d["input"] = std::vector<int64_t>{i.input.channels, i.input.height, i.input.width};
            d["num_classes"] = i.num_classes;
            d["mean"] = i.mean;
            d["std"] = i.std;
            d["class_names"] = i.class_names;
            return d;
          },
          "What the model is: name, backend, input shape (0: any), classes, mean/std.");

  m.def(
      "load_model",
      [](const std::string& path, const std::string& mean, const std::string& std,
         const std::string& input_shape, const std::string& device) {
        ModelSpec spec;
        spec.path = path;
        spec.mean = mean;
        spec.std = std;
        spec.input_shape = input_shape;
        return open_model(spec, c10::Device(device));
      },
      py::arg("path") = "", py::arg("mean") = "", py::arg("std") = "", py::arg("input_shape") = "",
      py::arg("device") = "cpu");

  m.def(
      "wrap_script",
      [](const py::object& module, const std::string& name, const std::vector<double>& mean,
         const std::vector<double>& std) {
        const auto script = torch::jit::as_module(module);
        check_input(script.has_value(), "model",
                    "a torch.jit.ScriptModule (torch.jit.script(model) or torch.jit.trace(model, "
                    "example))",
                    std::string(py::str(module.get_type().attr("__name__"))));
        auto model = std::make_shared<TorchScriptModel>(*script, name);
        model->set_normalization(mean, std);
        for (const auto& p : script->parameters()) {
          model->to(p.device());
          break;
        }
        return std::static_pointer_cast<Model>(model);
      },
      py::arg("module"), py::arg("name"), py::arg("mean"), py::arg("std"));

  m.def(
      "load_data",
      [](const std::string& spec) {
        const Dataset d = load_data(spec);
        return py::make_tuple(d.images, d.labels, d.class_names);
      },
      py::arg("spec"));
  m.def("attack_names", &attack_names);
  m.def(
      "attack",
      [](const std::shared_ptr<Model>& model, const std::string& name, const torch::Tensor& images,
         const std::optional<torch::Tensor>& labels, const std::string& target, int64_t batch,
         const py::kwargs& kw) {
        const Evaluation ev = run_job(*model, images, labels, job_options(name, kw, target, batch),
                                      target, evaluate_attack_job);
        return py::make_tuple(ev.adv.to(images.device()), ev.seconds);
      },
      py::arg("model"), py::arg("name"), py::arg("images"), py::arg("labels"),
      py::arg("target") = "", py::arg("batch") = 250);
  m.def(
      "evaluate",
      [](const std::shared_ptr<Model>& model, const std::string& name, const torch::Tensor& images,
         const std::optional<torch::Tensor>& labels, const std::string& target, int64_t batch,
         const py::kwargs& kw) {
        const AttackJobResult r = run_job(*model, images, labels,
                                          job_options(name, kw, target, batch), target, run_attack);
        return to_python(r.summary);
      },
      py::arg("model"), py::arg("name"), py::arg("images"), py::arg("labels"),
      py::arg("target") = "", py::arg("batch") = 250);

  std::vector<std::string> methods;
  for (ExplainMethod e : explain_methods()) methods.push_back(explain_method_name(e));
  m.attr("explain_methods") = methods;
  m.def(
      "explain",
      [](const std::shared_ptr<Model>& model, const std::string& method,
         const torch::Tensor& images, const std::optional<torch::Tensor>& target,
         const std::string& layer, int64_t batch, uint64_t seed, const py::kwargs& kw) {
        const ExplainMethod m = parse_explain_method(method, "method");
        ExplainOptions o;
        set_from_kwargs(o, explain_option_fields(), kw, explain_method_name(m), "foil.explain");
        o.batch = batch;
        o.seed = seed;
        return without_gil(*model, [&] {
          const torch::Tensor x = checked_images(*model, images);
          torch::Tensor cls;
          if (target) {
            cls = checked_labels(*model, x, *target, "target");
          } else {
            torch::NoGradGuard no_grad;
            cls = model->forward(x).argmax(1).cpu();
          }
          const std::string l =
              explain_uses_layer(m) && layer.empty() ? default_cam_layer(*model, x) : layer;
          return explain(*model, x, cls, m, l, o).to(images.device());
        });
      },
      py::arg("model"), py::arg("method"), py::arg("images"), py::arg("target"), py::arg("layer"),
      py::arg("batch"), py::arg("seed"));
  m.def(
      "audit",
      [](const std::shared_ptr<Model>& model, const torch::Tensor& images,
         const std::optional<torch::Tensor>& labels, uint64_t seed, const std::string& out,
         const py::kwargs& kw) {
        // The model's task decides the audit; a task= given must match it.
        const std::string task =
            audit_task(*model, kw.contains("task") ? py::str(kw["task"]) : py::str(""));
        AuditOptions o = task_audit_defaults(task);
        check_input(task == "classify" || !labels, "labels",
                    "none for a " + task + " audit (its reference is the model's clean output)",
                    "labels");
        set_from_kwargs(o, audit_option_fields(), kw, task, "foil.audit");
        o.seed = seed;
        task == "classify" ? check_audit_options(o) : check_task_audit_options(o);
        const nlohmann::json run = python_run_info("foil.audit", "audit", *model, seed);
        const nlohmann::json result = without_gil(*model, [&] {
          nlohmann::json j;
          with_results_folder(out, run, [&](const std::string& dir) {
            if (task != "classify") {  // no labels: the reference is the model's own output
              Dataset data;
              data.images = checked_images(*model, images, "images").cpu();
              data.source = "python: images";
              j = run_task_audit(dynamic_cast<GraphModel&>(*model), data, o, dir);
              return;
            }
            const Dataset data = dataset_of(*model, images, labels);
            const AuditResult r = run_audit(*model, data, o);
            if (!dir.empty()) r.write(dir, data);
            j = r.to_json();
          });
          return j;
        });
        return to_python(result);
      },
      py::arg("model"), py::arg("images"), py::arg("labels"), py::arg("seed"), py::arg("out"));
  bind_patch(m);
  m.attr("__version__") = FOIL_VERSION;
}
