// foil bench: the cost of one attack step against the bare forward+backward of the same model
// and batch, measured in the same run.
#include "foil/jobs/bench.h"

#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"

namespace foil::cli {
namespace {

struct BenchCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test";
  std::string json;
  FlagsOf<BenchOptions> options;
};

void run_bench(const BenchCmd& c) {
  const c10::Device device = apply_global_options();
  check_writable(c.json, "--json");
  BenchOptions o;
  apply_option_flags(c.options, o);
  o.log = print_line;
  check_bench_options(o);
  auto model = open_run_model(c.model, device);
  // The model's own passes take any data it takes (keypoint photos); attack rows labels.
  Dataset data =
      (o.model_only ? load_data(c.data, model->info().input) : open_run_data(c.data, *model))
          .head(o.batch);
  if (!o.model_only) label_unlabelled(data, *model, print_line);
  const nlohmann::json timings = foil::run_bench(*model, data, o);
  write_json_output(c.json, timings);
}

}  // namespace

void setup_bench(CLI::App& app) {
  auto c = std::make_shared<BenchCmd>();
  auto* sub =
      app.add_subcommand("bench", "time attack steps against the model's bare forward+backward");
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data, "data spec the batch is taken from");
  add_option_flags(sub, c->options, bench_option_fields(), BenchOptions(), "");
  sub->add_option("--json", c->json, "write the timings as JSON");
  sub->callback([c] { run_bench(*c); });
}

}  // namespace foil::cli
