#pragma once
// Runs a TensorFlow.js model in the pure-JavaScript reference runtime
// (tools/tfjs-reference/reference.js) for the importer's tests.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace foil::test {

/// The values of `nodes` (graph nodes, or layer names of a layers model) for `input`, the
/// model's own input (NHWC, its scaling, `dtype` float32 or int32).
inline std::map<std::string, torch::Tensor> tfjs_reference(const std::string& model_json,
                                                           const torch::Tensor& input,
                                                           const std::string& dtype,
                                                           const std::vector<std::string>& nodes) {
  const std::string dir = temp_dir("tfjs-ref");
  const auto x = input.detach().cpu().contiguous();
  std::ofstream(dir + "/in.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(x.data_ptr<float>()), x.numel() * 4);
  const std::string cmd = fmt::format(
      "node {} {} {}/in.bin {} {} {}/out.json {} 2>{}/err.txt", FOIL_TFJS_REFERENCE, model_json,
      dir, fmt::join(x.sizes(), ","), dtype, dir, fmt::join(nodes, ","), dir);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, torch::Tensor> out;
  const auto j = read_json(dir + "/out.json");
  for (const auto& [name, v] : j["outputs"].items())
    out[name] = torch::tensor(v["data"].get<std::vector<float>>())
                    .reshape(v["shape"].get<std::vector<int64_t>>());
  return out;
}

}  // namespace foil::test
