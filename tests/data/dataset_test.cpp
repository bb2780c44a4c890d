#include "foil/data/dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "foil/core/error.h"
#include "test_util.h"

namespace foil {
namespace {

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (auto d : dims) put(d);
  return b;
}

TEST(Dataset, FashionMnistTestSplitLoads) {
  Dataset d = load_data("fashion-mnist:test");
  ASSERT_EQ(d.size(), 10000);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_GE(d.images.min().item<float>(), 0.0f);
  EXPECT_LE(d.images.max().item<float>(), 1.0f);
  // The test split is balanced: 1000 items per class.
  auto counts = torch::bincount(d.labels);
  EXPECT_TRUE(counts.eq(1000).all().item<bool>());
  EXPECT_EQ(d.class_names.at(9), "Ankle boot");
}

TEST(Dataset, LimitSuffixKeepsFirstItems) {
  Dataset all = load_data("fashion-mnist:test");
  Dataset d = load_data("fashion-mnist:test:100");
  ASSERT_EQ(d.size(), 100);
  EXPECT_TRUE(d.images.equal(all.images.slice(0, 0, 100)));
  EXPECT_EQ(load_data("fashion-mnist:train:7").size(), 7);
}

TEST(Dataset, ShuffleIsDeterministicBySeed) {
  Dataset d = load_data("fashion-mnist:test:500");
  EXPECT_TRUE(d.shuffled(3).labels.equal(d.shuffled(3).labels));
  EXPECT_FALSE(d.shuffled(3).labels.equal(d.shuffled(4).labels));
  EXPECT_TRUE(std::get<0>(d.shuffled(3).labels.sort()).equal(std::get<0>(d.labels.sort())));
}

TEST(Dataset, BadSpecsAreInputErrors) {
  EXPECT_THROW(load_data("fashion-mnist:validation"), InputError);
  EXPECT_THROW(load_data("/no/such/folder"), InputError);
  EXPECT_THROW(load_data("fashion-mnist:test:0"), InputError);
  EXPECT_THROW(load_data(""), InputError);
}

TEST(Dataset, WrongChannelCountNamesBothShapes) {
  // Grey becomes RGB (each channel the grey value), as image folders are converted.
  const Dataset rgb = load_data("fashion-mnist:test:5", ImageShape{3, 32, 32});
  ASSERT_EQ(rgb.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(rgb.images.select(1, 0), rgb.images.select(1, 2)));
  try {
    load_data("fashion-mnist:test:5", ImageShape{4, 224, 224});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1x28x28"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4x224x224"), std::string::npos) << msg;
  }
}

TEST(Idx, ReadsWellFormedFiles) {
  const std::string dir = test::temp_dir("idx-ok");
  auto im = idx_header(0x803, {2, 2, 3});
  for (int i = 0; i < 12; ++i) im.push_back(static_cast<uint8_t>(i * 20));
  auto lb = idx_header(0x801, {2});
  lb.push_back(3);
  lb.push_back(7);
  write_gz(dir + "/im.gz", im);
  write_gz(dir + "/lb.gz", lb);
  Dataset d = load_idx(dir + "/im.gz", dir + "/lb.gz");
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 1, 2, 3}));
  EXPECT_NEAR(d.images[1][0][1][2].item<float>(), 220 / 255.0, 1e-6);
  EXPECT_EQ(d.labels[1].item<int64_t>(), 7);
}

