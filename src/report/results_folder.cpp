// All-or-nothing results folders, built beside their final place and renamed into it.
#include "foil/report/results_folder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/distributed/dist.h"
#include "foil/report/figures.h"
#include "foil/report/html.h"

namespace foil {
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

/// Opens and locks `path` (exclusive, not waiting); throws InputError naming `flag` and `out`
/// when another run holds it or it is not a plain file.
int lock_folder(const std::string& path, const std::string& flag, const std::string& out) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0)
    throw InputError(flag + " " + out + ": cannot create the lock file " + path + " (" +
                     std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
    ::close(fd);
    throw InputError(flag + " " + out + ": " + path +
                     " exists and is not foil's (empty) lock file; move it away");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw InputError(flag + " " + out + ": another foil run is writing this folder now (it holds " +
                     path + "); wait for it to finish or choose another folder");
  }
  return fd;
}

/// The file foil puts in every partial folder it makes: only a folder holding it is removed as
/// a run's leftovers or resumed.
constexpr const char* kPartialMarker = ".foil-partial";

/// Throws InputError (keeping the results in `partial`) unless `to`, where foil puts `ours`
/// (a file or a folder of its results), is new or of the same kind and no link: a link is
/// never written through, a folder never replaced by a file nor a file by a folder.
void check_target(const fs::path& ours, const fs::path& to, const std::string& partial) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(to, ec);
  if (st.type() == fs::file_type::not_found) return;
  const bool dir = fs::is_directory(ours);
  std::string kind = unreplaceable_kind(to.string());
  if (fs::is_symlink(st) && dir) kind = kind.empty() ? "a link" : kind;
  const bool same = dir ? kind == "a folder" : kind.empty();
  if (!same)
    throw InputError(to.string() + ": " + (kind.empty() ? "a file" : kind) +
                     " where foil writes its " + ours.filename().string() +
                     "; not replaced. The results are in " + partial);
}

/// `outer` is `inner` or a folder above it.
bool contains(const fs::path& outer, const fs::path& inner) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i)
    if (i == inner.end() || *o != *i) return false;
  return true;
}

}  // namespace

fs::path resolved_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) p = fs::absolute(path, ec).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p;
}

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

ResultsFolder::ResultsFolder(std::string out, const std::string& flag, ResultsFolderOptions options)
    : out_(std::move(out)),
      options_(std::move(options)),
      resumable_(options_.resumable && dist::leader()) {
  check_input(!out_.empty(), flag, "a folder name", "an empty string");
  std::error_code ec;
  fs::path folder = fs::absolute(out_, ec).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // "out/" and "."
  check_input(!folder.filename().empty(), flag, "a folder below the root", "'" + out_ + "'");
  // Results merge into an existing folder: never the one foil runs in or one above it.
  check_input(!contains(resolved_path(folder.string()), resolved_path(".")), flag,
              "a folder of its own (not the current folder or one above it)", "'" + out_ + "'");
  partial_ = leader_partial_ =
      (folder.parent_path() / (folder.filename().string() + ".partial")).string();
  // In a job of several processes only rank 0 writes <out>; the others write into a scratch
  // folder of their own that commit() discards.
  if (!dist::leader()) partial_ += ".rank" + std::to_string(dist::rank());
  check_input(!fs::exists(out_, ec) || fs::is_directory(out_, ec), flag + " " + out_,
              "a folder (or a name for a new one)", "an existing file");
  if (dist::leader()) {  // before anything of another run's can be touched
    fs::create_directories(folder.parent_path(), ec);
    lock_path_ = (folder.parent_path() / (folder.filename().string() + ".lock")).string();
    lock_fd_ = lock_folder(lock_path_, flag, out_);
  }
  if (fs::exists(fs::symlink_status(partial_, ec))) {
    // Only a folder foil made (its marker inside) is a run's leftovers: anything else of that
    // name is the user's and stays.
    const bool ours =
        fs::is_directory(fs::symlink_status(partial_, ec)) &&
        fs::is_regular_file(fs::symlink_status(fs::path(partial_) / kPartialMarker, ec));
    if (!ours) {
      unlock();
      throw InputError(flag + " " + out_ + ": " + partial_ +
                       " exists and is not a folder foil made (no " + kPartialMarker +
                       " inside); foil writes its results there first: move it away");
    }
    if (!resumable_) {  // a killed run's leftovers
      fs::remove_all(partial_, ec);
      std::fprintf(stderr, "foil: removed %s, left by a run that did not finish\n",
                   partial_.c_str());
    }
  }
  fresh_ = !fs::exists(partial_, ec);
  fs::create_directories(partial_, ec);
  if (ec || !fs::is_directory(partial_))
    throw InputError(flag + " " + out_ + ": cannot create " + partial_ +
                     (ec ? " (" + ec.message() + ")" : ""));
  probe_folder(partial_, flag, out_);
  if (!std::ofstream(fs::path(partial_) / kPartialMarker))
    throw InputError(flag + " " + out_ + ": cannot write into " + partial_);
  // A resumable run goes on from a finished folder's files (it skips what they hold).
  if (resumable_ && fresh_ && fs::is_directory(out_, ec))
    fs::copy(out_, partial_,
             fs::copy_options::recursive | fs::copy_options::skip_existing |
                 fs::copy_options::copy_symlinks,
             ec);
  started_ = fs::file_time_type::clock::now();
}

