#include "foil/models/torchscript.h"

#include <fmt/format.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "foil/core/error.h"

namespace jit = torch::jit;

namespace foil {

/// For every module path, the last tensor value (top-level block, topological order) that
/// is produced inside the module and used outside it. Outside the anonymous namespace:
/// TorchScriptModel::Impl holds one.
struct TapMap {
  std::vector<std::string> order;
  std::map<std::string, jit::Value*> values;
};

namespace {

/// The module path a node of an inlined graph came from: the instance names along its
/// inlined call stack ("layer3.1.conv2"), "" for nodes of the top-level forward.
std::string module_path(const jit::Node* node) {
  while (node->kind() == c10::prim::Return && node->owningBlock()->owningNode())
    node = node->owningBlock()->owningNode();
  auto cs = node->callstack();
  if (!cs) return "";
  std::string path;
  for (const auto& entry : (*cs)->vec()) {
    const auto& info = std::get<2>(entry);
    if (!info) continue;
    const std::string name = info->instance_name();
    if (name.empty() || name == "SELF") continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

bool within(const std::string& path, const std::string& module) {
  return path.size() >= module.size() && path.compare(0, module.size(), module) == 0 &&
         (path.size() == module.size() || path[module.size()] == '.');
}

void walk(jit::Block* block, bool top, TapMap& map) {
  for (jit::Node* node : block->nodes()) {
    for (jit::Block* sub : node->blocks()) walk(sub, false, map);
    if (node->kind() == c10::prim::Constant) continue;
    const std::string path = module_path(node);
    if (path.empty()) continue;
    for (jit::Value* v : node->outputs()) {
      if (v->type()->kind() != c10::TypeKind::TensorType) continue;
      // Every enclosing module (layer3, layer3.1, layer3.1.conv2) whose boundary v crosses.
      for (size_t dot = 0; dot != std::string::npos;) {
        dot = path.find('.', dot + 1);
        const std::string module = path.substr(0, dot);
        bool leaves = false;
        for (const jit::Use& use : v->uses()) leaves |= !within(module_path(use.user), module);
        if (!leaves) continue;
        if (!map.values.count(module)) map.order.push_back(module);
        if (top) map.values[module] = v;
      }
    }
  }
}

std::shared_ptr<jit::Graph> inlined_forward(jit::Module& module) {
  auto graph = module.get_method("forward").graph()->copy();
  jit::Inline(*graph);
  return graph;
}

torch::Tensor first_tensor(const c10::IValue& v, const std::string& name) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple())
    for (const auto& e : v.toTupleRef().elements())
      if (e.isTensor()) return e.toTensor();
  throw InputError("model " + name + ": expected a tensor output, got " + v.tagKind());
}

}  // namespace

struct TorchScriptModel::Impl {
  jit::Module module;
  TapMap taps;
  std::map<std::pair<std::vector<std::string>, std::string>, std::unique_ptr<jit::GraphFunction>>
      functions;

