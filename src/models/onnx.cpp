// Reads ONNX model files (protobuf, via Debian's libonnx) into executor graph nodes.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>
#include <set>

#include "foil/core/error.h"
#include "onnx_import.h"

namespace foil::graph {

namespace fs = std::filesystem;

fs::path file_inside(const fs::path& dir, const std::string& name, const std::string& owner,
                     const std::string& what) {
  const fs::path rel(name);
  bool up = false;
  for (const auto& part : rel) up = up || part == "..";
  if (name.empty() || rel.is_absolute() || rel.has_root_name() || up)
    throw InputError(
        fmt::format("{}: {} path '{}' leaves the model's folder (expected a file "
                    "name next to the model)",
                    owner, what, name));
  std::error_code ec;
  const fs::path base = dir.empty() ? fs::path(".") : dir;
  const fs::path root = fs::weakly_canonical(base, ec);
  const fs::path real = fs::weakly_canonical(base / rel, ec);
  const auto [r, f] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (ec || r != root.end())
    throw InputError(
        fmt::format("{}: {} '{}' resolves to {}, outside the model's folder (a "
                    "symlink leading out?)",
                    owner, what, name, real.string()));
  if (!fs::is_regular_file(real))
    throw InputError(fmt::format("{}: {} {} is missing or not a file", owner, what, name));
  return real;
}

namespace {

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const { throw InputError(path_ + ": " + what); }

  /// A TensorProto as a tensor: floats stay float (double and float16 become float), integers
  /// become int64 (int32 stays int32), booleans bool.
  torch::Tensor tensor(const onnx::TensorProto& t) {
    std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
    int64_t count = 1;
    for (auto d : shape) {
      if (d < 0 || (d > 0 && count > (int64_t(1) << 40) / d))
        fail(fmt::format("tensor '{}' has shape [{}]", t.name(), fmt::join(shape, ",")));
      count *= d;
    }
    static const std::map<int, torch::ScalarType> types = {
        {onnx::TensorProto_DataType_FLOAT, torch::kFloat},
        {onnx::TensorProto_DataType_DOUBLE, torch::kDouble},
        {onnx::TensorProto_DataType_FLOAT16, torch::kHalf},
        {onnx::TensorProto_DataType_INT64, torch::kLong},
        {onnx::TensorProto_DataType_INT32, torch::kInt},
        {onnx::TensorProto_DataType_INT8, torch::kChar},
        {onnx::TensorProto_DataType_UINT8, torch::kByte},
        {onnx::TensorProto_DataType_BOOL, torch::kBool}};
    const auto type = types.find(t.data_type());
    if (type == types.end())
      fail(fmt::format("tensor '{}' has data type {}, which foil does not read", t.name(),
                       t.data_type()));
    const torch::ScalarType stored = type->second;
    const int64_t bytes = count * static_cast<int64_t>(c10::elementSize(stored));
    torch::Tensor out;
    auto from_bytes = [&](const char* data, int64_t size) {
      if (size != bytes)
        fail(fmt::format("tensor '{}' of shape [{}] needs {} bytes, the file holds {}", t.name(),
                         fmt::join(shape, ","), bytes, size));
      out = torch::empty(shape, stored);
      if (bytes) std::memcpy(out.data_ptr(), data, bytes);
    };
    if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
      std::string location;
      int64_t offset = 0, length = -1;
      for (const auto& kv : t.external_data()) {
        if (kv.key() == "location") location = kv.value();
        if (kv.key() == "offset") offset = std::stoll(kv.value());
        if (kv.key() == "length") length = std::stoll(kv.value());
      }
      const fs::path file =
          file_inside(fs::path(path_).parent_path(), location, path_, "external data file");
      std::ifstream in(file, std::ios::binary);
      std::error_code ec;
      const auto size = static_cast<int64_t>(fs::file_size(file, ec));
      if (length < 0) length = bytes;
      if (ec || offset < 0 || offset > size || length > size - offset)
        fail(fmt::format("tensor '{}': bytes {}..{} of {} ({} bytes) do not exist", t.name(),
                         offset, offset + length, location, size));
      std::string data(static_cast<size_t>(length), '\0');
      in.seekg(offset);
      in.read(data.data(), length);
      if (!in) fail("external data file " + location + " cannot be read");
      from_bytes(data.data(), length);
    } else if (t.has_raw_data()) {
      from_bytes(t.raw_data().data(), static_cast<int64_t>(t.raw_data().size()));
    } else {
      auto check = [&](int64_t n) {
        if (n != count)
          fail(fmt::format("tensor '{}' of shape [{}] holds {} values", t.name(),
                           fmt::join(shape, ","), n));
      };
      if (stored == torch::kFloat) {
        check(t.float_data_size());
        out = torch::tensor(std::vector<float>(t.float_data().begin(), t.float_data().end()));
      } else if (stored == torch::kDouble) {
        check(t.double_data_size());
        out = torch::tensor(std::vector<double>(t.double_data().begin(), t.double_data().end()));
      } else if (stored == torch::kLong) {
        check(t.int64_data_size());
        out = torch::tensor(std::vector<int64_t>(t.int64_data().begin(), t.int64_data().end()));
      } else {  // int32, int8, uint8, bool and float16 bits are stored as int32 values
        check(t.int32_data_size());
        out = torch::tensor(std::vector<int32_t>(t.int32_data().begin(), t.int32_data().end()));
        out = stored == torch::kHalf ? out.to(torch::kShort).view(torch::kHalf) : out.to(stored);
      }
      out = out.reshape(shape);
    }
    if (stored == torch::kDouble || stored == torch::kHalf) out = out.to(torch::kFloat);
    if (stored == torch::kChar || stored == torch::kByte) out = out.to(torch::kLong);
    return out;
  }

