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
  const CLI::App* app = &top;  // the chosen sub-command (main set the kind: "patch train")
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  if (app == &top) return;
  const std::string& kind = run_record().kind;
  const bool out_is_file = kind == "train" || kind == "keypoints train";
  RunPaths p;  // the library checks them (foil/report/results_folder.h)
  for (const char* flag : {"--json", "--save-adv"})
    for (const auto& v : given(*app, flag)) p.output_files.push_back({flag, v});
  // predict --draw is a folder of pictures; patch eval --draw one picture.
  for (const auto& v : given(*app, "--draw"))
    (kind == "predict" ? p.output_folders : p.output_files).push_back({"--draw", v});
  for (const auto& v : given(*app, "--out"))
    (out_is_file ? p.output_files : p.output_folders).push_back({"--out", v});
  for (const auto& v : given(*app, "--crops")) p.output_folders.push_back({"--crops", v});
  for (const char* flag : {"--model", "--models", "--surrogate"})
    for (const auto& v : given(*app, flag)) add_model_paths(p, flag, v);
  for (const char* flag : {"--patch", "--baseline", "--annotations"})
    for (const auto& v : given(*app, flag)) p.input_files.push_back({flag, v});
  for (const char* flag : {"--data", "--eval-data", "--patch-data", "--target-data",
                           "--starting-images", "--reference"})
    for (const auto& v : given(*app, flag)) add_data_paths(p, flag, v);
  auto& outputs = run_record().output_files;  // commit() never replaces them
  for (const auto& f : check_run_paths(p)) outputs.push_back(f);
}

ResultsFolder::ResultsFolder(std::string out, const std::string& flag, bool resumable, bool report)
    : foil::ResultsFolder(
          std::move(out), flag,
          ResultsFolderOptions{resumable, report, run_json, run_record().output_files}) {}

}  // namespace foil::cli
