// foil corrupt: a dataset under the common corruptions, as image folders
// (foil/jobs/corruption_job.h).
#include <fmt/format.h>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/corruption_job.h"

namespace foil::cli {

void setup_corrupt(CLI::App& app) {
  struct Cmd {
    std::string data = "fashion-mnist:test:100", out = "foil-corrupt";
    FlagsOf<CorruptionAuditOptions> options;
  };
  auto c = std::make_shared<Cmd>();
  auto* sub = app.add_subcommand(
      "corrupt",
      "write a dataset under the common corruptions (Hendrycks & Dietterich), one image folder "
      "per corruption and severity with the data's class layout");
  add_data_flag(sub, c->data);
  add_option_flags(sub, c->options, corruption_option_fields(), every_corruption(), "");
  sub->add_option("--out", c->out, "folder to write (OUT/CORRUPTION-SEVERITY/CLASS/*.png)")
      ->capture_default_str();
  sub->callback([c] {
    apply_global_options();
    check_input(dist::size() == 1, "'foil corrupt'", "one process",
                fmt::format("a job of {} processes", dist::size()));
    CorruptionAuditOptions o = every_corruption();
    apply_option_flags(c->options, o);
    check_input(!o.corruptions.empty(), "--corruptions", "at least one corruption", "none");
    o.seed = global_options().seed;
    o.log = print_line;
    ResultsFolder out(c->out, "--out", false, false);
    const Dataset data = load_data(c->data);
    check_input(data.size() > 0, "--data " + c->data, "at least one item", "an empty dataset");
    const CorruptedDataResult r = write_corrupted_data(data, o, out.dir());
    out.commit();
    print_line(fmt::format(
        "wrote {} images in {} folders to {} ({} constants{}); read one back "
        "with --data {}/{}",
        r.images, r.folders.size(), c->out, r.table, r.as_published ? ", stored as published" : "",
        c->out, r.folders.empty() ? "" : r.folders.front()));
  });
}

}  // namespace foil::cli
