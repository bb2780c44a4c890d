// foil patch train|eval|transfer: universal adversarial patches (printable grid or free
// pixels; cross-entropy, feature-point or optimal-transport objectives).
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/patch_jobs.h"
#include "foil/report/figures.h"
#include "patch_flags.h"

namespace foil::cli {
namespace {

// ---- patch train ----
struct PatchTrainCmd {
  PatchFlags f;
  std::string out = "foil-patch";
  std::string eval_data;
  bool eval_on_train = false;
  bool resume = true;
};

void run_patch_train(const PatchTrainCmd& c) {
  const c10::Device device = apply_global_options();
  const PatchSettings s = patch_settings(c.f);
  PatchTrainJobOptions o;
  set_task_options(o, c.f, s, global_options().seed, print_line);
  o.patch = s.patch;
  o.objective = s.objective;
  o.train = s.train;
  o.data_spec = c.f.data;
  o.eval_spec = c.eval_data;
  o.target_spec = s.target_spec;
  o.eval_on_train = c.eval_on_train;
  ResultsFolder out(c.out, "--out", /*resumable=*/true);  // the checkpoint lives in it
  const Loaded l = load_all(c.f, device);
  const std::string ckpt = out.leader_file("checkpoint.pt");  // rank 0 writes, sends to others
  if (!c.resume && dist::leader()) std::filesystem::remove(ckpt);
  o.train.checkpoint(ckpt).fingerprint(work_fingerprint().dump());
  const PatchTrainJobResult r = foil::run_patch_train(l.models, l.data, o);
  r.write(out.dir());
  if (dist::leader()) std::filesystem::remove(ckpt);
  out.commit();
  fmt::print(
      "wrote {}/report.html, patch.pt, patch.png, loss.csv, loss.svg, patched.png, summary.json\n",
      c.out);
}

// ---- patch eval ----
struct PatchEvalCmd {
  PatchFlags f;
  std::string patch;
  int64_t repeats = 5;
  std::string json, draw, out;
};

void run_patch_eval(const PatchEvalCmd& c) {
  const c10::Device device = apply_global_options();
  const PatchSettings s = patch_settings(c.f);
  PatchEvalJobOptions o;
  set_task_options(o, c.f, s, global_options().seed, print_line);
  o.repeats = c.repeats;
  o.patch_file = c.patch;
  check_writable(c.json, "--json");
  check_writable(c.draw, "--draw");
  if (!c.out.empty()) ResultsFolder(c.out, "--out");  // fails now, before any work
  const Loaded l = load_all(c.f, device);
  const int64_t target =
      resolve_patch_task(c.f.task, c.f.cls, c.f.target, "", o.placement, l.models);
  check_input(c.f.task == "detect" || c.draw.empty(), "--draw", "--task detect", "--task classify");
  // Flags that would change nothing are refused, not dropped: its patch.json (when there is
  // one) holds the patch's form and area.
  if (std::filesystem::exists(std::filesystem::path(c.patch).replace_extension(".json")))
    refuse_flags({"--param", "--cells", "--shape", "--area"},
                 "the patch's form and area are recorded in its patch.json");
  const Patch patch = read_patch(c.patch, s.patch, shape_of(l.data));
  const nlohmann::json results = foil::run_patch_eval(l.models, l.per_model, patch, o);
  if (!c.draw.empty())
    write_detections(c.draw, *l.models.front(), l.data, patch, o.placement, target, o.seed);
  write_json_output(c.json, results);
  if (c.out.empty()) return;
  ResultsFolder folder(c.out, "--out");
  write_json(folder.file("eval.json"), results);
  folder.commit();
  fmt::print("wrote {}/report.html, eval.json\n", c.out);
}

// ---- patch transfer ----
struct PatchTransferCmd {
  PatchFlags f;
  std::string losses;  ///< default: ce,feature,ot (classify), vanish (detect)
  bool losses_given = false;
  int64_t repeats = 3;
  std::string eval_data;
  bool eval_on_train = false;
  std::string out = "foil-transfer";
};

void run_patch_transfer(const PatchTransferCmd& c) {
  const c10::Device device = apply_global_options();
  const PatchSettings s = patch_settings(c.f);
  PatchTransferOptions o;
  set_task_options(o, c.f, s, global_options().seed, print_line);
  o.patch = s.patch;
  if (c.losses_given) {
    o.losses = split_commas(c.losses, "--losses");
    if (o.losses.empty()) o.losses = {c.losses};  // refused by name
  }
  o.objective = s.objective;
  o.train = s.train;
  o.repeats = c.repeats;
  o.data_spec = c.f.data;
  o.eval_spec = c.eval_data;
  o.target_spec = s.target_spec;
  o.eval_on_train = c.eval_on_train;
  check_patch_transfer_options(o);
  // Each finished patch is kept in the results folder, so an interrupted run resumes there.
  ResultsFolder out(c.out, "--out", /*resumable=*/true);
  o.patch_folder = out.leader_dir();
  o.work = work_fingerprint({"--model", "--losses", "--repeats"});
  o.model_files = c.f.models;
  const Loaded l = load_all(c.f, device);
  const PatchTransferResult r = foil::run_patch_transfer(l.models, l.per_model, o);
  r.write(out.dir());
  out.commit();
  fmt::print("wrote {}/transfer-*.csv, transfer-*.png, transfer.json\n", c.out);
}

}  // namespace

void setup_patch(CLI::App& app) {
  auto* patch = app.add_subcommand("patch", "universal adversarial patches: train, eval, transfer");
  patch->require_subcommand(1);

  auto tc = std::make_shared<PatchTrainCmd>();
  auto* train = patch->add_subcommand("train", "train a universal patch");
  add_patch_flags(train, tc->f, "train");
  train->add_option("--out", tc->out, "results folder")->capture_default_str();
  add_split_flags(train, tc->eval_data, tc->eval_on_train);
  train->add_flag("!--no-resume", tc->resume, "ignore a checkpoint in --out and start afresh");
  train->callback([tc] { run_patch_train(*tc); });

  auto ec = std::make_shared<PatchEvalCmd>();
  auto* eval = patch->add_subcommand("eval", "evaluate a patch against one or more models");
  add_patch_flags(eval, ec->f, "eval");
  eval->get_option("--data")->default_val("fashion-mnist:test:1000");
  eval->add_option("--patch", ec->patch, "patch.pt written by 'foil patch train'")->required();
  eval->add_option("--repeats", ec->repeats, "random placements per image")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  eval->add_option("--json", ec->json, "write the results as JSON");
  eval->add_option("--out", ec->out, "results folder: eval.json and report.html (one page)");
  eval->add_option("--draw", ec->draw,
                   "--task detect: a PNG of the first images' detections, clean and patched");
  eval->callback([ec] { run_patch_eval(*ec); });

  auto xc = std::make_shared<PatchTransferCmd>();
  auto* transfer = patch->add_subcommand("transfer", "transfer matrices of ce/feature/ot patches");
  add_patch_flags(transfer, xc->f, "transfer");
  auto* losses = transfer->add_option(
      "--losses", xc->losses,
      "objectives to compare (default ce,feature,ot; with --task detect vanish)");
  transfer->add_option("--repeats", xc->repeats, "random placements per image in evaluation")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  add_split_flags(transfer, xc->eval_data, xc->eval_on_train);
  transfer->add_option("--out", xc->out, "results folder")->capture_default_str();
  transfer->callback([xc, losses] {
    xc->losses_given = losses->count() > 0;
    run_patch_transfer(*xc);
  });
}

}  // namespace foil::cli
