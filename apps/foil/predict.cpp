// foil predict: what a model sees - top classes, decoded keypoints, or its raw outputs.
#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/predict_job.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct PredictCmd {
  ModelFlags model;
  std::string data, json, draw, crops;
  FlagsOf<PredictOptions> options;
};

void run_predict(const PredictCmd& c) {
  const c10::Device device = apply_global_options();
  PredictOptions o;
  apply_option_flags(c.options, o);
  check_writable(c.json, "--json");
  std::unique_ptr<ResultsFolder> draw;
  if (!c.draw.empty()) draw = std::make_unique<ResultsFolder>(c.draw, "--draw");
  std::unique_ptr<ResultsFolder> crops;
  if (!c.crops.empty()) crops = std::make_unique<ResultsFolder>(c.crops, "--crops", false, false);
  if (draw) o.draw_dir = draw->dir();
  if (crops) o.crops_dir = crops->dir();
  auto model = open_run_model(c.model, device);
  check_predict_options(*model, o);
  const Dataset data = open_predict_data(c.data, *model);
  PredictResult r = foil::run_predict(*model, data, o);
  for (const std::string& line : r.lines) fmt::print("{}\n", line);
  if (draw) {
    write_json(draw->file("predictions.json"), r.results);
    draw->commit();
    fmt::print("wrote {} {} images, predictions.json and report.html to {}\n", data.size(),
               r.kind == "keypoints" ? "skeleton" : "detection", c.draw);
  }
  if (crops) {
    crops->commit();
    fmt::print("wrote {} crops to {}\n", r.crops, c.crops);
  }
  if (data.size() > o.show && r.kind != "generic")
    fmt::print("({} more in --json)\n", data.size() - o.show);
  r.results["outputs"] = r.outputs;
  write_json_output(c.json, r.results);
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto c = std::make_shared<PredictCmd>();
  auto* sub = app.add_subcommand(
      "predict",
      "what a model sees: top classes, detected objects, decoded 2-D/3-D keypoints or raw outputs");
  add_model_flags(sub, c->model, kModelFiles);
  sub->add_option("--data", c->data,
                  "images: a file (photo.jpg, photo.jpg@X,Y,W,H), a folder, "
                  "fashion-mnist:test[:N], pose:test[:N]")
      ->required();
  sub->add_option("--json", c->json, "write predictions and the raw output tensors here");
  sub->add_option("--draw", c->draw,
                  "keypoint models and detectors: write skeleton or labelled-box PNGs of each "
                  "photo at its own resolution into this folder");
  sub->add_option("--crops", c->crops,
                  "detectors: write each detection as a PNG into this folder (the square around "
                  "its box, a fifth larger, from the photo at its own resolution), e.g. faces "
                  "found by blazeface for the face classifiers");
  add_option_flags(sub, c->options, predict_option_fields(), PredictOptions(), "");
  sub->callback([c] { run_predict(*c); });
}

}  // namespace foil::cli
