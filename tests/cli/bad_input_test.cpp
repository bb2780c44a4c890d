// Hostile input to the CLI: every case is exit 2 with one line naming the flag or file, no
// hang, no NaN result, nothing half-written (issue "Hardening").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "foil/data/dataset.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"
#include "test_util.h"

namespace fs = std::filesystem;
using foil::test::expect_bad_input;
using foil::test::run_foil;

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

const std::string& cnn() {
  static const std::string path = foil::test::trained_cnn();
  return path;
}

/// A copy of `src` cut to `fraction` of its bytes.
std::string truncated_copy(const std::string& src, double fraction, const std::string& name) {
  const std::string path = foil::test::temp_dir("truncated") + "/" + name;
  std::ifstream in(src, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  bytes.resize(static_cast<size_t>(static_cast<double>(bytes.size()) * fraction));
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

/// An image folder with one sub-folder per class name, two grey images each.
std::string image_folder(const std::vector<std::string>& classes) {
  const std::string dir = foil::test::temp_dir("folder");
  for (const auto& c : classes) {
    fs::create_directories(dir + "/" + c);
    for (int i = 0; i < 2; ++i)
      foil::write_image(dir + "/" + c + "/" + std::to_string(i) + ".png",
                        torch::full({1, 28, 28}, 0.2 + 0.3 * i));
  }
  return dir;
}

struct Case {
  std::string args, needle;
};

}  // namespace

TEST(BadInput, FlagValuesAreOneLineExit2) {
  const std::string m = " --model " + cnn() + " --data fashion-mnist:test:3";
  const std::string dir = foil::test::temp_dir("bad-flags");
  const std::vector<Case> cases = {
      {"--threads 100000 predict" + m, "--threads: expected an integer in 0..1024"},
      {"--threads -1 predict" + m, "--threads"},
      {"attack" + m + " --steps 1000000000", "--steps"},
      {"attack" + m + " --eps inf", "--eps"},
      {"attack" + m + " --eps nan", "--eps"},
      {"attack" + m + " --decay nan", "--decay: expected a finite number"},
      {"attack" + m + " --mean nan --std 1", "--mean"},
      {"attack" + m + " --batch 0", "--batch: expected an integer in 1..100000, got '0'"},
      {"attack" + m + " --batch 2.5", "--batch"},
      {"attack" + m + " --eps 0.1 --eps 0.2", "--eps: given 2 times"},
      {"attack" + m + " --eps", "--eps: expected a value"},
      {"audit --model " + cnn() + " --l2-eps inf", "--l2-eps"},
      {"audit --model " + cnn() + " --linf-eps 0.1,nan", "--linf-eps"},
      {"train --out " + dir + "/m.foil --epochs 0", "--epochs: expected an integer in 1..10000"},
      {"train --out " + dir + "/m.foil --batch 0", "--batch"},
      {"train --out " + dir + "/m.foil --lr 1e30", "--lr"},
      {"predict" + m + " --show -1", "--show"},
      {"predict" + m + " --top 0", "--top"},
      {"patch train" + m + " --target -7", "--target"},
      {"patch train" + m + " --rotation nan", "--rotation"},
      {"patch train" + m + " --noise -1", "--noise"},
      {"patch transfer" + m + " --target 1 --losses ''", "--losses"},
      {"keypoints table --model " + std::string(FOIL_TEST_MODELS) +
           "/posenet.foil --data pose:test:2 --l2-eps -1",
       "--l2-eps"},
      {"attack --model " + cnn() + " --data fashion-mnist:test:99999999999999999999999", "--data"},
      {"attack --model " + cnn() + " --data fashion-mnist:tst", "fashion-mnist:test[:N]"},
      {"attack --model " + cnn() + " --data " + q(foil::test::asset("photos/messi5.jpg")) +
           "@99999999999999999999,0,1,1",
       "a crop @X,Y,W,H"},
      {"attack" + m + " --targeted abc", "--targeted"},
      {"atack" + m, "expected a sub-command (train, attack, "},
      {"--threads 2 atack" + m, "got 'atack'"},
      {"patch trian" + m, "patch: expected a sub-command (train, eval, transfer), got 'trian'"},
  };
  for (const auto& c : cases) expect_bad_input(c.args, c.needle);
}

TEST(BadInput, ModelFilesThatAreNotModels) {
  const std::string dir = foil::test::temp_dir("bad-models");
  const std::string data = " --data fashion-mnist:test:2";
  expect_bad_input("attack --model " + dir + data, "is a folder");
  expect_bad_input("attack --model /dev/null" + data, "not a regular file");
  const std::string fifo = dir + "/fifo.foil";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_bad_input("attack --model " + fifo + data, "not a regular file");  // no hang
  std::ofstream(dir + "/empty.foil").close();
  expect_bad_input("attack --model " + dir + "/empty.foil" + data, "empty");

  auto model = foil::try_load_zoo_model(cnn());
  model->mutable_info().input = {1, 99999, 5};  // an edited input shape
  model->save(dir + "/shape.foil");
  expect_bad_input("predict --model " + dir + "/shape.foil" + data, "corrupt foil model file");

  model = foil::try_load_zoo_model(cnn());
  {
    torch::NoGradGuard no_grad;
    model->net()->parameters()[0].fill_(std::nan(""));  // a diverged training run
  }
  model->save(dir + "/nan.foil");
  expect_bad_input("predict --model " + dir + "/nan.foil" + data, "NaN");

  // A TorchScript model given images of the wrong channel count.
  expect_bad_input(
      "predict --model " + foil::test::fixture("small_cnn.pt") + " --input-shape 3,28,28" + data,
      "channels");
}

TEST(BadInput, BrokenImagesAreOneLineWithoutDecoderChatter) {
  const std::string jpg = foil::test::asset("photos/messi5.jpg");
  const std::string png = foil::test::asset("photos/basketball1.png");
  for (double f : {0.3, 0.9}) {
    expect_bad_input("predict --model " + cnn() + " --data " + truncated_copy(jpg, f, "messi.jpg"),
                     "messi.jpg");
    expect_bad_input("predict --model " + cnn() + " --data " + truncated_copy(png, f, "ball.png"),
                     "ball.png");
  }
}

TEST(BadInput, ImageFolderClassesAreMatchedByName) {
  // Folders named after two of the model's Fashion-MNIST classes take those classes' labels.
  auto data = foil::load_data(image_folder({"Bag", "Trouser"}));
  data.relabel_to(foil::fashion_mnist_classes(), "--data");
  EXPECT_TRUE(data.labels.equal(torch::tensor({8, 8, 1, 1})));
  // A class the model does not know is refused.
  expect_bad_input("attack --model " + cnn() + " --data " + image_folder({"Bag", "cat"}),
                   "class 'cat' is not one of the model's classes");
}

TEST(BadInput, TrainingRefusesOneClassAndDivergence) {
  const std::string dir = foil::test::temp_dir("bad-train");
  expect_bad_input(
      "train --data " + image_folder({"only"}) + " --test '' --out " + dir + "/one.foil",
      "at least 2 classes");
  EXPECT_FALSE(fs::exists(dir + "/one.foil"));
  // A learning rate that blows up: stopped with exit 2, no model, no checkpoint left.
  auto r = run_foil(
      "train --arch mlp --data fashion-mnist:test:256 --test '' --epochs 1 --lr 10 "
      "--batch 256 --out " +
      dir + "/lr.foil");
  if (r.code != 0) {
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("diverged"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir + "/lr.foil"));
  } else {  // it did not diverge: the model it wrote must be finite
    EXPECT_EQ(run_foil("predict --model " + dir + "/lr.foil --data fashion-mnist:test:2").code, 0);
  }
  EXPECT_FALSE(fs::exists(dir + "/lr.foil.ckpt"));
  EXPECT_EQ(
      run_foil("train --data fashion-mnist:test:100 --test '' --epochs 1 --out " + dir + "/ok.foil")
          .out.find("-100"),
      std::string::npos);
}

