#pragma once
/// @file
/// Results folders written all-or-nothing, and output files checked before any work.
///
/// Example:
///   foil::ResultsFolder out("results", "--out");
///   report.write(out.dir(), data);   // a job's files, into "results.partial"
///   out.commit();                    // run.json, report.html, then "results" appears at once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil {

/// How a results folder behaves.
struct ResultsFolderOptions {
  /// Its checkpoints live in the folder: a failed run keeps it for the next, which also starts
  /// from a finished folder's files.
  bool resumable = false;
  /// Adds run.json (from `run_info`) and report.html at commit; false: a folder of data for
  /// other tools (crops), without either.
  bool report = true;
  /// run.json's content, asked for at commit (none: no run.json).
  std::function<nlohmann::json()> run_info;
  /// Resolved paths of the run's other outputs: commit never replaces one of them.
  std::vector<std::string> other_outputs;
};

/// A results folder written all-or-nothing: files go into "OUT.partial" beside it (with a
/// marker file, so that only a folder foil made is ever removed as a run's leftovers), and
/// commit() adds run.json and report.html, then renames that folder to OUT (or, when OUT
/// exists, renames each file into it, replacing files of the same name and leaving others
/// alone; never a folder, FIFO or device of the same name, nor another output). A run that
/// fails leaves OUT as it was and removes the partial folder; a resumable run keeps it. In a
/// job of several processes (foil launch) only rank 0's folder is kept (and resumed); the
/// others write into scratch folders that never outlive the run. Two runs never write the same
/// OUT at once: rank 0 holds an exclusive lock on "OUT.lock" from construction to commit or
/// destruction, and a second run with the same OUT stops with one line instead of removing the
/// first one's partial folder.
class ResultsFolder {
 public:
  /// Creates the partial folder now, so that an unwritable place fails before any work
  /// (InputError naming `flag`).
  ResultsFolder(std::string out, const std::string& flag, ResultsFolderOptions options = {});
  ~ResultsFolder();
  ResultsFolder(const ResultsFolder&) = delete;
  ResultsFolder& operator=(const ResultsFolder&) = delete;
  /// Where to write: "OUT.partial/NAME".
  std::string file(const std::string& name) const { return partial_ + "/" + name; }
  /// The partial folder files go into.
  const std::string& dir() const { return partial_; }
  /// Rank 0's partial folder (the same path in every process of a job).
  const std::string& leader_dir() const { return leader_partial_; }
  /// `name` in rank 0's partial folder, the same path in every process of a job: a checkpoint
  /// rank 0 writes and sends to the others.
  std::string leader_file(const std::string& name) const { return leader_partial_ + "/" + name; }
  /// Where `name` will be once committed (for messages).
  std::string final_file(const std::string& name) const { return out_ + "/" + name; }
  /// Adds run.json and report.html and puts the folder in place; throws InputError (keeping
  /// the partial folder) when something of the same name must not be replaced (a link where
  /// foil puts a folder, a folder where it puts a file, a FIFO, ...; a link where it puts a
  /// file is replaced itself), and also when the page cannot be written (a full disk).
  void commit();

 private:
  std::string out_, partial_, leader_partial_;
  ResultsFolderOptions options_;
  bool resumable_;
  bool committed_ = false;
  bool fresh_ = true;  ///< the partial folder was made by this run
  std::filesystem::file_time_type started_;
  std::string lock_path_;  ///< OUT.lock, held (flock) while this run writes OUT
  int lock_fd_ = -1;       ///< its descriptor (-1: none)
  void unlock();
};

/// Checks, before any work, that the output file `path` (given with `flag`; "" = none) can be
/// written: not a folder, its folder exists or can be made, and a file can be created there.
/// Throws InputError naming the flag otherwise.
void check_writable(const std::string& path, const std::string& flag);

/// A path a run reads or writes, with the flag (or option) that names it in messages.
struct NamedPath {
  std::string flag;  ///< e.g. "--out"
  std::string path;  ///< as given (not empty)
};

/// Every path one run reads and writes, by role.
struct RunPaths {
  std::vector<NamedPath> output_files;    ///< files it writes: JSON, tensors, pictures, models
  std::vector<NamedPath> output_folders;  ///< results folders
  std::vector<NamedPath> input_files;     ///< files it reads: models, patches, images
  std::vector<NamedPath> input_folders;   ///< folders it reads: image folders, a model's folder
  /// Data folders, every file of which is an input (a `--data` image folder): no output file
  /// or results folder may lie inside one. Also list them in `input_folders`.
  std::vector<NamedPath> data_folders;
};

/// Checks, before any work, that the outputs of `paths` replace nothing they must not: each
/// output file is a new file or a regular file (a link is judged by what it names), never a
/// device, FIFO, socket or folder, never an input and never another output's path; a results
/// folder is a folder or a new name, overlaps no other results folder and never is or holds an
/// input folder or input file; nothing is written inside a data folder. Throws InputError naming
/// the flag. Returns the output files, resolved (for ResultsFolderOptions::other_outputs).
std::vector<std::string> check_run_paths(const RunPaths& paths);

/// `path` made absolute with its links, "." and ".." resolved as far as it exists, for
/// comparing paths that may not exist yet.
std::filesystem::path resolved_path(const std::string& path);

}  // namespace foil
