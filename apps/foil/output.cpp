// The paths a sub-command reads and writes, checked before any work; results folders with
// this run's record (foil/report/results_folder.h).
#include <filesystem>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/data/dataset.h"

namespace foil::cli {
namespace fs = std::filesystem;

namespace {

/// The values of option `name` of `app` as given (each occurrence; commas split for
/// --model, which patch commands repeat or list).
std::vector<std::string> given(const CLI::App& app, const std::string& name) {
  const CLI::Option* opt = app.get_option_no_throw(name);
  if (opt == nullptr || opt->count() == 0) return {};
  std::vector<std::string> out;
  for (const std::string& v : opt->results()) out.push_back(v);
  return out;
}

}  // namespace

void check_paths(const CLI::App& top) {
  const CLI::App* app = &top;
  std::string kind;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : app->get_subcommands()) {
      kind += (kind.empty() ? "" : " ") + sub->get_name();
      app = sub;
      deeper = true;
      break;
    }
  }
  if (app == &top) return;
  const bool out_is_file = kind == "train" || kind == "keypoints train";
  RunPaths p;  // the library checks them (foil/report/results_folder.h)
  auto& files = p.output_files;
  auto& folders = p.output_folders;
  auto add = [](std::vector<NamedPath>& to, const std::string& flag, const std::string& path) {
    to.push_back({flag, path});
  };
  for (const char* flag : {"--json", "--save-adv"})
    for (const auto& v : given(*app, flag)) add(files, flag, v);
  // predict --draw is a folder of pictures; patch eval --draw one picture.
  for (const auto& v : given(*app, "--draw")) add(kind == "predict" ? folders : files, "--draw", v);
  for (const auto& v : given(*app, "--out")) add(out_is_file ? files : folders, "--out", v);
  for (const auto& v : given(*app, "--crops")) add(folders, "--crops", v);
  for (const char* flag : {"--model", "--models", "--surrogate"})
    for (const auto& v : given(*app, flag)) {
      check_input(!v.empty(), flag, "a model file", "an empty string");
      for (const auto& m : split_commas(v, flag)) {
        std::error_code ec;
        if (!fs::exists(m, ec)) continue;  // the loader names it (or it is zoo:ARCH)
        add(p.input_files, flag, m);
        // A TF.js graph reads its weight shards from the model's folder.
        if (fs::path(m).extension() == ".json")
          add(p.input_folders, flag, resolved_path(m).parent_path().string());
      }
    }
  for (const char* flag : {"--patch", "--baseline"})
    for (const auto& v : given(*app, flag)) add(p.input_files, flag, v);
  for (const char* flag : {"--data", "--eval-data", "--patch-data", "--target-data",
                           "--starting-images", "--reference"})
    for (const auto& v : given(*app, flag)) {
      check_input(!v.empty(), flag, "a data spec", "an empty string");
      DataSpec spec;
      try {
        spec = parse_data_spec(v);
      } catch (const InputError&) {
        continue;  // not a path (pose:test) or a bad spec the command names
      }
      if (spec.kind == DataSpec::Kind::kImageFolder) {
        add(p.input_folders, flag, spec.path);
        add(p.data_folders, flag, spec.path);
      }
      if (spec.kind == DataSpec::Kind::kImageFile) {
        add(p.input_files, flag, spec.path);
        add(p.input_folders, flag, resolved_path(spec.path).parent_path().string());
      }
    }
  auto& outputs = run_record().output_files;  // commit() never replaces them
  for (const auto& f : check_run_paths(p)) outputs.push_back(f);
}

ResultsFolder::ResultsFolder(std::string out, const std::string& flag, bool resumable, bool report)
    : foil::ResultsFolder(
          std::move(out), flag,
          ResultsFolderOptions{resumable, report, run_json, run_record().output_files}) {}

}  // namespace foil::cli
