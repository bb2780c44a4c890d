// All-or-nothing outputs: results folders are built beside their final place and renamed
// into it; output files are checked for writability before any work.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/data/dataset.h"
#include "foil/report/figures.h"
#include "foil/report/html.h"

namespace foil::cli {
namespace fs = std::filesystem;

namespace {

/// Throws InputError unless a file can be created in `dir` (named by `flag`).
void probe_folder(const fs::path& dir, const std::string& flag, const std::string& path) {
  const fs::path probe = dir / fmt::format(".foil-probe-{}", ::getpid());
  const bool ok = static_cast<bool>(std::ofstream(probe));
  std::error_code ec;
  fs::remove(probe, ec);
  if (!ok) throw InputError(flag + " " + path + ": cannot write into " + dir.string());
}

}  // namespace

void check_writable(const std::string& path, const std::string& flag) {
  if (path.empty()) return;
  std::error_code ec;
  check_input(!fs::is_directory(path, ec), flag + " " + path, "a file name", "a folder");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec || !fs::is_directory(parent))
      throw InputError(flag + " " + path + ": cannot create folder " + parent.string() +
                       (ec ? " (" + ec.message() + ")" : ""));
  }
  probe_folder(parent.empty() ? fs::path(".") : parent, flag, path);
}

namespace {

/// `path` made absolute with its links, "." and ".." resolved as far as it exists, for
/// comparing paths that may not exist yet.
fs::path resolved(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) p = fs::absolute(path, ec).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p;
}

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
    to.push_back({flag, path, resolved(path)});
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
        add(input_folders, "--model", resolved(m).parent_path().string());
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
        add(input_folders, flag, resolved(spec.path).parent_path().string());
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
    : out_(std::move(out)), resumable_(resumable && dist::leader()), report_(report) {
  check_input(!out_.empty(), flag, "a folder name", "an empty string");
  std::error_code ec;
  fs::path folder = fs::absolute(out_, ec).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // "out/" and "."
  check_input(!folder.filename().empty(), flag, "a folder below the root", "'" + out_ + "'");
  partial_ = leader_partial_ =
      (folder.parent_path() / (folder.filename().string() + ".partial")).string();
  // In a job of several processes only rank 0 writes <out>; the others write into a scratch
  // folder of their own that commit() discards.
  if (!dist::leader()) partial_ += ".rank" + std::to_string(dist::rank());
  check_input(!fs::exists(out_, ec) || fs::is_directory(out_, ec), flag + " " + out_,
              "a folder (or a name for a new one)", "an existing file");
  if (!resumable_ && fs::exists(fs::symlink_status(partial_, ec))) {  // a killed run's leftovers
    fs::remove_all(partial_, ec);
    std::fprintf(stderr, "foil: removed %s, left by a run that did not finish\n", partial_.c_str());
  }
  fresh_ = !fs::exists(partial_, ec);
  fs::create_directories(partial_, ec);
  if (ec || !fs::is_directory(partial_))
    throw InputError(flag + " " + out_ + ": cannot create " + partial_ +
                     (ec ? " (" + ec.message() + ")" : ""));
  probe_folder(partial_, flag, out_);
  // A resumable run goes on from a finished folder's files (it skips what they hold).
  if (resumable_ && fresh_ && fs::is_directory(out_, ec))
    fs::copy(out_, partial_,
             fs::copy_options::recursive | fs::copy_options::skip_existing |
                 fs::copy_options::copy_symlinks,
             ec);
  started_ = fs::file_time_type::clock::now();
}

ResultsFolder::~ResultsFolder() {
  if (committed_) return;
  std::error_code ec;
  // A resumable run keeps what it wrote for the next run, but not a folder it only made
  // (a run that failed its checks before any work leaves nothing behind).
  bool wrote = false;
  if (resumable_)
    for (const auto& e : fs::recursive_directory_iterator(partial_, ec))
      wrote = wrote || !fresh_ || e.last_write_time(ec) > started_;
  if (!wrote) fs::remove_all(partial_, ec);
}

void ResultsFolder::commit() {
  if (!dist::leader()) {
    std::error_code ec;
    fs::remove_all(partial_, ec);
    committed_ = true;
    return;
  }
  if (report_) {
    write_json(file("run.json"), run_json());
    try {
      write_report(partial_);
    } catch (const std::exception& e) {  // the results themselves are not lost over the page
      std::fprintf(stderr, "foil: warning: %s/report.html not written: %s\n", out_.c_str(),
                   e.what());
    }
  }
  if (!fs::exists(out_)) {
    fs::rename(partial_, out_);  // the whole folder appears at once
  } else {
    // An existing folder may hold the user's own files: only ours are replaced, each by one
    // rename, so a reader sees either the old or the new version of a file. Nothing is
    // replaced unless every file can be: a folder, FIFO or device of the same name stays.
    std::vector<fs::path> ours;
    for (const auto& entry : fs::directory_iterator(partial_)) ours.push_back(entry.path());
    for (const auto& p : ours) {
      const fs::path target = fs::path(out_) / p.filename();
      const std::string kind = unreplaceable_kind(target.string());
      const auto& outputs = run_record().output_files;
      if (std::find(outputs.begin(), outputs.end(), resolved(target.string()).string()) !=
          outputs.end()) {
        committed_ = true;  // keep the results where they are
        throw InputError(target.string() +
                         ": also an output of this command (two outputs on "
                         "one path); not replaced. The results are in " +
                         partial_);
      }
      const bool same = fs::is_directory(p) ? kind == "a folder" : kind.empty();
      if (!same && !(kind.empty() && !fs::exists(target))) {
        committed_ = true;  // keep the results where they are
        throw InputError(target.string() + ": " + (kind.empty() ? "a file" : kind) +
                         " where foil writes its " + p.filename().string() +
                         "; not replaced. The results are in " + partial_);
      }
    }
    for (const auto& p : ours) {
      const fs::path target = fs::path(out_) / p.filename();
      if (fs::is_directory(p)) {  // a sub-folder of ours (crops): its files, one by one
        fs::create_directories(target);
        for (const auto& e : fs::recursive_directory_iterator(p)) {
          const fs::path to = target / fs::relative(e.path(), p);
          if (e.is_directory())
            fs::create_directories(to);
          else
            replace_with(e.path().string(), to.string());
        }
      } else {
        replace_with(p.string(), target.string());
      }
    }
    fs::remove_all(partial_);
  }
  committed_ = true;
}

}  // namespace foil::cli