TEST(BadInput, OutputsAreCheckedBeforeAnyWork) {
  const std::string dir = foil::test::temp_dir("bad-out");
  // --json names a folder / an uncreatable place: refused before the (missing) model is opened.
  expect_bad_input("attack --model " + dir + "/missing.foil --json " + dir, "--json");
  expect_bad_input("attack --model " + dir + "/missing.foil --json /proc/none/x.json", "--json");
  expect_bad_input("audit --model " + dir + "/missing.foil --out /proc/none/audit", "--out");
  // --draw with a classifier: refused, and no folder is left behind.
  expect_bad_input(
      "predict --model " + cnn() + " --data fashion-mnist:test:2 --draw " + dir + "/draw",
      "--draw");
  EXPECT_FALSE(fs::exists(dir + "/draw"));
  EXPECT_FALSE(fs::exists(dir + "/draw.partial"));
  // One source model: no off-diagonal to average, said so.
  auto r = run_foil("patch transfer --model " + cnn() +
                    " --data fashion-mnist:test:40 --target 1 --losses ce --epochs 1 "
                    "--repeats 1 --out " +
                    dir + "/transfer");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("no off-diagonal"), std::string::npos) << r.out;
  EXPECT_TRUE(
      foil::test::read_json(dir + "/transfer/transfer.json")["matrices"]["ce"]["mean_off_diagonal"]
          .is_null());
}

