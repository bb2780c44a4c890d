#include "test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "foil/core/allocator.h"
#include "foil/models/model.h"

namespace foil::test {

// The test runner uses the allocator settings of the CLI (apps/foil/main.cpp).
const bool kKeepFreedMemory = keep_freed_memory();

std::shared_ptr<Model> cnn_model() {
  static auto model = load_model(trained_cnn());
  return model;
}

Run run_foil(const std::string& args) {
  const std::string dir = temp_dir("run");
  const std::string out = dir + "/out.txt", err = dir + "/err.txt";
  const std::string cmd = "FOIL_PROGRESS=0 " + std::string(FOIL_BINARY) + " " + args + " >" + out +
                          " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

void expect_bad_input(const std::string& args, const std::string& needle) {
  auto r = run_foil(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\nstderr: " << r.err;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

std::string temp_dir(const std::string& name) {
  static int counter = 0;
  auto dir =
      std::filesystem::temp_directory_path() /
      ("foil-test-" + std::to_string(::getpid()) + "-" + name + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace foil::test