  /// The forward graph returning (output, taps...). With `scaled` set, the graph takes a
  /// second tensor after the image that multiplies that layer's output: everything after it
  /// (and its tap) reads the product.
  jit::GraphFunction& function_for(const std::vector<std::string>& names,
                                   const std::string& scaled = "") {
    const auto key = std::make_pair(names, scaled);
    auto it = functions.find(key);
    if (it != functions.end()) return *it->second;
    auto graph = inlined_forward(module);
    TapMap map;
    walk(graph->block(), true, map);
    if (!scaled.empty()) {
      jit::Value* v = map.values.at(scaled);
      jit::Value* scale = graph->addInput("layer_scale");
      scale->setType(c10::TensorType::get());
      jit::WithInsertPoint guard(v->node()->next());
      jit::Node* mul = graph->insertNode(graph->create(c10::aten::mul, {v, scale}));
      mul->output()->setType(v->type());
      v->replaceAllUsesAfterNodeWith(mul, mul->output());
      map.values[scaled] = mul->output();
    }
    std::vector<jit::Value*> outs(graph->outputs().begin(), graph->outputs().end());
    for (const auto& n : names) {
      // A later in-place op (`out += identity`, ReLU(inplace=True)) would overwrite the
      // tapped tensor. The rest of the graph goes on with a copy made right where the value
      // is produced, so the tap keeps its value and stays on the path to the output
      // (Grad-CAM differentiates with respect to it).
      jit::Value* v = map.values.at(n);
      jit::WithInsertPoint guard(v->node()->next());
      jit::Value* none = graph->insertConstant(c10::IValue());
      jit::Node* copy = graph->insertNode(graph->create(c10::aten::clone, {v, none}));
      copy->output()->setType(v->type());
      v->replaceAllUsesAfterNodeWith(copy, copy->output());
      outs.push_back(v);
    }
    while (!graph->outputs().empty()) graph->eraseOutput(0);
    jit::Node* tuple = graph->insertNode(graph->createTuple(outs));
    graph->registerOutput(tuple->output());
    auto fn = std::make_unique<jit::GraphFunction>("forward_with_taps", graph, nullptr);
    return *functions.emplace(key, std::move(fn)).first->second;
  }

  /// Runs `function_for(names, edit.layer)` on `x`.
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& names,
                 const LayerScale* edit, const std::string& model_name) {
    jit::Stack stack{module._ivalue(), x};
    if (edit) stack.emplace_back(edit->scale);
    function_for(names, edit ? edit->layer : "").run(stack);
    const auto elements = stack.back().toTupleRef().elements();
    TapOutputs out;
    out.output = first_tensor(elements[0], model_name);
    for (size_t i = 0; i < names.size(); ++i) out.taps[names[i]] = elements[1 + i].toTensor();
    return out;
  }
};

namespace {

jit::Module load_script(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError("--model " + path + ": file not found");
  try {
    return jit::load(path);
  } catch (const c10::Error& e) {
    throw InputError("--model " + path +
                     ": not a TorchScript model (expected a file saved by torch.jit.save; " +
                     first_line(e.what(), 80) + ")");
  }
}

}  // namespace

TorchScriptModel::TorchScriptModel(const std::string& path)
    : TorchScriptModel(load_script(path), std::filesystem::path(path).filename().string()) {}

TorchScriptModel::TorchScriptModel(const jit::Module& module, const std::string& name)
    : impl_(std::make_unique<Impl>()) {
  impl_->module = module;
  impl_->module.eval();
  if (!impl_->module.find_method("forward"))
    throw InputError("--model " + name + ": TorchScript module has no forward method");
  info_.name = name;
  info_.backend = "torchscript";
  info_.arch = impl_->module.type()->name() ? impl_->module.type()->name()->name() : "module";
  auto graph = inlined_forward(impl_->module);
  walk(graph->block(), true, impl_->taps);
}

TorchScriptModel::~TorchScriptModel() = default;

std::vector<std::string> TorchScriptModel::layer_names() const {
  std::vector<std::string> names;
  for (const auto& n : impl_->taps.order)
    if (impl_->taps.values.count(n)) names.push_back(n);
  return names;
}

void TorchScriptModel::to(c10::Device device) {
  impl_->module.to(device);
  device_ = device;
  set_normalization(info_.mean, info_.std);
}

TapOutputs TorchScriptModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  if (!taps.empty()) return impl_->run(x, taps, nullptr, info_.name);
  TapOutputs out;
  out.output = first_tensor(impl_->module.forward({x}), info_.name);
  return out;
}

TapOutputs TorchScriptModel::run_scaled(const torch::Tensor& x,
                                        const std::vector<std::string>& taps,
                                        const LayerScale& edit) {
  return impl_->run(x, taps, &edit, info_.name);
}

}  // namespace foil