TEST(BadInput, FailedRunLeavesTheResultsFolderAsItWas) {
  const std::string dir = foil::test::temp_dir("all-or-nothing");
  const std::string out = dir + "/explain";
  const std::string base = "explain --model " + cnn() + " --data fashion-mnist:test:2 --out " + out;
  ASSERT_EQ(run_foil(base).code, 0);
  std::ofstream(out + "/notes.txt") << "mine";
  const auto stamp = fs::last_write_time(out + "/explain.json");
  // Fails after the results folder was opened (the layer is checked on the model).
  expect_bad_input(base + " --layer no-such-layer", "no-such-layer");
  EXPECT_EQ(fs::last_write_time(out + "/explain.json"), stamp);
  EXPECT_FALSE(fs::exists(out + ".partial"));
  // A good rerun replaces foil's files and keeps the user's.
  ASSERT_EQ(run_foil(base).code, 0);
  EXPECT_TRUE(fs::exists(out + "/notes.txt"));
  EXPECT_TRUE(fs::exists(out + "/overlays.png"));
}

TEST(BadInput, TfjsShardPathsStayInsideTheModelFolder) {
  const std::string face = " --data " + q(foil::test::astronaut_face());
  const std::string dir = foil::test::temp_dir("traversal");
  fs::create_directories(dir + "/model");
  fs::copy(foil::test::human_model("emotion"), dir + "/model/emotion.json");
  fs::copy(foil::test::asset("human/models/emotion.bin"), dir + "/outside.bin");
  auto with_path = [&](const std::string& path) {
    auto j = foil::test::read_json(dir + "/model/emotion.json");
    j["weightsManifest"][0]["paths"] = {path};
    std::ofstream(dir + "/model/emotion.json") << j.dump();
    return "predict --model " + dir + "/model/emotion.json" + face;
  };
  expect_bad_input(with_path("../../etc/passwd"), "leaves the model's folder");
  expect_bad_input(with_path("../outside.bin"), "leaves the model's folder");
  expect_bad_input(with_path(dir + "/outside.bin"), "leaves the model's folder");
  fs::create_symlink(dir + "/outside.bin", dir + "/model/link.bin");
  expect_bad_input(with_path("link.bin"), "outside the model's folder");
  // The same file inside the folder loads.
  fs::copy(dir + "/outside.bin", dir + "/model/inside.bin");
  EXPECT_EQ(run_foil(with_path("inside.bin")).code, 0);
}

