// All-or-nothing outputs: results folders are built beside their final place and renamed
// into it; output files are checked for writability before any work.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "commands.h"
#include "foil/core/error.h"
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
  if (!resumable_) fs::remove_all(partial_, ec);  // a killed run's leftovers
  const bool fresh = !fs::exists(partial_, ec);
  fs::create_directories(partial_, ec);
  if (ec || !fs::is_directory(partial_))
    throw InputError(flag + " " + out_ + ": cannot create " + partial_ +
                     (ec ? " (" + ec.message() + ")" : ""));
  probe_folder(partial_, flag, out_);
  // A resumable run goes on from a finished folder's files (it skips what they hold).
  if (resumable_ && fresh && fs::is_directory(out_, ec))
    fs::copy(out_, partial_, fs::copy_options::recursive | fs::copy_options::skip_existing, ec);
}

ResultsFolder::~ResultsFolder() {
  if (committed_) return;
  std::error_code ec;
  if (!resumable_ || fs::is_empty(partial_, ec)) fs::remove_all(partial_, ec);
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
    // rename, so a reader sees either the old or the new version of a file.
    for (const auto& entry : fs::directory_iterator(partial_)) {
      const fs::path target = fs::path(out_) / entry.path().filename();
      if (fs::is_directory(target) && !fs::is_directory(entry.path())) fs::remove_all(target);
      fs::rename(entry.path(), target);
    }
    fs::remove_all(partial_);
  }
  committed_ = true;
}

}  // namespace foil::cli
