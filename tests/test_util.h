#pragma once
// Helpers shared by the tests: fixture paths, the trained CNN, running the CLI.

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace foil {
class Model;
}

namespace foil::test {

/// The TorchScript fixtures folder (resnet18.pt, small_cnn.pt, reference.pt).
inline std::string fixture(const std::string& name) {
  return std::string(FOIL_FIXTURES) + "/" + name;
}

/// A file fetched by scripts/fetch-assets.sh, e.g. "photos/messi5.jpg".
inline std::string asset(const std::string& name) { return std::string(FOIL_ASSETS) + "/" + name; }

/// model.json of one of the @vladmandic/human models, e.g. "emotion".
inline std::string human_model(const std::string& name) {
  return asset("human/models/" + name + ".json");
}

/// A TensorFlow.js model of the test assets by name: nsfwjs's (nsfw-*) or human's.
inline std::string tfjs_model(const std::string& name) {
  return name.rfind("nsfw-", 0) == 0 ? asset("nsfwjs/" + name + ".json") : human_model(name);
}

/// The astronaut's face in skimage's astronaut.png, as a data spec.
inline std::string astronaut_face() { return asset("photos/astronaut.png") + "@160,45,130,130"; }

/// The CNN trained once by the `train_fixture_cnn` CTest fixture.
inline std::string trained_cnn() { return std::string(FOIL_TEST_MODELS) + "/cnn.foil"; }

/// The trained CNN, loaded once per test process.
std::shared_ptr<Model> cnn_model();

/// Result of running the foil CLI.
struct Run {
  int code;
  std::string out, err;
};

/// Runs `foil ARGS` (a shell-quoted string) and captures exit code, stdout and stderr.
Run run_foil(const std::string& args);

/// Starts `foil ARGS` in the background, stdout and stderr to the file `log`; returns its pid.
int start_foil(const std::string& args, const std::string& log);

/// Waits until the file `log` holds `marker`; false when process `pid` ends first or after 5
/// minutes.
bool wait_for_text(int pid, const std::string& log, const std::string& marker);

/// Waits for process `pid` to end; its exit code (-1 when killed by a signal).
int wait_exit(int pid);

/// Starts `foil ARGS`, waits until `log` holds `marker`, kills it (SIGKILL). False when it
/// ended before printing `marker`.
bool run_until(const std::string& args, const std::string& log, const std::string& marker);

/// The contents of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

/// Expects `foil ARGS` to fail with exit code 2 and one stderr line mentioning `needle`.
void expect_bad_input(const std::string& args, const std::string& needle);

/// Parses a JSON file.
nlohmann::json read_json(const std::string& path);

/// A fresh temporary folder for one test.
std::string temp_dir(const std::string& name);

/// OpenCV's sample clip (Debian's opencv-doc, installed by scripts/install-deps.sh): 795
/// frames of 768x576 pedestrians.
inline const std::string kSampleClip = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

}  // namespace foil::test
