// The ONNX reader's last step: the nodes onnx.cpp read from the file, into a Graph (values
// stay N×C×H×W).
#include "../graph/graph_impl.h"
#include "onnx_import.h"

namespace foil {

void read_onnx_graph(Graph::Impl& g) {
  graph::ImportedGraph read = graph::read_onnx(g.path);
  g.nodes = std::move(read.nodes);
  for (size_t k = 0; k < g.nodes.size(); ++k) g.index[g.nodes[k].name] = static_cast<int>(k);
  g.input = g.index.at(read.input_name);
  g.input_name = read.input_name;
  g.input_dtype = read.input_dtype;
  g.input_shape = read.input_shape;
  g.outputs = read.outputs;
  g.description = read.description;
  g.first_output_shape = read.first_output_shape;
  g.nchw = true;
}

}  // namespace foil