void ResultsFolder::unlock() {
  if (lock_fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // still ours: no other run can hold it while we do
  ::close(lock_fd_);
  lock_fd_ = -1;
}

ResultsFolder::~ResultsFolder() {
  if (committed_) {
    unlock();
    return;
  }
  std::error_code ec;
  // A resumable run keeps what it wrote for the next run, but not a folder it only made
  // (a run that failed its checks before any work leaves nothing behind).
  bool wrote = false;
  if (resumable_)
    for (const auto& e : fs::recursive_directory_iterator(partial_, ec))
      wrote = wrote || !fresh_ || e.last_write_time(ec) > started_;
  if (!wrote) fs::remove_all(partial_, ec);
  unlock();
}

void ResultsFolder::commit() {
  if (!dist::leader()) {
    std::error_code ec;
    fs::remove_all(partial_, ec);
    committed_ = true;
    return;
  }
  if (options_.report) {
    if (options_.run_info) write_json(file("run.json"), options_.run_info());
    // A page of nothing is not written (a folder of the user's own files only).
    bool results = false;
    for (const auto& e : fs::directory_iterator(partial_)) {
      const std::string ext = e.path().extension().string();
      results = results || ((ext == ".json" || ext == ".svg" || ext == ".png") &&
                            e.path().filename() != "run.json");
    }
    try {
      if (results) write_report(partial_);
    } catch (const std::exception& e) {
      // A folder without its page would look complete and is not: the results stay in the
      // partial folder, and the run fails.
      committed_ = true;
      throw InputError(out_ + "/report.html could not be written (" + first_line(e.what()) +
                       "); the results are kept in " + partial_);
    }
  }
  std::error_code ec;
  if (!fs::exists(out_)) {
    fs::remove(fs::path(partial_) / kPartialMarker, ec);
    fs::rename(partial_, out_);  // the whole folder appears at once
  } else {
    // An existing folder may hold the user's own files: only ours are replaced, each by one
    // rename, so a reader sees either the old or the new version of a file. Nothing is
    // replaced unless every file can be: a folder, FIFO or device of the same name stays.
    std::vector<fs::path> ours;
    for (const auto& entry : fs::directory_iterator(partial_))
      if (entry.path().filename() != kPartialMarker) ours.push_back(entry.path());
    for (const auto& p : ours) {
      const fs::path target = fs::path(out_) / p.filename();
      const auto& outputs = options_.other_outputs;
      if (std::find(outputs.begin(), outputs.end(), resolved_path(target.string()).string()) !=
          outputs.end()) {
        committed_ = true;  // keep the results where they are
        throw InputError(target.string() +
                         ": also an output of this command (two outputs on "
                         "one path); not replaced. The results are in " +
                         partial_);
      }
      try {
        check_target(p, target, partial_);
        if (fs::is_directory(p))  // a sub-folder of ours (crops): each thing in it too
          for (const auto& e : fs::recursive_directory_iterator(p))
            check_target(e.path(), target / fs::relative(e.path(), p), partial_);
      } catch (const InputError&) {
        committed_ = true;  // keep the results where they are
        throw;
      }
    }
    fs::remove(fs::path(partial_) / kPartialMarker, ec);
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
  unlock();
}

std::vector<std::string> check_run_paths(const RunPaths& paths) {
  struct Resolved {
    const NamedPath* given;
    fs::path where;
  };
  auto resolve = [](const std::vector<NamedPath>& list) {
    std::vector<Resolved> out;
    for (const NamedPath& p : list) {
      check_input(!p.path.empty(), p.flag, "a path", "an empty string");
      out.push_back({&p, resolved_path(p.path)});
    }
    return out;
  };
  const auto files = resolve(paths.output_files), folders = resolve(paths.output_folders),
             input_files = resolve(paths.input_files), input_folders = resolve(paths.input_folders),
             data_folders = resolve(paths.data_folders);
  std::vector<std::string> outputs;
  for (size_t i = 0; i < files.size(); ++i) {
    const NamedPath& f = *files[i].given;
    check_replaceable(f.path, f.flag);
    for (size_t j = 0; j < i; ++j)
      if (files[j].where == files[i].where)
        throw InputError(f.flag + " " + f.path + ": the same file as " + files[j].given->flag +
                         " (two outputs on one path)");
    for (const auto& in : input_files)
      if (in.where == files[i].where)
        throw InputError(f.flag + " " + f.path + ": that is the " + in.given->flag +
                         " input; foil never writes over its inputs");
    for (const auto& in : data_folders)
      if (contains(in.where, files[i].where))
        throw InputError(f.flag + " " + f.path + ": inside the " + in.given->flag + " folder " +
                         in.where.string() + ", whose files are inputs; foil never writes there");
    for (const auto& d : folders)
      if (d.where == files[i].where)
        throw InputError(f.flag + " " + f.path + ": the same path as " + d.given->flag +
                         " (two outputs on one path)");
    outputs.push_back(files[i].where.string());
  }
  for (size_t i = 0; i < folders.size(); ++i) {
    const NamedPath& d = *folders[i].given;
    const fs::path& where = folders[i].where;
    for (size_t j = 0; j < i; ++j)
      if (contains(folders[j].where, where) || contains(where, folders[j].where))
        throw InputError(d.flag + " " + d.path + ": overlaps the " + folders[j].given->flag +
                         " folder (two outputs on one path)");
    const std::string what = unreplaceable_kind(d.path);
    check_input(what.empty() || what == "a folder" || what == "a link to a folder",
                d.flag + " " + d.path, "a folder or a new name", what);
    for (const auto& in : input_folders) {
      if (contains(where, in.where))
        throw InputError(d.flag + " " + d.path + ": " +
                         (where == in.where ? "that is" : "it holds") + " the " + in.given->flag +
                         " folder " + in.where.string() +
                         "; results go into a folder of their own, never an input's");
    }
    for (const auto& in : data_folders)
      if (contains(in.where, where))
        throw InputError(d.flag + " " + d.path + ": inside the " + in.given->flag + " folder " +
                         in.where.string() +
                         "; results go into a folder of their own, never an input's");
    for (const auto& in : input_files)
      if (contains(where, in.where))
        throw InputError(d.flag + " " + d.path + ": it holds the " + in.given->flag + " input " +
                         in.given->path + "; results go into a folder of their own");
  }
  return outputs;
}

}  // namespace foil
