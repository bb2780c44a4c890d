// foil bench: the cost of one attack step against the bare forward+backward of the same model
// and batch, measured in the same run.
#include "foil/jobs/bench.h"

#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct BenchCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test";
  int64_t batch = 250;
  std::string json;
  bool model_only = false;
  FlagsOf<BenchOptions> options;
};

void run_bench(const BenchCmd& c) {
  const c10::Device device = apply_global_options();
  check_writable(c.json, "--json");
  BenchOptions o;
  apply_option_flags(c.options, o);
  o.log = print_line;
  check_bench_options(o);
  check_input(o.only.empty() || !c.model_only, "--only",
              "no rows with --model-only (it times only the model's passes)", option_text(o.only));
  check_input(!(o.profile && c.model_only), "--profile",
              "not with --model-only (it profiles attack and patch rows)", "--model-only");
  auto model = open_run_model(c.model, device);
  nlohmann::json timings;
  if (c.model_only) {
    timings = run_model_bench(*model, load_data(c.data, model->info().input).head(c.batch),
                              o.repeats, print_line);
  } else {
    Dataset data = open_run_data(c.data, *model).head(c.batch);
    label_unlabelled(data, *model, print_line);
    timings = foil::run_bench(*model, data, o);
  }
  if (!c.json.empty()) write_json(c.json, timings);
}

}  // namespace

void setup_bench(CLI::App& app) {
  auto c = std::make_shared<BenchCmd>();
  auto* sub =
      app.add_subcommand("bench", "time attack steps against the model's bare forward+backward");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec the batch is taken from")->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  add_option_flags(sub, c->options, bench_option_fields(), BenchOptions(), "");
  sub->add_option("--json", c->json, "write the timings as JSON");
  sub->add_flag("--model-only", c->model_only,
                "time only the model's forward and forward+backward (any model, e.g. MoveNet)");
  sub->callback([c] { run_bench(*c); });
}

}  // namespace foil::cli