  /// Attributes in TensorFlow.js's JSON form; a tensor attribute becomes the node's value.
  void attributes(const onnx::NodeProto& p, Node& n) {
    for (const auto& a : p.attribute()) {
      using AT = onnx::AttributeProto_AttributeType;
      nlohmann::json v;
      switch (a.type()) {
        case AT::AttributeProto_AttributeType_INT:
          v = {{"i", a.i()}};
          break;
        case AT::AttributeProto_AttributeType_FLOAT:
          v = {{"f", a.f()}};
          break;
        case AT::AttributeProto_AttributeType_STRING:
          v = {{"s", base64_encode(a.s())}};
          break;
        case AT::AttributeProto_AttributeType_INTS:
          v = {{"list", {{"i", std::vector<int64_t>(a.ints().begin(), a.ints().end())}}}};
          break;
        case AT::AttributeProto_AttributeType_FLOATS:
          v = {{"list", {{"f", std::vector<float>(a.floats().begin(), a.floats().end())}}}};
          break;
        case AT::AttributeProto_AttributeType_STRINGS: {
          std::vector<std::string> s;
          for (const auto& x : a.strings()) s.push_back(base64_encode(x));
          v = {{"list", {{"s", s}}}};
          break;
        }
        case AT::AttributeProto_AttributeType_TENSOR:
          n.value = tensor(a.t());
          continue;
        default:
          fail(
              fmt::format("node '{}' ({}): attribute '{}' is a graph or a list of tensors, "
                          "which foil does not support",
                          n.name, n.op, a.name()));
      }
      n.attr[a.name()] = v;
    }
  }

  /// A Constant node's value from whichever attribute holds it.
  torch::Tensor constant_value(const onnx::NodeProto& p, const Node& n) {
    if (n.value.defined()) return n.value;
    if (n.attr.contains("value_float"))
      return torch::tensor(n.attr["value_float"]["f"].get<float>());
    if (n.attr.contains("value_int"))
      return torch::tensor(n.attr["value_int"]["i"].get<int64_t>(), torch::kLong);
    if (n.attr.contains("value_floats"))
      return torch::tensor(n.attr["value_floats"]["list"]["f"].get<std::vector<float>>());
    if (n.attr.contains("value_ints"))
      return torch::tensor(n.attr["value_ints"]["list"]["i"].get<std::vector<int64_t>>(),
                           torch::kLong);
    fail(fmt::format("Constant node '{}' has no value foil can read", p.name()));
  }

