#include "test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "foil/core/allocator.h"
#include "foil/models/model.h"

extern char** environ;

namespace foil::test {

// The test runner uses the allocator settings of the CLI (apps/foil/main.cpp).
const bool kKeepFreedMemory = keep_freed_memory();

std::shared_ptr<Model> cnn_model() {
  static auto model = load_model(trained_cnn());
  return model;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Run run_foil(const std::string& args) {
  const std::string dir = temp_dir("run");
  const std::string out = dir + "/out.txt", err = dir + "/err.txt";
  const std::string cmd = "FOIL_PROGRESS=0 " + std::string(FOIL_BINARY) + " " + args + " >" + out +
                          " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

int start_foil(const std::string& args, const std::string& log) {
  const std::string cmd = "FOIL_PROGRESS=0 exec " + std::string(FOIL_BINARY) + " " + args + " >" +
                          log + " 2>&1 </dev/null";
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    return -1;
  return pid;
}

bool wait_for_text(int pid, const std::string& log, const std::string& marker) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (slurp(log).find(marker) == std::string::npos) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != 0 || std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int wait_exit(int pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool run_until(const std::string& args, const std::string& log, const std::string& marker) {
  const int pid = start_foil(args, log);
  const bool seen = wait_for_text(pid, log, marker);
  kill(pid, SIGKILL);
  wait_exit(pid);
  return seen;
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
