// foil corrupt: a dataset under the common corruptions, as image folders
// (foil/jobs/corruption_job.h).
#include <fmt/format.h>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/corruption_job.h"

namespace foil::cli {

void setup_corrupt(CLI::App& app) {
  struct Cmd {
    std::string data = "fashion-mnist:test:100", corruptions = "all", severities = "1-5";
    std::string out = "foil-corrupt";
    bool as_published = false;
  };
  auto c = std::make_shared<Cmd>();
  auto* sub = app.add_subcommand(
      "corrupt",
      "write a dataset under the common corruptions (Hendrycks & Dietterich), one image folder "
      "per corruption and severity with the data's class layout");
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  sub->add_option("--corruptions", c->corruptions,
                  "all, benchmark (the 15 of mCE), held-out, noise, blur, weather, digital or "
                  "names, e.g. fog,jpeg_compression")
      ->capture_default_str();
  sub->add_option("--severities", c->severities, "1-5, 3 or 1,3,5")->capture_default_str();
  sub->add_option("--out", c->out, "folder to write (OUT/CORRUPTION-SEVERITY/CLASS/*.png)")
      ->capture_default_str();
  sub->add_flag("--as-published", c->as_published,
                "store each corrupted image as the published set did before writing it: "
                "CIFAR-10-C (images under 48 px) truncated to 8 bits, Tiny-ImageNet-C (48-99 px) "
                "and ImageNet-C (100 px and over) truncated and saved as JPEG quality 85; "
                "default: the float images rounded to PNG's 8 bits");
  sub->callback([c] {
    apply_global_options();
    check_input(dist::size() == 1, "'foil corrupt'", "one process",
                fmt::format("a job of {} processes", dist::size()));
    CorruptionAuditOptions o;
    o.corruptions = parse_corruptions(c->corruptions, "--corruptions");
    o.severities = parse_severities(c->severities, "--severities");
    o.seed = global_options().seed;
    o.as_published = c->as_published;
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