  ImportedGraph read() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail("cannot open (expected an ONNX model)");
    onnx::ModelProto model;
    if (!model.ParseFromIstream(&in))
      fail("not an ONNX model (the protobuf does not parse: truncated or another format)");
    if (model.ir_version() <= 0 || !model.has_graph() || model.graph().node_size() == 0)
      fail("not an ONNX model (no IR version or an empty graph)");
    int64_t opset = -1;
    for (const auto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    if (opset < 7 || opset > 18)
      fail(fmt::format("opset {} of the default domain is not one foil reads (7 to 18)", opset));
    const auto& g = model.graph();
    ImportedGraph out;
    out.description =
        fmt::format("ONNX model, opset {}{}{}", opset,
                    model.producer_name().empty() ? "" : ", from ", model.producer_name());
    std::map<std::string, std::pair<int, int>> values;  // value name -> (node, output)
    auto add = [&](Node n) {
      const int index = static_cast<int>(out.nodes.size());
      for (size_t k = 0; k < n.output_names.size(); ++k)
        if (!n.output_names[k].empty()) values[n.output_names[k]] = {index, static_cast<int>(k)};
      out.nodes.push_back(std::move(n));
    };
    std::set<std::string> initialized;
    for (const auto& t : g.initializer()) {
      Node n;
      n.name = t.name();
      n.op = "Const";
      n.value = tensor(t);
      n.output_names = {t.name()};
      initialized.insert(t.name());
      add(std::move(n));
    }
    for (const auto& vi : g.input()) {
      if (initialized.count(vi.name())) continue;
      if (!out.input_name.empty())
        fail(fmt::format("more than one graph input ('{}' and '{}'); foil models take one image",
                         out.input_name, vi.name()));
      out.input_name = vi.name();
      const auto& tt = vi.type().tensor_type();
      out.input_dtype = tt.elem_type() == onnx::TensorProto_DataType_FLOAT ? "float32" : "";
      if (out.input_dtype.empty())
        fail(fmt::format("input '{}' has element type {} (foil feeds float32 images)", vi.name(),
                         tt.elem_type()));
      for (const auto& d : tt.shape().dim())
        out.input_shape.push_back(d.has_dim_value() && d.dim_value() > 0 ? d.dim_value() : -1);
      Node n;
      n.name = vi.name();
      n.op = "Placeholder";
      n.output_names = {vi.name()};
      add(std::move(n));
    }
    if (out.input_name.empty()) fail("the graph has no input");
    std::vector<std::vector<std::string>> input_names;
    for (const auto& p : g.node()) {
      Node n;
      n.op = p.op_type();
      for (const auto& o : p.output()) n.output_names.push_back(o);
      if (n.output_names.empty() || n.output_names[0].empty())
        fail(fmt::format("node '{}' ({}) has no output", p.name(), n.op));
      n.name = n.output_names[0];
      if (!p.domain().empty() && p.domain() != "ai.onnx")
        fail(
            fmt::format("node '{}' uses operator '{}' of domain '{}', which foil does not "
                        "support (only the default ONNX domain)",
                        p.name().empty() ? n.name : p.name(), n.op, p.domain()));
      attributes(p, n);
      n.attr["_opset"] = {{"i", opset}};
      if (n.op == "Constant") {
        n.value = constant_value(p, n);
        n.op = "Const";
        n.attr = nlohmann::json::object();
      } else if (!(n.kernel = find_onnx_kernel(n.op))) {
        fail(fmt::format(
            "node '{}' uses operator '{}', which foil does not support (supported: "
            "{})",
            p.name().empty() ? n.name : p.name(), n.op, fmt::join(supported_onnx_ops(), ", ")));
      }
      if (values.count(n.name)) fail("two values named '" + n.name + "'");
      input_names.emplace_back(p.input().begin(), p.input().end());
      add(std::move(n));
    }
    // Inputs are resolved once every value is known.
    const size_t first = out.nodes.size() - input_names.size();
    for (size_t i = 0; i < input_names.size(); ++i) {
      Node& n = out.nodes[first + i];
      for (const auto& name : input_names[i]) {
        if (name.empty()) {
          n.inputs.push_back({-1, 0});  // an omitted optional input
          continue;
        }
        auto it = values.find(name);
        if (it == values.end())
          fail(fmt::format("node '{}' reads '{}', which no node or initializer produces", n.name,
                           name));
        n.inputs.push_back(it->second);
      }
    }
    for (const auto& o : g.output()) {
      if (!values.count(o.name())) fail("graph output '" + o.name() + "' is never computed");
      out.outputs.push_back(o.name());
    }
    if (out.outputs.empty()) fail("the graph has no output");
    for (const auto& d : g.output(0).type().tensor_type().shape().dim())
      out.first_output_shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
    return out;
  }

 private:
  std::string path_;
};

}  // namespace

ImportedGraph read_onnx(const std::string& path) { return Reader(path).read(); }

}  // namespace foil::graph
