#pragma once
// Sub-commands of the foil CLI: each file defines setup_<name>(CLI::App&), which adds the
// sub-command, its options struct and a callback that runs it.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "foil/attacks/attack.h"
#include "foil/attacks/checks.h"
#include "foil/attacks/evaluate.h"
#include "foil/attacks/option_table.h"
#include "foil/data/dataset.h"
#include "foil/distributed/dist.h"
#include "foil/explain/explain.h"
#include "foil/jobs/job.h"
#include "foil/models/model.h"
#include "foil/patch/patch.h"
#include "foil/report/results_folder.h"

namespace foil::cli {

/// The run's settings from the global flags (given before or after the sub-command name),
/// set once parsing completes (apply_global_flags).
RunSettings& global_options();
/// Adds the global flags (the library's run_settings_option_fields) to `app`.
void add_global_flags(CLI::App& app);
/// Stores the given global flags into global_options() (InputError naming a bad one).
void apply_global_flags();
/// apply_run_settings(global_options()): threads, seed, GPU determinism, the distributed job;
/// returns the --device.
c10::Device apply_global_options();

/// What ran, for a results folder's run.json: the command line and sub-command (set by main)
/// and each model the command opened (set by open_model).
struct RunRecord {
  std::string command, kind;
  nlohmann::json models = nlohmann::json::array();
  /// Every flag given to the sub-command (and before it), name -> values as given.
  nlohmann::json flags = nlohmann::json::object();
  /// The output files the command writes (--json, --save-adv, ...), resolved: a results
  /// folder's commit never replaces one of them.
  std::vector<std::string> output_files;
};
RunRecord& run_record();
/// Fills run_record().flags from the parsed `app` (its chosen sub-commands' given flags).
void record_flags(const CLI::App& app);
/// Throws InputError("--flag: not used here: `why`") for the first of `flags` that was given.
void refuse_flags(const std::vector<std::string>& flags, const std::string& why);
/// What a piece of work was made from, for deciding whether a resumed or reused result is
/// the same work: every given flag but those in `leave_out` (and those that choose where
/// results go or how fast: --out, --json, --threads, --device, --no-resume, ...), the seed,
/// and the digest of every --model file. Two runs whose fingerprints are equal compute the
/// same thing.
nlohmann::json work_fingerprint(const std::vector<std::string>& leave_out = {});
/// run.json's content: the library's run_info of this run.
nlohmann::json run_json();

/// --model with --mean/--std (and --input-shape), shared by every command that loads a model.
using ModelFlags = ModelSpec;
/// What --model takes, for its help.
constexpr const char* kModelFiles =
    "model file: written by 'foil train', TorchScript (.pt), a TensorFlow.js graph model "
    "(model.json) or ONNX (.onnx; metadata from model.onnx.foil.json)";
/// `required`: the help of a --model the command cannot run without; "": --model is optional
/// (the built-in model).
void add_model_flags(CLI::App* app, ModelFlags& flags, const std::string& required = "");
/// --mean, --std and --input-shape alone (commands that take several models).
void add_normalisation_flags(CLI::App* app, ModelFlags& flags);
/// The library's open_model (foil/jobs/job.h), and run.json records the model.
std::shared_ptr<Model> open_run_model(const ModelFlags& flags, c10::Device device);
/// The library's open_data (foil/jobs/job.h), and run.json records the input shape a
/// TorchScript model was run with.
Dataset open_run_data(const std::string& spec, Model& model, bool needs_gradient = true);
/// run.json records the input shape a TorchScript model without one was run with (set when
/// its data was opened).
void record_input_as_run(const Model& model);

/// --data, its default shown: the data spec the command reads (`help`: what it takes; "": any
/// spec foil reads).
void add_data_flag(CLI::App* app, std::string& spec, const std::string& help = "");

/// The items of a comma-separated list given with `flag` ("" is none; "a,,b" and "a," are
/// refused, naming the flag).
std::vector<std::string> split_commas(const std::string& text, const std::string& flag);

/// Writes `content` to the --json file `path` ("": none; in a job of several processes rank 0
/// alone) and says so.
void write_json_output(const std::string& path, const nlohmann::json& content);

/// A job's progress line on stdout (a foil::Log).
void print_line(const std::string& line);

/// Flags generated from a library option table (foil/core/option_fields.h), one per field,
/// each value kept as given until apply_option_flags stores it (checked) into the options.
struct OptionFlags {
  OptionFlags() = default;
  OptionFlags(const OptionFlags&) = delete;  ///< CLI11 holds references into `flags`
  OptionFlags& operator=(const OptionFlags&) = delete;
  /// One generated flag: its field, its CLI11 option (count() says whether it was given) and
  /// the value as given (text, or a switch's state).
  struct Flag {
    const OptionDecl* field = nullptr;
    const CLI::Option* option = nullptr;
    std::string text;
    bool on = false;
  };
  std::deque<Flag> flags;  ///< a deque: CLI11 holds references to `text` and `on`
  /// Whether the flag of this field (its primary name, "--steps") was given.
  bool given(const std::string& flag) const;
  /// Throws InputError("--flag: not used here; `why`") for the first flag given (of `more`
  /// and then the generated ones).
  void refuse_given(const std::string& why, std::vector<std::string> more = {}) const;
  /// Throws InputError for the first given flag none of `users` reads, naming it and them.
  void check_used(const std::vector<std::string>& users) const;
  /// A given flag's name as given (a switch turned off: its negation).
  static std::string name_of(const Flag& flag);
  /// A given flag's value, read as its field's type (InputError naming it otherwise).
  static OptionValue value_of(const Flag& flag);
};
/// The generated flags of the options struct O: add_option_flags puts only fields of O's table
/// in it, so apply_option_flags stores each into an O.
template <class O>
struct FlagsOf : OptionFlags {};

/// Adds `field`'s flag to `app` in its --help group, with `help` and the default shown ("":
/// none).
void add_option_flag(CLI::App* app, OptionFlags& flags, const OptionDecl& field,
                     const std::string& help, const std::string& default_text);
/// Adds the flag of each field of `table` that `job` reads ("": every field), defaults from
/// `defaults`.
template <class O>
void add_option_flags(CLI::App* app, FlagsOf<O>& flags, const std::vector<OptionField<O>>& table,
                      const O& defaults, const std::string& job) {
  for (const auto& f : table)
    if (!f.flag.empty() && (job.empty() || f.used_by_name(job)))
      add_option_flag(app, flags, f, f.help, f.own_default ? "" : f.text(defaults));
}
/// Stores every given flag into `o`; a flag none of `users` reads (when given) is refused.
/// Errors name the flag.
template <class O>
void apply_option_flags(const FlagsOf<O>& flags, O& o, const std::vector<std::string>& users = {}) {
  for (const auto& flag : flags.flags) {
    if (flag.option->count() == 0) continue;
    const std::string name = OptionFlags::name_of(flag);
    if (!users.empty()) check_option_used(*flag.field, users, name);
    set_option(o, static_cast<const OptionField<O>&>(*flag.field), OptionFlags::value_of(flag),
               name);
  }
}

/// A training sub-command (`foil train`, `foil keypoints train`) on the job options J (data,
/// test, out, train, resume, log) whose `train` field is an O: --data, --test, --out (the
/// model file), O's table, --no-resume and --json; `run` is the library's job.
template <class J, class O, class Run>
void add_training_command(CLI::App* sub, const std::vector<OptionField<O>>& table,
                          const std::string& data_help, const std::string& test_help, Run run) {
  auto o = std::make_shared<J>();
  auto json = std::make_shared<std::string>();
  auto flags = std::make_shared<FlagsOf<O>>();
  add_data_flag(sub, o->data, data_help);
  sub->add_option("--test", o->test, test_help)->capture_default_str();
  sub->add_option("--out", o->out, "model file to write")->required();
  add_option_flags(sub, *flags, table, O(), "");
  sub->add_flag("!--no-resume", o->resume, "ignore a checkpoint (OUT.ckpt) and start afresh");
  sub->add_option("--json", *json, "write the training history as JSON");
  sub->callback([o, json, flags, run] {
    apply_option_flags(*flags, o->train);
    o->train.device(apply_global_options()).seed(global_options().seed);
    o->log = print_line;
    check_writable(*json, "--json");
    write_json_output(*json, run(*o).to_json());
  });
}

/// The flags that choose and configure one attack, shared by attack, explain, regions, defend
/// and transfer: --attack and one flag per field of the library's table
/// (foil/attacks/option_table.h), with its defaults (default_attack_options), never repeated
/// here.
struct AttackFlags : FlagsOf<AttackOptions> {
  std::string attack = "pgd";
};
/// Adds --attack (default `default_attack`) and every flag of the attack option table, in its
/// --help groups.
void add_attack_flags(CLI::App* app, AttackFlags& flags, const std::string& default_attack);
/// The attack options the flags ask for (early stop off): default_attack_options(--attack),
/// the global --seed and each given flag; a flag none of `attacks` reads (default: --attack)
/// is refused with one line naming it and them.
AttackOptions attack_options(const AttackFlags& flags, std::vector<std::string> attacks = {});
/// Builds the attack (checks the options; throws InputError).
std::unique_ptr<Attack> make_attack_from(const AttackFlags& flags, bool early_stop = false);

/// --method and the flags of the explanation methods' table (foil/explain/explain.h).
struct ExplainFlags : FlagsOf<ExplainOptions> {
  std::string method = "gradcam";
};
void add_explain_flags(CLI::App* app, ExplainFlags& flags);
/// The methods' options the flags ask for (seed: --seed); a flag none of `methods` (default:
/// --method) reads is refused naming it and them.
ExplainOptions explain_options(const ExplainFlags& flags, std::vector<std::string> methods = {});

/// A flag value check whose failure reads "--flag: expected an integer in lo..hi, got 'x'"
/// (hi = INT64_MAX: no upper bound).
CLI::Validator integer_in(int64_t lo, int64_t hi);
/// Gives every integer or number option of `app` and its sub-commands that has no check
/// yet the base one: integers must parse, numbers must be finite (no inf, no nan).
void check_numbers(CLI::App& app);
/// CLI11's parse error text, reworded where CLI11 names types instead of what to give, and a
/// flag `command` ("patch eval") does not read named with it.
std::string parse_error_message(const std::string& what, const std::string& command);

/// The paths the chosen sub-command of `app` reads and writes, checked before any work: every
/// output (--json, --save-adv, --draw, --out) is a new file or a regular file (a folder for a
/// results folder), never a device, FIFO, socket or one of the command's inputs (--model,
/// --data, --eval-data, --patch), and no two outputs share a path; a results folder is never
/// an input folder (data or TF.js model folder, the folder of an input image) nor holds one.
/// Throws InputError naming the flag.
void check_paths(const CLI::App& app);

/// The library's results folder (foil/report/results_folder.h) with this run's run.json and
/// the command's other outputs protected from its commit.
class ResultsFolder : public foil::ResultsFolder {
 public:
  ResultsFolder(std::string out, const std::string& flag, bool resumable = false,
                bool report = true);
};

void setup_train(CLI::App& app);
void setup_attack(CLI::App& app);
void setup_launch(CLI::App& app);
void setup_audit(CLI::App& app);
void setup_bench(CLI::App& app);
void setup_explain(CLI::App& app);
void setup_regions(CLI::App& app);
void setup_defend(CLI::App& app);
void setup_patch(CLI::App& app);
void setup_keypoints(CLI::App& app);
void setup_predict(CLI::App& app);
void setup_report(CLI::App& app);
void setup_corrupt(CLI::App& app);
void setup_transfer(CLI::App& app);
void setup_certify(CLI::App& app);

}  // namespace foil::cli