TEST(Idx, RejectsBadMagicTruncationAndCountMismatch) {
  const std::string dir = test::temp_dir("idx-bad");
  auto im = idx_header(0x803, {2, 2, 2});
  for (int i = 0; i < 8; ++i) im.push_back(1);
  auto lb = idx_header(0x801, {2});
  lb.push_back(0);
  lb.push_back(1);
  write_gz(dir + "/im.gz", im);
  write_gz(dir + "/lb.gz", lb);

  auto bad_magic = im;
  bad_magic[3] = 0x01;
  write_gz(dir + "/magic.gz", bad_magic);
  EXPECT_THROW(load_idx(dir + "/magic.gz", dir + "/lb.gz"), InputError);

  auto short_data = im;
  short_data.resize(short_data.size() - 3);
  write_gz(dir + "/short.gz", short_data);
  EXPECT_THROW(load_idx(dir + "/short.gz", dir + "/lb.gz"), InputError);

  auto three = idx_header(0x801, {3});
  three.insert(three.end(), {0, 1, 2});
  write_gz(dir + "/three.gz", three);
  EXPECT_THROW(load_idx(dir + "/im.gz", dir + "/three.gz"), InputError);

  // A gzip stream cut in half.
  std::ifstream in(dir + "/im.gz", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/cut.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(load_idx(dir + "/cut.gz", dir + "/lb.gz"), InputError);

  std::ofstream(dir + "/plain.gz") << "not gzip at all, not idx either";
  EXPECT_THROW(load_idx(dir + "/plain.gz", dir + "/lb.gz"), InputError);
  EXPECT_THROW(load_idx(dir + "/missing.gz", dir + "/lb.gz"), InputError);
}

TEST(Images, FolderAndFileRoundTrip) {
  const std::string dir = test::temp_dir("folder");
  std::filesystem::create_directories(dir + "/cats");
  std::filesystem::create_directories(dir + "/dogs");
  auto img = torch::rand({3, 20, 30});
  write_image(dir + "/cats/a.png", img);
  write_image(dir + "/dogs/b.png", img.flip(2));
  write_image(dir + "/dogs/c.png", img.flip(1));
  Dataset d = load_data(dir, ImageShape{3, 16, 16});
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
  EXPECT_EQ(d.labels[0].item<int64_t>(), 0);
  EXPECT_EQ(d.labels[2].item<int64_t>(), 1);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cats", "dogs"}));
  // PNG is lossless up to 8-bit rounding.
  Dataset one = load_data(dir + "/cats/a.png");
  EXPECT_LE((one.images[0] - img).abs().max().item<float>(), 0.5 / 255 + 1e-6);
  EXPECT_EQ(one.labels[0].item<int64_t>(), -1);
  // A folder of photos without class sub-folders: unlabelled, in file-name order.
  Dataset photos = load_data(dir + "/dogs", ImageShape{3, 16, 16});
  ASSERT_EQ(photos.size(), 2);
  EXPECT_TRUE(photos.labels.eq(-1).all().item<bool>());
  EXPECT_TRUE(photos.class_names.empty());
  EXPECT_TRUE(photos.images[0].equal(d.images[1]));
  // A folder with neither images nor class sub-folders.
  std::filesystem::create_directories(dir + "/empty");
  EXPECT_THROW(load_data(dir + "/empty"), InputError);
}

TEST(Images, CorruptImageIsInputError) {
  const std::string dir = test::temp_dir("corrupt");
  std::ofstream(dir + "/bad.png") << "\x89PNG but then nothing sensible";
  EXPECT_THROW(read_image(dir + "/bad.png"), InputError);
  EXPECT_THROW(read_image(dir + "/missing.png"), InputError);
}

TEST(Video, EveryNthFrameOfARangeAtTheModelsSize) {
  ASSERT_TRUE(std::filesystem::exists(test::kSampleClip)) << "opencv-doc is not installed";
  const std::string& clip = test::kSampleClip;
  const ImageShape want{3, 64, 48};
  const Dataset all = load_data(clip + ":every=100", want);
  ASSERT_EQ(all.size(), 8);  // frames 0, 100, ..., 700
  EXPECT_EQ(all.images.sizes(), (std::vector<int64_t>{8, 3, 64, 48}));
  EXPECT_TRUE((all.labels == -1).all().item<bool>());
  EXPECT_EQ(all.frames[3].path, clip + "/frame000300");
  EXPECT_EQ(all.frames[3].width, 768);
  EXPECT_EQ(all.frames[3].height, 576);
  // Successive frames of a video differ; a range reads the same frames as the whole clip.
  EXPECT_GT((all.images[0] - all.images[1]).abs().max().item<float>(), 0.05);
  const Dataset range = load_data(clip + ":frames=200-400:every=100", want);
  ASSERT_EQ(range.size(), 3);
  EXPECT_TRUE(torch::equal(range.images, all.images.slice(0, 2, 5)));
  EXPECT_EQ(range.frames[0].path, clip + "/frame000200");
  const Dataset open_end = load_data(clip + ":frames=650-:every=50", want);
  EXPECT_EQ(open_end.size(), 3);  // 650, 700, 750 (the clip ends at 794)
  const Dataset first = load_data(clip + ":every=100:2", want);
  EXPECT_TRUE(torch::equal(first.images, all.images.slice(0, 0, 2)));
  // A grey model gets grey frames.
  EXPECT_EQ(load_data(clip + ":every=400", {1, 28, 28}).images.sizes(),
            (std::vector<int64_t>{2, 1, 28, 28}));
}

TEST(Video, BadVideoSpecsAreInputErrors) {
  const std::string& clip = test::kSampleClip;
  const std::string dir = test::temp_dir("bad-video");
  const std::string fake = dir + "/broken.avi";
  std::ofstream(fake) << "not a video";
  for (const std::string& spec :
       {clip + ":every=0", clip + ":frames=5-2", clip + ":frames=x-3", clip + ":frames=7",
        clip + ":frames=100000-", fake, fake + ":every=2", dir + ":every=2"})
    EXPECT_THROW(load_data(spec, {3, 32, 32}), InputError) << spec;
}

}  // namespace
}  // namespace foil