// Issue "Nothing lost, nothing leaked", item 1: an output is a new file or a regular file foil
// may replace; never a device, FIFO, folder or input; never two outputs on one path; --out never
// an input folder. Each case is refused before any work, and the thing named is untouched.
TEST(BadInput, OutputsNeverClobberWhatTheyMustNot) {
  const std::string dir = foil::test::temp_dir("clobber");
  const std::string fifo = dir + "/fifo", device = dir + "/null";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const bool have_device = ::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;  // root
  fs::create_symlink(fifo, dir + "/link-to-fifo");
  const std::string model = dir + "/model.foil";
  fs::copy_file(cnn(), model);
  const std::string photos = image_folder({"Bag", "Trouser"});
  fs::copy_file(photos + "/Trouser/0.png", photos + "/examples.png");
  const auto model_stamp = fs::last_write_time(model);
  const std::string m = " --model " + model + " --data fashion-mnist:test:2";
  const std::vector<Case> cases = {
      {"attack" + m + " --json " + fifo, "got a FIFO"},
      {"attack" + m + " --save-adv " + fifo, "--save-adv"},
      {"attack" + m + " --json " + dir + "/link-to-fifo", "a link to a FIFO"},
      {"attack" + m + " --json " + model, "the --model input"},
      {"attack" + m + " --json " + dir + "/x.pt --save-adv " + dir + "/./x.pt",
       "two outputs on one path"},
      {"attack" + m + " --json " + dir + "/a --out " + dir + "/a", "the same path as --out"},
      {"audit --model " + model + " --data " + photos + " --out " + photos, "--data folder"},
      {"audit --model " + model + " --data " + photos + " --out " +
           fs::path(photos).parent_path().string(),
       "it holds the --data"},
      {"audit --model " + model + " --data " + photos + "/Trouser/1.png --out " + photos +
           "/Trouser",
       "--data folder"},
      {"audit --model " + model + " --out " + fifo, "--out"},
      {"train --out " + fifo + " --epochs 1", "got a FIFO"},
      {"attack" + m + " --out ''", "--out: expected a path, got an empty string"},
      {"attack --model '' --data fashion-mnist:test:2", "--model: expected a model file"},
  };
  for (const auto& c : cases) expect_bad_input(c.args, c.needle);
  if (have_device) {
    expect_bad_input("attack" + m + " --json " + device, "a character device");
    EXPECT_TRUE(fs::is_character_file(device));
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_EQ(fs::last_write_time(model), model_stamp);
  EXPECT_TRUE(fs::exists(photos + "/examples.png"));
  EXPECT_FALSE(fs::exists(dir + "/x.pt"));
  for (const auto& e : fs::directory_iterator(dir))  // no temporary or partial files
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

// Item 7: a results file of the same name that is a folder or FIFO is never replaced; the run's
// results stay in <out>.partial and the message says so. A killed run's partial folder is
// cleaned by the next run, which says so.
TEST(BadInput, CommitNeverReplacesAFolderOrFifo) {
  const std::string dir = foil::test::temp_dir("commit");
  const std::string out = dir + "/explain";
  fs::create_directories(out + "/explain.json");
  std::ofstream(out + "/explain.json/mine.txt") << "mine";
  const std::string base = "explain --model " + cnn() + " --data fashion-mnist:test:2 --out " + out;
  auto r = run_foil(base);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("a folder where foil writes its explain.json; not replaced"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::exists(out + "/explain.json/mine.txt"));
  EXPECT_TRUE(fs::exists(out + ".partial/explain.json"));  // the results, kept
  fs::remove_all(out + "/explain.json");
  r = run_foil(base);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("left by a run that did not finish"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + ".partial"));
  // report.html as a folder: the page is not written, and no temporary file is left.
  fs::remove(out + "/report.html");
  fs::create_directories(out + "/report.html");
  r = run_foil("report " + out);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("got a folder"), std::string::npos) << r.err;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  // --json where the results folder puts its own attack.json: the --json file is kept.
  const std::string a = dir + "/a";
  r = run_foil("attack --model " + cnn() + " --data fashion-mnist:test:2 --steps 1 --json " + a +
               "/attack.json --out " + a);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("two outputs on one path"), std::string::npos) << r.err;
  EXPECT_TRUE(foil::test::read_json(a + "/attack.json").contains("robust_accuracy"));
}

