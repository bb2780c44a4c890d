// foil report: rebuilds a results folder's report.html from its JSON and images.
#include <fmt/format.h>

#include "commands.h"
#include "foil/report/html.h"

namespace foil::cli {

void setup_report(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* sub = app.add_subcommand(
      "report",
      "rebuild DIR/report.html, one self-contained page (tables, plots, images), from a results "
      "folder's JSON and images");
  sub->add_option("dir", *dir, "results folder (from audit, attack --out, explain, ...)")
      ->required();
  sub->callback([dir] { fmt::print("wrote {}\n", write_report(*dir)); });
}

}  // namespace foil::cli
