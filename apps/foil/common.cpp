#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/models/torchscript.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"

namespace foil::cli {

RunSettings& global_options() {
  static RunSettings settings;
  return settings;
}

FlagsOf<RunSettings>& global_flags() {
  static FlagsOf<RunSettings> flags;
  return flags;
}

void add_global_flags(CLI::App& app) {
  add_option_flags(&app, global_flags(), run_settings_option_fields(), RunSettings(), "");
}

void apply_global_flags() { apply_option_flags(global_flags(), global_options()); }

c10::Device apply_global_options() { return apply_run_settings(global_options()); }

void add_model_flags(CLI::App* app, ModelFlags& flags, const std::string& required) {
  auto* opt = app->add_option("--model", flags.path,
                              required.empty() ? std::string(kModelFiles) +
                                                     "; default: the built-in Fashion-MNIST CNN "
                                                     "(trained on first use)"
                                               : required);
  if (!required.empty()) opt->required();
  add_normalisation_flags(app, flags);
}

void add_normalisation_flags(CLI::App* app, ModelFlags& flags) {
  app->add_option("--mean", flags.mean,
                  "per-channel mean the model expects, e.g. 0.485,0.456,0.406");
  app->add_option("--std", flags.std, "per-channel std the model expects, e.g. 0.229,0.224,0.225");
  app->add_option("--input-shape", flags.input_shape,
                  "C,H,W the model takes, for TorchScript models (images are converted and "
                  "resized to it); default: the data's own shape");
}

void add_data_flag(CLI::App* app, std::string& spec, const std::string& help) {
  app->add_option("--data", spec,
                  help.empty() ? "data spec: fashion-mnist:test[:N] (or train), an image folder "
                                 "(one sub-folder per class) or file, clip.avi:every=N"
                               : help)
      ->capture_default_str();
}

std::shared_ptr<Model> open_run_model(const ModelFlags& flags, c10::Device device) {
  auto model = open_model(flags, device);
  run_record().models.push_back(describe_model(*model, flags));
  return model;
}

RunRecord& run_record() {
  static RunRecord record;
  return record;
}

void record_flags(const CLI::App& app) {
  nlohmann::json flags = nlohmann::json::object();
  for (const CLI::App* level = &app; level != nullptr;) {
    for (const CLI::Option* opt : level->get_options())
      if (opt->count() > 0 && !opt->get_name().empty()) flags[opt->get_name()] = opt->results();
    const auto subs = level->get_subcommands();
    level = subs.empty() ? nullptr : subs.front();
  }
  run_record().flags = flags;
}

void refuse_flags(const std::vector<std::string>& flags, const std::string& why) {
  for (const auto& f : flags)
    if (run_record().flags.contains(f)) throw InputError(f + ": not used here; " + why);
}

nlohmann::json work_fingerprint(const std::vector<std::string>& leave_out) {
  static const std::vector<std::string> kNotTheWork = {
      "--out",    "--json",          "--save-adv",     "--draw", "--threads",
      "--device", "--deterministic", "--no-resume",    "--rank", "--world-size",
      "--master", "--store-file",    "--dist-timeout", "--help"};
  nlohmann::json flags = run_record().flags, digests = nlohmann::json::array();
  for (const auto* list : {&kNotTheWork, &leave_out})
    for (const auto& name : *list) flags.erase(name);
  if (run_record().flags.contains("--model") &&
      std::find(leave_out.begin(), leave_out.end(), "--model") == leave_out.end())
    for (const auto& v : run_record().flags["--model"])
      for (const auto& m : split_commas(v.get<std::string>(), "--model"))
        digests.push_back(model_file_digest(m));
  return {{"flags", flags}, {"seed", global_options().seed}, {"model_digests", digests}};
}

nlohmann::json run_json() {
  return run_info(run_record().command, run_record().kind, global_options(), run_record().models);
}

Dataset open_run_data(const std::string& spec, Model& model, bool needs_gradient) {
  Dataset data = foil::open_data(spec, model, needs_gradient);
  record_input_as_run(model);
  return data;
}

void record_input_as_run(const Model& model) {
  // run.json describes a TorchScript model by the shape it was run with, not "anyxanyxany".
  if (dynamic_cast<const TorchScriptModel*>(&model) == nullptr) return;
  for (auto& m : run_record().models)
    if (m.value("name", "") == model.info().name &&
        m.value("input", "") != model.info().input.str())
      m["input"] =
          model.info().input.str() + " (as run: the data's shape; not recorded in the file)";
}

void write_json_output(const std::string& path, const nlohmann::json& content) {
  if (path.empty() || !dist::leader()) return;
  write_json(path, content);
  fmt::print("wrote {}\n", path);
}

void print_line(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

std::vector<std::string> split_commas(const std::string& text, const std::string& flag) {
  return text.empty() ? std::vector<std::string>{} : split_list(text, flag);
}

void add_explain_flags(CLI::App* app, ExplainFlags& f) {
  std::vector<std::string> names;
  for (ExplainMethod m : explain_methods()) names.push_back(explain_method_name(m));
  app->add_option("--method,--importance", f.method,
                  fmt::format("importance map: {} (docs/explain.md). A flag the method does not "
                              "read is refused.",
                              fmt::join(names, ", ")))
      ->capture_default_str()
      ->group("Method");
  for (const auto& field : explain_option_fields())
    add_option_flag(app, f, field, field.help, field.text(ExplainOptions()));
}

ExplainOptions explain_options(const ExplainFlags& f, std::vector<std::string> methods) {
  if (methods.empty()) methods = {explain_method_name(parse_explain_method(f.method))};
  ExplainOptions o;
  o.seed = global_options().seed;
  apply_option_flags(f, o, methods);
  return o;
}

bool OptionFlags::given(const std::string& flag) const {
  for (const auto& f : flags)
    if (f.field->flag == flag) return f.option->count() > 0;
  return false;
}

void OptionFlags::refuse_given(const std::string& why, std::vector<std::string> more) const {
  for (const auto& f : flags) more.push_back(f.field->flag);
  refuse_flags(more, why);
}

void OptionFlags::check_used(const std::vector<std::string>& users) const {
  for (const auto& f : flags)
    if (f.option->count() > 0) check_option_used(*f.field, users, name_of(f));
}

std::string OptionFlags::name_of(const Flag& flag) {
  // A switch turned off is named by its negation (--no-random-start).
  const OptionDecl& field = *flag.field;
  const bool off = field.type == OptionType::kSwitch && !flag.on;
  return off && !field.more_names.empty() ? field.more_names.substr(1) : field.flag;
}

OptionValue OptionFlags::value_of(const Flag& flag) {
  const OptionDecl& field = *flag.field;
  if (field.type == OptionType::kSwitch) return flag.on;
  return parse_option_text(field, flag.text, field.flag);
}

void add_option_flag(CLI::App* app, OptionFlags& flags, const OptionDecl& field,
                     const std::string& help, const std::string& default_text) {
  auto& flag = flags.flags.emplace_back();
  flag.field = &field;
  const std::string names =
      field.more_names.empty() ? field.flag : field.flag + "," + field.more_names;
  CLI::Option* opt = field.type == OptionType::kSwitch ? app->add_flag(names, flag.on, help)
                                                       : app->add_option(names, flag.text, help);
  // Checked by the library's table when the options are built (not check_numbers' INT/FLOAT).
  static const char* const kTypeNames[] = {"NUMBER", "INTEGER", "", "TEXT", "NUMBERS", "LIST"};
  const std::string range = field.range();
  if (field.type != OptionType::kSwitch)
    opt->type_name(kTypeNames[static_cast<int>(field.type)] + (range.empty() ? "" : ":" + range));
  if (!default_text.empty() && field.type != OptionType::kSwitch) opt->default_str(default_text);
  opt->group(field.group);
  flag.option = opt;
}

void add_attack_flags(CLI::App* app, AttackFlags& f, const std::string& default_attack) {
  f.attack = default_attack;
  app->add_option("--attack", f.attack,
                  "fgsm, fgm (FGM-L2), bim, pgd, mifgsm; di-fgsm, ti-fgsm (DI+TI), ni-fgsm, "
                  "si-fgsm (SI alone), sini-fgsm (NI+SI), vmi-fgsm (transfer: with --surrogate); "
                  "apgd-ce, apgd-dlr, apgd-t, fab-t, "
                  "square, autoattack (reliable evaluation); spsa (scores), hopskipjump (labels; "
                  "minimal norm); cw, deepfool (minimal norm). A flag the attack does not read "
                  "is refused.")
      ->capture_default_str()
      ->group("Attack");
  const AttackOptions defaults = default_attack_options(default_attack);
  for (const AttackOptionField& field : attack_option_fields()) {
    if (field.flag.empty()) continue;
    const std::string readers =
        field.used_by.empty() ? "every attack" : fmt::format("{}", fmt::join(field.used_by, ", "));
    add_option_flag(app, f, field, fmt::format("{} (read by {})", field.help, readers),
                    field.own_default ? "" : field.text(defaults));
  }
}

AttackOptions attack_options(const AttackFlags& f, std::vector<std::string> attacks) {
  if (attacks.empty()) attacks = {f.attack};
  AttackOptions o = default_attack_options(f.attack).seed(global_options().seed);
  for (const auto& flag : f.flags) {
    if (flag.option->count() == 0) continue;
    set_attack_option(o, static_cast<const AttackOptionField&>(*flag.field),
                      OptionFlags::value_of(flag), attacks, OptionFlags::name_of(flag));
  }
  return o;
}

std::unique_ptr<Attack> make_attack_from(const AttackFlags& f, bool early_stop) {
  return make_attack(f.attack, attack_options(f).early_stop(early_stop));
}

}  // namespace foil::cli