// Item 4: values are checked for meaning; flags a sub-command would ignore are refused.
TEST(BadInput, ValuesAreCheckedForMeaning) {
  const std::string dir = foil::test::temp_dir("meaning");
  const std::string m = " --model " + cnn() + " --data fashion-mnist:test:20";
  // A patch with NaN colours (it used to be evaluated as a 94.7% fooling rate).
  torch::Tensor nan_patch = torch::full({3, 10, 10}, 0.5);
  nan_patch[0][0][0] = std::nan("");
  foil::save_tensor(dir + "/nan.pt", nan_patch);
  foil::save_tensor(dir + "/big.pt", torch::full({3, 10, 10}, 7.0));
  const std::vector<Case> cases = {
      {"attack" + m + " --eps 0x10", "--eps"},
      {"attack" + m + " --eps 1e-3x", "--eps"},
      {"audit --model " + cnn() + " --linf-eps 0x10", "--linf-eps"},
      {"attack" + m + " --mean 0x1 --std 1", "--mean"},
      {"attack" + m + " --steps 0", "--steps: expected an integer in 1..100000"},
      {"audit" + m + " --steps 0", "--steps: expected an integer in 1..100000"},
      {"attack" + m + " --steps x", "--steps: expected an integer in 1..100000, got 'x'"},
      // A flag the chosen attack does not read (they used to be ignored silently).
      {"attack" + m + " --max-queries 100", "--max-queries: not used by pgd; it is read by"},
      {"attack" + m + " --attack fgsm --steps 5", "--steps: not used by fgsm"},
      {"attack" + m + " --attack deepfool --kappa 1", "--kappa: not used by deepfool"},
      {"attack" + m + " --attack autoattack --no-random-start", "--no-random-start"},
      {"transfer --models zoo:mlp --attacks mifgsm,pgd --di-prob 0.5",
       "--di-prob: not used by mifgsm, pgd"},
      {"patch train" + m + " --eot --contrast -1,2 --out " + dir + "/p", "--contrast"},
      {"patch train" + m + " --eot --scale 0,1 --out " + dir + "/p", "--scale"},
      {"patch train" + m + " --target 1 --loss feature --layers conv2 --layer-weights -1 --out " +
           dir + "/p",
       "--layer-weights"},
      {"keypoints attack --model " + std::string(FOIL_TEST_MODELS) +
           "/posenet.foil --data pose:test:2 --jacobian-threshold-abs -1",
       "--jacobian-threshold-abs"},
      {"patch eval" + m + " --target 1 --patch " + dir + "/nan.pt", "NaN"},
      {"patch eval" + m + " --target 1 --patch " + dir + "/big.pt", "colours in [0,1]"},
      {"patch eval" + m + " --target 1 --init random --patch " + dir + "/big.pt",
       "--init: not a flag of foil patch eval"},
  };
  for (const auto& c : cases) expect_bad_input(c.args, c.needle);
}

// Item 5: a model whose outputs are of the wrong kind gets one line naming it and what was
// expected, not a LibTorch message; declared sizes no machine holds are refused unallocated.
TEST(BadInput, ModelOutputsOfTheWrongKind) {
  const std::string d = " --data fashion-mnist:test:3";
  using foil::test::fixture;
  const std::vector<Case> cases = {
      {"attack --model " + fixture("wrong_int_scores.pt") + d, "expected floating-point outputs"},
      {"predict --model " + fixture("wrong_int_scores.pt") + d, "Long outputs"},
      {"attack --model " + fixture("wrong_one_row.pt") + d, "one row of scores per image"},
      {"attack --model " + fixture("wrong_detached.pt") + d, "--access scores"},
      {"explain --model " + fixture("wrong_detached.pt") + d + " --out " +
           foil::test::temp_dir("detached") + "/e",
       "outputs without a gradient"},
      {"attack --model " + fixture("wrong_one_row.pt") + d + " --input-shape 1,100000,100000",
       "--input-shape: expected C,H,W"},
      {"attack --model " + fixture("wrong_one_row.pt") + d + " --input-shape 3,16384,16384",
       "C*H*W at most"},
      {"keypoints attack --model " + cnn() + " --data pose:test:2", "cnn.foil"},
  };
  for (const auto& c : cases) expect_bad_input(c.args, c.needle);
  // A gradient-free attack needs no gradient: Square runs on the detached model, and so does
  // HopSkipJump at the access level the message suggests.
  auto r = run_foil("attack --model " + fixture("wrong_detached.pt") + d +
                    " --attack square --queries 20 --eps 0.1");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_foil("attack --model " + fixture("wrong_detached.pt") + d +
               " --access labels --attack hopskipjump --max-queries 30 --eps 0.1");
  EXPECT_EQ(r.code, 0) << r.err;
}

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

