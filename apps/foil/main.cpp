// foil: how easily can an image model be fooled, where, and what helps.
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "foil/core/allocator.h"
#include "foil/core/error.h"
#include "foil/core/files.h"

int main(int argc, char** argv) {
  foil::keep_freed_memory();
  CLI::App app{
      "foil: attack, audit and benchmark image models (LibTorch; no Python needed).\n"
      "Run 'foil audit' with no arguments to audit the built-in Fashion-MNIST CNN."};
  app.require_subcommand(1);
  app.fallthrough();
  foil::cli::add_global_flags(app);
  foil::cli::setup_train(app);
  foil::cli::setup_attack(app);
  foil::cli::setup_audit(app);
  foil::cli::setup_bench(app);
  foil::cli::setup_explain(app);
  foil::cli::setup_regions(app);
  foil::cli::setup_defend(app);
  foil::cli::setup_patch(app);
  foil::cli::setup_keypoints(app);
  foil::cli::setup_predict(app);
  foil::cli::setup_report(app);
  foil::cli::setup_corrupt(app);
  foil::cli::setup_transfer(app);
  foil::cli::setup_certify(app);
  foil::cli::setup_launch(app);
  foil::cli::check_numbers(app);
  // Runs after every flag is parsed and checked, before the sub-command's own callback.
  app.parse_complete_callback([&app] {
    foil::cli::apply_global_flags();
    foil::cli::check_paths(app);
    foil::cli::record_flags(app);
  });
  // What ran, for results folders' run.json: the command line as a shell would take it back,
  // and the sub-command (with its own sub-command, e.g. "patch train").
  auto& record = foil::cli::run_record();
  record.command = "foil";
  const CLI::App* level = &app;
  const auto subs_of = [](const CLI::App* a) {
    return a->get_subcommands([](auto*) { return true; });
  };
  std::string unknown;  // the first word where a sub-command was due that names none
  bool value_due = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto subs = subs_of(level);
    const auto sub =
        std::find_if(subs.begin(), subs.end(), [&](auto* s) { return s->get_name() == a; });
    if (sub != subs.end() && a[0] != '-') {
      record.kind += (record.kind.empty() ? "" : " ") + a;
      level = *sub;
    } else if (unknown.empty() && !value_due && !a.empty() && a[0] != '-' && !subs.empty()) {
      unknown = a;
    }
    const CLI::Option* opt = a.rfind("--", 0) == 0 && a.find('=') == std::string::npos
                                 ? level->get_option_no_throw(a)
                                 : nullptr;
    value_due = opt != nullptr && opt->get_items_expected_min() > 0;
    record.command += " " + foil::shell_quoted(a);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help and friends
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = foil::cli::parse_error_message(e.what(), record.kind);
    if (what == "A subcommand is required") {
      std::string names;
      for (const CLI::App* sub : subs_of(level))
        names += (names.empty() ? "" : ", ") + sub->get_name();
      what = (record.kind.empty() ? std::string() : record.kind + ": ") +
             "expected a sub-command (" + names + "), got " +
             (unknown.empty() ? std::string("none") : "'" + unknown + "'");
    }
    std::fprintf(stderr, "foil: %s\n", what.c_str());
    return 2;
  } catch (const foil::InputError& e) {
    std::fprintf(stderr, "foil: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {  // an unwritable or odd path
    std::fprintf(stderr, "foil: %s: %s\n", e.path1().c_str(), e.code().message().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "foil: %s\n", foil::library_message(e.what(), 300).c_str());
    return 1;
  }
  return 0;
}
