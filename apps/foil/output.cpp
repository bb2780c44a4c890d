// The paths a sub-command reads and writes, checked before any work; results folders with
// this run's record (foil/report/results_folder.h).
#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/data/dataset.h"

namespace foil::cli {
namespace fs = std::filesystem;

namespace {

/// `outer` is `inner` or a folder above it.
bool contains(const fs::path& outer, const fs::path& inner) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i)
    if (i == inner.end() || *o != *i) return false;
  return true;
}

struct PathUse {
  std::string flag, path;
  fs::path where;  // resolved
};

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
  std::vector<PathUse> files, folders, input_files, input_folders;
  auto add = [](std::vector<PathUse>& to, const std::string& flag, const std::string& path) {
    check_input(!path.empty(), flag, "a path", "an empty string");
    to.push_back({flag, path, resolved_path(path)});
  };
  for (const char* flag : {"--json", "--save-adv"})
    for (const auto& v : given(*app, flag)) add(files, flag, v);
  // predict --draw is a folder of pictures; patch eval --draw one picture.
  for (const auto& v : given(*app, "--draw")) add(kind == "predict" ? folders : files, "--draw", v);
  for (const auto& v : given(*app, "--out")) add(out_is_file ? files : folders, "--out", v);
  for (const auto& v : given(*app, "--crops")) add(folders, "--crops", v);
  for (const auto& v : given(*app, "--model")) {
    check_input(!v.empty(), "--model", "a model file", "an empty string");
    for (const auto& m : split_commas(v)) {
      std::error_code ec;
      if (!fs::exists(m, ec)) continue;  // the loader names it
      add(input_files, "--model", m);
      // A TF.js graph reads its weight shards from the model's folder.
      if (fs::path(m).extension() == ".json")
        add(input_folders, "--model", resolved_path(m).parent_path().string());
    }
  }
  for (const char* flag : {"--patch"})
    for (const auto& v : given(*app, flag)) add(input_files, flag, v);
  for (const char* flag : {"--data", "--eval-data"})
    for (const auto& v : given(*app, flag)) {
      check_input(!v.empty(), flag, "a data spec", "an empty string");
      DataSpec spec;
      try {
        spec = parse_data_spec(v);
      } catch (const InputError&) {
        continue;  // not a path (pose:test) or a bad spec the command names
      }
      if (spec.kind == DataSpec::Kind::kImageFolder) add(input_folders, flag, spec.path);
      if (spec.kind == DataSpec::Kind::kImageFile) {
        add(input_files, flag, spec.path);
        add(input_folders, flag, resolved_path(spec.path).parent_path().string());
      }
    }
  // Each output: a new file or a regular file; never an input, never another output.
  for (size_t i = 0; i < files.size(); ++i) {
    const PathUse& f = files[i];
    check_replaceable(f.path, f.flag);
    for (size_t j = 0; j < i; ++j)
      if (files[j].where == f.where)
        throw InputError(f.flag + " " + f.path + ": the same file as " + files[j].flag +
                         " (two outputs on one path)");
    for (const auto& in : input_files)
      if (in.where == f.where)
        throw InputError(f.flag + " " + f.path + ": that is the " + in.flag +
                         " input; foil never writes over its inputs");
    for (const auto& d : folders)
      if (d.where == f.where)
        throw InputError(f.flag + " " + f.path + ": the same path as " + d.flag +
                         " (two outputs on one path)");
    run_record().output_files.push_back(f.where.string());  // commit() never replaces them
  }
  for (size_t i = 0; i < folders.size(); ++i) {
    const PathUse& d = folders[i];
    for (size_t j = 0; j < i; ++j)
      if (contains(folders[j].where, d.where) || contains(d.where, folders[j].where))
        throw InputError(d.flag + " " + d.path + ": overlaps the " + folders[j].flag +
                         " folder (two outputs on one path)");
    const std::string what = unreplaceable_kind(d.path);
    check_input(what.empty() || what == "a folder" || what == "a link to a folder",
                d.flag + " " + d.path, "a folder or a new name", what);
    for (const auto& in : input_folders)
      if (contains(d.where, in.where))
        throw InputError(d.flag + " " + d.path + ": " +
                         (d.where == in.where ? "that is" : "it holds") + " the " + in.flag +
                         " folder " + in.where.string() +
                         "; results go into a folder of their own, never an input's");
    for (const auto& in : input_files)
      if (contains(d.where, in.where))
        throw InputError(d.flag + " " + d.path + ": it holds the " + in.flag + " input " + in.path +
                         "; results go into a folder of their own");
  }
}

ResultsFolder::ResultsFolder(std::string out, const std::string& flag, bool resumable, bool report)
    : foil::ResultsFolder(
          std::move(out), flag,
          ResultsFolderOptions{resumable, report, run_json, run_record().output_files}) {}

}  // namespace foil::cli