// Issue 55, items 16-20: links inside a results folder are replaced, never written through; a
// user's <out>.partial is never removed; nothing is written inside a data folder; a baseline of
// other classes and an eps no float holds are refused.
TEST(BadInput, ResultsFoldersNeverWriteThroughLinksNorIntoDataFolders) {
  const std::string dir = foil::test::temp_dir("links");
  const std::string model = dir + "/m.foil", outside = dir + "/elsewhere.json";
  fs::copy_file(cnn(), model);
  std::ofstream(outside) << "keep me";
  const std::string out = dir + "/r";
  const std::string base = "explain --model " + model + " --data fashion-mnist:test:2 --out " + out;
  ASSERT_EQ(run_foil(base).code, 0);
  fs::remove(out + "/report.html");
  fs::create_symlink("../m.foil", out + "/report.html");
  fs::remove(out + "/explain.json");
  fs::create_symlink(outside, out + "/explain.json");
  const std::string model_bytes = bytes_of(model);
  auto r = run_foil(base);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(bytes_of(model), model_bytes);  // the model is untouched
  EXPECT_EQ(bytes_of(outside), "keep me");
  EXPECT_FALSE(fs::is_symlink(out + "/report.html"));  // the links were replaced themselves
  EXPECT_FALSE(fs::is_symlink(out + "/explain.json"));
  EXPECT_TRUE(foil::test::read_json(out + "/explain.json").is_object());
  // A user's own folder or file named <out>.partial is theirs: refused, kept.
  fs::create_directories(dir + "/p.partial");
  std::ofstream(dir + "/p.partial/mine.txt") << "mine";
  r = run_foil("explain --model " + model + " --data fashion-mnist:test:2 --out " + dir + "/p");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("not a folder foil made"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/p.partial/mine.txt"));
  EXPECT_FALSE(fs::exists(dir + "/p"));
  // Outputs inside a --data folder: a file of it is an input.
  const std::string photos = image_folder({"Bag", "Trouser"});
  const std::string photo = bytes_of(photos + "/Bag/0.png");
  expect_bad_input(
      "train --arch mlp --data " + photos + " --test '' --epochs 1 --out " + photos + "/Bag/0.png",
      "inside the --data folder");
  EXPECT_EQ(bytes_of(photos + "/Bag/0.png"), photo);
  expect_bad_input("audit --model " + model + " --data " + photos + " --threats white-box " +
                       "--corruptions none --out " + photos + "/results",
                   "inside the --data folder");
  EXPECT_FALSE(fs::exists(photos + "/results"));
  // An eps no float holds, and a --baseline of other classes (2 here, 10 for the model).
  expect_bad_input("attack --model " + model + " --data fashion-mnist:test:2 --eps 1e300", "--eps");
  ASSERT_EQ(run_foil("train --arch mlp --data " + photos + " --test '' --epochs 1 --out " + dir +
                     "/two.foil")
                .code,
            0);
  expect_bad_input("audit --model " + model + " --data fashion-mnist:test:4 --threats white-box " +
                       "--attack pgd --linf-eps 0.01 --l2-eps 0.1 --corruptions fog " +
                       "--severities 1 --baseline " + dir + "/two.foil --out " + dir + "/a",
                   "--baseline");
  EXPECT_FALSE(fs::exists(dir + "/a"));
}

// Issue 55, items 20-21: lists with empty items, flags the chosen job does not use, hidden
// defaults, repeated keys, the current folder as --out and a FIFO named like a video.
TEST(BadInput, EmptyItemsUnusedFlagsAndOddPathsAreRefused) {
  const std::string dir = foil::test::temp_dir("bad-lists");
  const std::string m = " --model " + cnn() + " --data fashion-mnist:test:3";
  const std::string fifo = dir + "/clip.avi";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string audit = "audit" + m + " --out " + dir + "/a ";
  const std::vector<Case> cases = {
      {audit + "--threats ''", "--threats"},
      {audit + "--threats white-box,", "--threats"},
      {audit + "--threats white-box,transfer --surrogate zoo:mlp,", "--surrogate"},
      {audit + "--corruptions none --severities 3", "--severities: not used here"},
      {audit + "--max-queries 50", "--max-queries: not used here"},
      {audit + "--linf-eps 0.1,", "--linf-eps"},
      {"attack" + m + " --attack ti-fgsm --surrogate " + foil::test::fixture("fashion_cnn.pt") +
           " --ti-kernel -1",
       "--ti-kernel"},
      {"attack" + m + " --attack si-fgsm --surrogate " + foil::test::fixture("fashion_cnn.pt") +
           " --si-scales -1",
       "--si-scales"},
      {"attack" + m + " --attack vmi-fgsm --surrogate " + foil::test::fixture("fashion_cnn.pt") +
           " --vmi-samples -1",
       "--vmi-samples"},
      {"attack" + m + " --attack ti-fgsm --surrogate " + foil::test::fixture("fashion_cnn.pt"),
       "--ti-kernel"},
      {"explain" + m + " --keep-out 0.2 --out " + dir + "/e", "--patch"},
      {"explain" + m + " --method occlusion --window 3 --stride 4 --out " + dir + "/e", "--stride"},
      {"explain" + m + " --faithfulness --protocol rise --baseline mean --out " + dir + "/e",
       "--baseline"},
      {"predict --model " + cnn() + " --data " + fifo, "got a FIFO"},
      {"predict --model " + cnn() + " --data " + dir + "/x.avi:every=2:every=3", "twice"},
      {"explain" + m + " --out .", "--out"},
  };
  for (const auto& c : cases) expect_bad_input(c.args, c.needle);
  EXPECT_FALSE(fs::exists(dir + "/a"));
  EXPECT_FALSE(fs::exists(dir + "/e"));
}

// Issue 55, item 20: a certified patch attack trained on unlabelled images (photos, video
// frames) pushes away from the model's own predictions instead of crashing on label -1.
TEST(BadInput, PatchCertifyTrainsItsAttackOnUnlabelledImages) {
  const std::string dir = foil::test::temp_dir("certify-unlabelled");
  for (int i = 0; i < 3; ++i)
    foil::write_image(dir + "/photo" + std::to_string(i) + ".png",
                      torch::full({1, 28, 28}, 0.1 + 0.3 * i));
  auto r = run_foil("certify --model " + cnn() +
                    " --data fashion-mnist:test:4 --patch 0.05 --masks 3 --attack-epochs 1 "
                    "--repeats 1 --per-image-steps 0 --patch-data " +
                    dir + "/photo1.png --out " + dir + "/c");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = foil::test::read_json(dir + "/c/patch_certify.json");
  EXPECT_NE(j.dump().find("universal patch trained on the plain model"), std::string::npos);
}

// Issue 55, item 21: a damaged video gives foil's one line or its frames, never FFmpeg's own
// decoder lines.
TEST(BadInput, DamagedVideoIsOneLineWithoutDecoderChatter) {
  const std::string dir = foil::test::temp_dir("damaged-video");
  std::ifstream in(foil::test::kSampleClip, std::ios::binary);
  std::string bytes(20000, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::mt19937 gen(1);
  for (int i = 0; i < 200000; ++i) bytes.push_back(static_cast<char>(gen() & 0xff));
  std::ofstream(dir + "/clip.avi", std::ios::binary) << bytes;
  const auto r = run_foil("predict --model " + cnn() + " --data " + dir + "/clip.avi");
  EXPECT_EQ(r.err.find("@ 0x"), std::string::npos) << r.err;  // "[msmpeg4 @ 0x...]"
  EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}
