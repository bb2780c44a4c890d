#pragma once
// What the binding files of foil's Python extension share: running library calls without the
// GIL, checking the caller's tensors, and results folders written from Python.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "foil/core/error.h"
#include "foil/core/option_fields.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"

namespace py = pybind11;

namespace foil {

/// A library message in Python's terms: a leading CLI flag ("--layer-weights: ...") becomes
/// the keyword argument that sets it ("layer_weights: ...").
std::string in_python_terms(const std::string& message);

/// A Python value as the type of a declared field (foil/core/option_fields.h): a list for a
/// list field (or a text split at commas); throws InputError naming `key`.
OptionValue python_option_value(const OptionDecl& field, const py::handle& value,
                                const std::string& key);

/// Stores every keyword of `kw` (None: the default) into `o` as the library's table declares
/// it; a keyword the table lacks, or one `job` does not read, is refused naming it.
template <class O>
void set_from_kwargs(O& o, const std::vector<OptionField<O>>& table, const py::dict& kw,
                     const std::string& job, const std::string& what) {
  for (const auto& [key, value] : kw) {
    const std::string k = py::str(key);
    if (value.is_none()) continue;
    const OptionField<O>* field = find_option(table, k);
    if (field == nullptr || field->keyword != k) throw InputError(k + ": not an option of " + what);
    check_option_used(*field, {job}, k);
    set_option(o, *field, python_option_value(*field, value, k), k);
  }
}

/// Runs `f` without the GIL (LibTorch's autograd engine refuses to run holding it, and other
/// Python threads go on meanwhile); a LibTorch error becomes an InputError (ValueError) with
/// its first line, naming `who`.
template <class F>
auto without_gil(const std::string& who, F f) {
  py::gil_scoped_release release;
  try {
    return f();
  } catch (const InputError& e) {
    throw InputError(in_python_terms(e.what()));
  } catch (const std::exception& e) {  // c10::Error, TorchScript's interpreter errors
    throw InputError(who + ": " + library_message(e.what()));
  }
}

/// without_gil naming the model that failed.
template <class F>
auto without_gil(const Model& model, F f) {
  return without_gil("model " + model.info().name, f);
}

/// nlohmann JSON to Python objects, through the json module (dicts, lists, numbers).
py::object to_python(const nlohmann::json& j);
/// Images as foil takes them: float32 N×C×H×W in [0,1], on the model's device.
/// `what` names them in messages.
torch::Tensor checked_images(const Model& model, const torch::Tensor& x,
                             const std::string& what = "images");
/// The model's number of classes, read off one forward pass when it does not record it.
int64_t class_count(Model& model, const torch::Tensor& x);
/// Labels: int64 (any integer type is taken) N, each in [0, classes); `what` names them.
torch::Tensor checked_labels(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                             const std::string& what);
/// A Dataset of the caller's tensors (`labels` none: the model's clean predictions); `what`
/// and `labels_what` name them in messages and its source.
Dataset dataset_of(Model& model, const torch::Tensor& images,
                   const std::optional<torch::Tensor>& labels, const std::string& what = "images",
                   const std::string& labels_what = "labels");
/// run.json of a results folder written from Python by `call` (foil.audit, ...).
nlohmann::json python_run_info(const std::string& call, const std::string& kind, const Model& model,
                               uint64_t seed);
/// Runs `job(dir)` in a results folder at `out` written all or nothing (the CLI's
/// ResultsFolder, made before the job so an unwritable place fails first): `job` fills `dir`,
/// then run.json (`run`) and report.html are added and the folder is put in place. `out`
/// "": `job("")`, no folder. Called without the GIL.
void with_results_folder(const std::string& out, const nlohmann::json& run,
                         const std::function<void(const std::string& dir)>& job);

/// Adds foil.patch's functions (patch_bindings.cpp) to the extension.
void bind_patch(py::module_& m);

}  // namespace foil
