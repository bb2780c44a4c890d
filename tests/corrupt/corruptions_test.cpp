// The common corruptions: ranges, severity order, seeds, batches, hand-computed values, and the
// corruption audit's CE/mCE arithmetic and files.
#include "foil/corrupt/corruptions.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/jobs/corruption_job.h"
#include "foil/patch/patch.h"
#include "test_util.h"

namespace foil {
namespace {

/// A real photograph (the astronaut's face) at `side` x `side`, 1×3×side×side.
torch::Tensor photo(int64_t side) {
  return load_data(test::astronaut_face(), ImageShape{3, side, side}).images;
}

double mean_change(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().mean().item<double>();
}

TEST(Corruptions, EveryOneAtEverySeverityStaysInRangeOnEverySize) {
  const torch::Tensor grey = load_data("fashion-mnist:test:2").images;
  for (const torch::Tensor& x : {grey, photo(32), photo(224)}) {
    for (const CorruptionInfo& c : corruption_list()) {
      if (!corruption_unfit(c.name, x.size(1)).empty()) continue;
      for (int s = 1; s <= 5; ++s) {
        const torch::Tensor y = corrupt(x, c.name, s, 7);
        ASSERT_EQ(y.sizes(), x.sizes()) << c.name << " " << s;
        EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << c.name << " " << s;
        EXPECT_GE(y.min().item<double>(), 0) << c.name << " " << s;
        EXPECT_LE(y.max().item<double>(), 1) << c.name << " " << s;
        EXPECT_GT(mean_change(x, y), 0) << c.name << " " << s << " changed nothing";
      }
    }
  }
}

// The deterministic corruptions change a real photo more at each higher severity (saturate is
// not ordered: severities 1-2 take colour away, 3-5 add it, as in the benchmark's table).
TEST(Corruptions, DeterministicOnesGrowWithSeverity) {
  for (const int64_t side : {32, 224}) {
    const torch::Tensor x = photo(side);
    for (const char* name : {"defocus_blur", "zoom_blur", "gaussian_blur", "contrast", "brightness",
                             "pixelate", "jpeg_compression"}) {
      double last = 0;
      for (int s = 1; s <= 5; ++s) {
        const double change = mean_change(x, corrupt(x, name, s, 0));
        EXPECT_GT(change, last) << name << " at severity " << s << " on " << side << " px";
        last = change;
      }
    }
  }
}

TEST(Corruptions, SameSeedSameImagesAndABatchGivesEachItemItsOwn) {
  const torch::Tensor x = load_data("fashion-mnist:test:4").images;
  for (const CorruptionInfo& c : corruption_list()) {
    if (!corruption_unfit(c.name, 1).empty()) continue;
    const torch::Tensor a = corrupt(x, c.name, 3, 11);
    EXPECT_TRUE(torch::equal(a, corrupt(x, c.name, 3, 11))) << c.name;
    for (int64_t i = 0; i < 4; ++i)
      EXPECT_TRUE(torch::equal(a[i], corrupt(x.slice(0, i, i + 1), c.name, 3, 11, i)[0]))
          << c.name << " item " << i;
  }
  // The random ones draw anew for another seed.
  for (const char* name : {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur",
                           "motion_blur", "snow", "frost", "fog", "spatter", "elastic_transform"})
    EXPECT_FALSE(torch::equal(corrupt(x, name, 5, 1), corrupt(x, name, 5, 2))) << name;
}

// Blurs average with weights that sum to 1: a flat image stays flat.
TEST(Corruptions, BlursKeepAFlatImage) {
  const torch::Tensor flat = torch::full({1, 3, 40, 40}, 102.0 / 255);
  for (const char* name : {"defocus_blur", "gaussian_blur", "zoom_blur", "motion_blur",
                           "glass_blur", "pixelate", "jpeg_compression"})
    for (int s = 1; s <= 5; ++s)
      EXPECT_LT((corrupt(flat, name, s, 0) - flat).abs().max().item<double>(), 1.01 / 255)
          << name << " " << s;
}

TEST(Corruptions, HandComputedValues) {
  // One pixel (0.2, 0.4, 0.6) and one black one, 2×1 (the CIFAR-10-C table).
  const torch::Tensor x = torch::tensor({0.2f, 0.0f, 0.4f, 0.0f, 0.6f, 0.0f}).view({1, 3, 1, 2});
  // Brightness, severity 1: V 0.6 + 0.05, hue and saturation kept; black becomes grey 0.05.
  const torch::Tensor b = corrupt(x, "brightness", 1, 0);
  EXPECT_NEAR(b[0][0][0][0].item<double>(), 0.2 * 0.65 / 0.6, 1e-6);
  EXPECT_NEAR(b[0][1][0][0].item<double>(), 0.4 * 0.65 / 0.6, 1e-6);
  EXPECT_NEAR(b[0][2][0][0].item<double>(), 0.65, 1e-6);
  EXPECT_NEAR(b[0][1][0][1].item<double>(), 0.05, 1e-6);
  // Saturate, severity 1: S 2/3 * 0.3 = 0.2 at V 0.6: R = V(1 - S) = 0.48, G halfway, B = V.
  const torch::Tensor s = corrupt(x, "saturate", 1, 0);
  EXPECT_NEAR(s[0][0][0][0].item<double>(), 0.48, 1e-6);
  EXPECT_NEAR(s[0][1][0][0].item<double>(), 0.54, 1e-6);
  EXPECT_NEAR(s[0][2][0][0].item<double>(), 0.6, 1e-6);
  // Severity 4 (S * 2 + 0.1) on a grey pixel: hue 0 (red), S 0.1 -> (0.5, 0.45, 0.45).
  const torch::Tensor g = corrupt(torch::full({1, 3, 1, 1}, 0.5), "saturate", 4, 0);
  EXPECT_NEAR(g[0][0][0][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(g[0][1][0][0].item<double>(), 0.45, 1e-6);
  // Contrast, severity 2 (0.5): halfway to each channel's mean.
  const torch::Tensor c = corrupt(x, "contrast", 2, 0);
  EXPECT_NEAR(c[0][0][0][0].item<double>(), 0.15, 1e-6);
  EXPECT_NEAR(c[0][0][0][1].item<double>(), 0.05, 1e-6);
  // Pixelate, severity 4 (0.75): PIL's box filter takes columns (a, b, c, d) of a 4×4 image
  // to (a, (b+c)/2, d) and back to (a, (b+c)/2, (b+c)/2, d).
  const torch::Tensor cols = torch::tensor({0.0f, 51.0f, 153.0f, 255.0f}) / 255;
  const torch::Tensor p =
      corrupt(cols.view({1, 1, 1, 4}).expand({1, 1, 4, 4}).contiguous(), "pixelate", 4, 0);
  const torch::Tensor want = torch::tensor({0.0f, 102.0f, 102.0f, 255.0f}) / 255;
  for (int64_t r = 0; r < 4; ++r) EXPECT_TRUE(torch::allclose(p[0][0][r], want, 0, 1e-6)) << p;
}

// clipped_zoom as the reference computes it: a centre crop of ceil(n / z) pixels zoomed by
// scipy (corner-aligned linear, the zoomed size by Python's round(), halves to even) and
// trimmed back to n, at zoom_blur's factors from numpy's arange (1 + k * ((1 + step) - 1)).
// On a horizontal ramp, linear zooms are exact, so each output column is a closed form.
TEST(Corruptions, ZoomBlurZoomsAsTheReference) {
  struct Case {
    int64_t side;
    int severity, count;
    double step;
  };
  // Sides 10, 16 and 26 (CIFAR table) each meet a zoom whose size is a half (26.5 -> 26).
  for (const Case& t : {Case{10, 1, 7, .01}, Case{16, 2, 12, .01}, Case{26, 1, 7, .01},
                        Case{32, 5, 26, .01}, Case{224, 5, 11, .03}}) {
    const int64_t n = t.side;
    const torch::Tensor ramp = torch::linspace(0, 1, n).view({1, 1, 1, n}).expand({1, 1, n, n});
    const torch::Tensor got = corrupt(ramp.contiguous(), "zoom_blur", t.severity, 0)[0][0][0];
    std::vector<double> want(n);
    for (int64_t c = 0; c < n; ++c) want[c] = c / (n - 1.0);
    const double delta = (1 + t.step) - 1;
    for (int k = 0; k < t.count; ++k) {
      const double z = 1 + k * delta;
      const int64_t crop = static_cast<int64_t>(std::ceil(n / z)), top = (n - crop) / 2;
      const double exact = crop * z;
      const int64_t zoomed = static_cast<int64_t>(std::nearbyint(exact));  // halves to even
      const int64_t trim = (zoomed - n) / 2;
      for (int64_t c = 0; c < n; ++c)
        want[c] += (top + (c + trim) * (crop - 1.0) / (zoomed - 1.0)) / (n - 1.0);
    }
    for (int64_t c = 0; c < n; ++c)
      EXPECT_NEAR(got[c].item<double>(), want[c] / (t.count + 1), 0.001)
          << "side " << n << " severity " << t.severity << " column " << c;
  }
}

// The reference's frost photographs (frost1-5, the five it draws from) as measured: the mean
// colour of the crops it cuts from each, ImageNet (224-pixel crops) and CIFAR (32-pixel crops
// of the photos shrunk by 0.2). On a black image each frosted item is one photo's colour times
// the severity's weight, bluish, with the photo's spread.
TEST(Corruptions, FrostHasThePhotographsColours) {
  struct Photo {
    double r, g, b, sd;
  };
  const std::vector<Photo> large = {{0.302, 0.579, 0.644, 0.067},
                                    {0.776, 0.793, 0.829, 0.078},
                                    {0.568, 0.626, 0.677, 0.104},
                                    {0.395, 0.440, 0.487, 0.139}};
  const std::vector<Photo> small = {{0.301, 0.581, 0.646, 0.061},
                                    {0.778, 0.796, 0.832, 0.071},
                                    {0.563, 0.621, 0.671, 0.103},
                                    {0.403, 0.447, 0.494, 0.134}};
  // Tiny-ImageNet-C: 64-pixel crops of the photos shrunk by 0.3.
  const std::vector<Photo> tiny = {{0.302, 0.579, 0.644, 0.061},
                                   {0.777, 0.794, 0.830, 0.072},
                                   {0.567, 0.625, 0.676, 0.093},
                                   {0.397, 0.442, 0.488, 0.126}};
  for (const int64_t side : {128, 64, 32}) {
    const auto& photos = side < 48 ? small : side < 100 ? tiny : large;
    // Severity 1 keeps the image whole and adds this much of the photo.
    const double weight = side < 48 ? 0.2 : side < 100 ? 0.3 : 0.4;
    const torch::Tensor frosted =
        corrupt(torch::zeros({24, 3, side, side}), "frost", 1, 5) / weight;
    std::vector<bool> seen(photos.size(), false);
    for (int64_t i = 0; i < 24; ++i) {
      const torch::Tensor mean = frosted[i].mean({1, 2});
      const double r = mean[0].item<double>(), g = mean[1].item<double>(),
                   b = mean[2].item<double>();
      const double sd = frosted[i].std({1, 2}).mean().item<double>();
      bool matched = false;
      for (size_t p = 0; p < photos.size(); ++p) {
        const Photo& f = photos[p];
        if (std::abs(r - f.r) < 0.01 && std::abs(g - f.g) < 0.01 && std::abs(b - f.b) < 0.01) {
          matched = seen[p] = true;
          EXPECT_NEAR(sd, f.sd, 0.2 * f.sd) << "item " << i << " on " << side << " px";
        }
      }
      EXPECT_TRUE(matched) << "item " << i << " on " << side << " px: (" << r << ", " << g << ", "
                           << b << ") is none of the photographs' colours";
      EXPECT_GT(b, r) << "frost is bluish";
    }
    EXPECT_GE(std::count(seen.begin(), seen.end(), true), 3) << side << " px";
  }
}

// Mud (spatter 4-5) moves a pixel either not at all or a fraction m in [0.8, 1] of the way to
// mud brown (63, 42, 20), the same m in every channel: x (1 - m) + brown m.
TEST(Corruptions, SpatterMudBlendsTowardsBrown) {
  const double brown[3] = {63 / 255.0, 42 / 255.0, 20 / 255.0};
  for (const int64_t side : {224, 32}) {
    const int64_t items = side < 100 ? 8 : 1;  // small mud blobs are rarer: a few draws
    const torch::Tensor x = photo(side).expand({items, 3, side, side}).contiguous();
    const auto xa = x.accessor<float, 4>();
    for (const int s : {4, 5}) {
      const torch::Tensor y = corrupt(x, "spatter", s, 3);
      const auto ya = y.accessor<float, 4>();
      int64_t muddy = 0;
      for (int64_t i = 0; i < items; ++i)
        for (int64_t r = 0; r < side; ++r)
          for (int64_t c = 0; c < side; ++c) {
            std::vector<double> m;  // the fraction moved, in channels far enough from brown
            bool moved = false;
            for (int ch = 0; ch < 3; ++ch) {
              const double from = xa[i][ch][r][c], to = ya[i][ch][r][c];
              moved = moved || std::abs(to - from) > 1e-6;
              if (std::abs(brown[ch] - from) > 0.1) m.push_back((to - from) / (brown[ch] - from));
            }
            if (!moved) continue;
            ++muddy;
            for (double f : m) {
              ASSERT_GE(f, 0.8 - 1e-4) << "severity " << s << " at " << r << "," << c;
              ASSERT_LE(f, 1 + 1e-4) << "severity " << s << " at " << r << "," << c;
              ASSERT_NEAR(f, m[0], 1e-3) << "severity " << s << " at " << r << "," << c;
            }
          }
      EXPECT_GT(muddy, 0) << "severity " << s << " on " << side << " px";
    }
  }
}

// Water (spatter 1-3) adds m times pale turquoise (175, 238, 238), where m is the strength
// times a * b / max(a * b) with a the drops and b their depth as 8-bit integers (the
// reference truncates them with numpy's uint8 casts and blurs the depth as 8 bits): on a black
// image every m * M / strength is a whole number for one M <= 255 * 255.
TEST(Corruptions, SpatterWaterIsMadeOfEightBitLayers) {
  const double strength[3] = {0.6, 0.6, 0.5};  // the ImageNet table
  for (int s = 1; s <= 3; ++s) {
    const torch::Tensor y = corrupt(torch::zeros({1, 3, 128, 128}), "spatter", s, 9)[0];
    const torch::Tensor g = y[1].flatten().to(torch::kDouble) * (255.0 / 238 / strength[s - 1]);
    EXPECT_NEAR(g.max().item<double>(), 1, 1e-5) << "the deepest drop has the full strength";
    const torch::Tensor wet = g.index({g > 0});
    ASSERT_GT(wet.numel(), 20) << "severity " << s;
    std::vector<double> v(wet.data_ptr<double>(), wet.data_ptr<double>() + wet.numel());
    v.resize(std::min<size_t>(v.size(), 200));
    int64_t found = 0;
    for (int64_t big = 1; big <= 255 * 255 && !found; ++big) {
      bool whole = true;
      for (double r : v)
        if (std::abs(r * big - std::round(r * big)) > 0.05) {
          whole = false;
          break;
        }
      if (whole) found = big;
    }
    EXPECT_GT(found, 0) << "severity " << s << ": the wet values are not a/b products of 8 bits";
  }
}

// The table by the longer side: CIFAR-10-C's (made for 32 pixels) under 48, Tiny-ImageNet-C's
// (64) from 48 to 99, ImageNet-C's (224) from 100.
TEST(Corruptions, EachSizeHasItsTable) {
  EXPECT_EQ(corruption_table(28, 28), "cifar-10-c");
  EXPECT_EQ(corruption_table(32, 32), "cifar-10-c");
  EXPECT_EQ(corruption_table(47, 20), "cifar-10-c");
  EXPECT_EQ(corruption_table(48, 48), "tiny-imagenet-c");
  EXPECT_EQ(corruption_table(64, 64), "tiny-imagenet-c");
  EXPECT_EQ(corruption_table(40, 99), "tiny-imagenet-c");
  EXPECT_EQ(corruption_table(100, 60), "imagenet-c");
  EXPECT_EQ(corruption_table(224, 224), "imagenet-c");
  for (const char* t : {"cifar-10-c", "tiny-imagenet-c", "imagenet-c"})
    EXPECT_FALSE(published_storage(t).empty()) << t;
  EXPECT_THROW(published_storage("mnist-c"), InputError);
}

// At 64 pixels the deterministic corruptions use make_tinyimagenet_c.py's constants: contrast
// 0.4 at severity 1 (CIFAR: 0.75), brightness V + 0.2 at severity 2 (CIFAR: 0.1), JPEG quality
// 65 at severity 1 (CIFAR: 80), pixelate to int(64 * 0.5) = 32 pixels at severity 5 (CIFAR:
// 0.65).
TEST(Corruptions, TinyImageNetConstantsAt64Pixels) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randint(1, 256, {1, 3, 64, 64}).to(torch::kFloat) / 255;
  const torch::Tensor means = x.mean({2, 3}, true);
  EXPECT_TRUE(torch::allclose(corrupt(x, "contrast", 1, 0), (x - means) * 0.4 + means, 0, 1e-5));
  const torch::Tensor v = std::get<0>(x.max(1, true));
  const torch::Tensor bright = x * (v + 0.2).clamp_max(1) / v;
  EXPECT_TRUE(torch::allclose(corrupt(x, "brightness", 2, 0), bright, 0, 1e-5));
  const torch::Tensor jpeg = corrupt(x, "jpeg_compression", 1, 0);
  EXPECT_TRUE(torch::equal(jpeg, jpeg_round_trip(x, 65)));
  EXPECT_FALSE(torch::equal(jpeg, jpeg_round_trip(x, 80)));
  // Pixelate by half: PIL's box filter averages 2x2 blocks (in 8 bits) and repeats them.
  const torch::Tensor blocks = torch::avg_pool2d(x, 2);
  const torch::Tensor want =
      torch::round(blocks * 255).repeat_interleave(2, 2).repeat_interleave(2, 3) / 255;
  EXPECT_LE((corrupt(x, "pixelate", 5, 0) - want).abs().max().item<double>(), 1.01 / 255);
  // CIFAR-10-C's own constants stay at 32 pixels: contrast 0.75 at severity 1.
  const torch::Tensor small = x.slice(2, 0, 32).slice(3, 0, 32).contiguous();
  const torch::Tensor small_means = small.mean({2, 3}, true);
  EXPECT_TRUE(torch::allclose(corrupt(small, "contrast", 1, 0),
                              (small - small_means) * 0.75 + small_means, 0, 1e-5));
}

// CIFAR-10-C was stored as numpy's uint8 of the 0..255 image: truncated, not rounded.
TEST(Corruptions, AsPublishedCifarTruncatesToEightBits) {
  const torch::Tensor y = corrupt(photo(32), "gaussian_noise", 3, 5);
  const torch::Tensor p = store_as_published(y, "cifar-10-c");
  ASSERT_EQ(p.sizes(), y.sizes());
  const torch::Tensor steps = p.to(torch::kDouble) * 255;
  EXPECT_LT((steps - steps.round()).abs().max().item<double>(), 1e-4) << "whole 1/255 steps";
  EXPECT_LE((p - y).max().item<double>(), 1e-6) << "never above the float value (floor)";
  EXPECT_LT((y - p).max().item<double>(), 1.0 / 255 + 1e-6);
  EXPECT_GT((y - p).mean().item<double>(), 0.3 / 255) << "truncated, not rounded";
  // Values already on a step stay there.
  EXPECT_TRUE(torch::equal(store_as_published(p, "cifar-10-c"), p));
}

// ImageNet-C and Tiny-ImageNet-C were stored as PIL's JPEG of quality 85 of the truncated
// 8-bit images: decode(encode85(floor)), which moves a noisy photo by JPEG-like amounts and
// keeps a flat one.
TEST(Corruptions, AsPublishedImageNetIsJpeg85OfTheTruncatedImage) {
  for (const int64_t side : {224, 64}) {
    const std::string table = side < 100 ? "tiny-imagenet-c" : "imagenet-c";
    const torch::Tensor y = corrupt(photo(side), "gaussian_noise", 2, 1);
    const torch::Tensor p = store_as_published(y, table);
    const torch::Tensor floored = store_as_published(y, "cifar-10-c");
    EXPECT_TRUE(torch::equal(p, jpeg_round_trip(floored, 85))) << side;
    EXPECT_FALSE(torch::equal(p, floored)) << side;
    // Noise is what JPEG drops most: a few to a few tens of 1/255 steps per value.
    const double change = mean_change(p, y);
    EXPECT_GT(change, 2.0 / 255) << side;
    EXPECT_LT(change, 30.0 / 255) << side;
    // A low-contrast image moves less: the truncation's half step and a little JPEG.
    const torch::Tensor smooth = corrupt(photo(side), "contrast", 1, 0);
    const double smooth_change = mean_change(store_as_published(smooth, table), smooth);
    EXPECT_GT(smooth_change, 0.3 / 255) << side;
    EXPECT_LT(smooth_change, 4.0 / 255) << side;
    EXPECT_LT(smooth_change, change) << side;
    const torch::Tensor steps = p.to(torch::kDouble) * 255;
    EXPECT_LT((steps - steps.round()).abs().max().item<double>(), 1e-4) << side;
    // Quality 85 keeps more than the corruption's own JPEG at its mildest (quality 65 or 25).
    EXPECT_LT(change, mean_change(corrupt(y, "jpeg_compression", 1, 0), y)) << side;
  }
  const torch::Tensor flat = torch::full({1, 3, 64, 64}, 100.0 / 255);
  EXPECT_TRUE(torch::allclose(store_as_published(flat, "imagenet-c"), flat, 0, 1e-6));
  const torch::Tensor grey = torch::rand({2, 1, 64, 64});
  EXPECT_EQ(store_as_published(grey, "tiny-imagenet-c").sizes(), grey.sizes());
}

// The options' storage step reaches the files and says so in the JSON.
TEST(CorruptionAudit, AsPublishedIsAppliedAndRecorded) {
  const Dataset data = load_data("fashion-mnist:test:6");
  CorruptionAuditOptions o;
  o.corruptions = {"gaussian_noise"};
  o.severities = {3};
  o.seed = 2;
  o.as_published = true;
  const std::string dir = test::temp_dir("corrupted-published");
  const CorruptedDataResult r = write_corrupted_data(data, o, dir);
  EXPECT_TRUE(r.as_published);
  const auto j = test::read_json(dir + "/corrupt.json");
  EXPECT_EQ(j["table"], "cifar-10-c");
  EXPECT_TRUE(j["as_published"].get<bool>());
  EXPECT_NE(j["published_storage"].get<std::string>().find("truncated"), std::string::npos);
  Dataset back = load_data(dir + "/gaussian_noise-3");
  back.relabel_to(data.class_names, "back");
  const torch::Tensor want =
      store_as_published(corrupt(data.images, "gaussian_noise", 3, 2), "cifar-10-c");
  for (int64_t i = 0; i < back.size(); ++i) {
    const int64_t item = std::stoll(std::filesystem::path(back.frames[i].path).stem().string());
    EXPECT_LE((back.images[i] - want[item]).abs().max().item<double>(), 1e-6) << item;
  }
  // The audit's JSON says which table ran and whether the storage step was applied.
  auto model = test::cnn_model();
  const CorruptionAuditResult a = run_corruption_audit(*model, data, o);
  const nlohmann::json aj = a.to_json();
  EXPECT_EQ(aj["table"], "cifar-10-c");
  EXPECT_TRUE(aj["as_published"].get<bool>());
  EXPECT_FALSE(aj["table_rule"].get<std::string>().empty());
  o.as_published = false;
  EXPECT_FALSE(run_corruption_audit(*model, data, o).to_json()["as_published"].get<bool>());
}

TEST(Corruptions, NamesGroupsAndSeveritiesAreChecked) {
  EXPECT_EQ(parse_corruptions("all", "c").size(), 19u);
  EXPECT_EQ(parse_corruptions("benchmark", "c").size(), 15u);
  EXPECT_EQ(parse_corruptions("held-out", "c"),
            (std::vector<std::string>{"speckle_noise", "gaussian_blur", "spatter", "saturate"}));
  EXPECT_EQ(parse_corruptions("fog,noise,fog", "c"),
            (std::vector<std::string>{"gaussian_noise", "shot_noise", "impulse_noise", "fog",
                                      "speckle_noise"}));
  EXPECT_THROW(parse_corruptions("smog", "c"), InputError);
  EXPECT_THROW(parse_corruptions(",", "c"), InputError);
  EXPECT_EQ(parse_severities("2-4", "s"), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(parse_severities("5,1", "s"), (std::vector<int>{1, 5}));
  for (const char* bad : {"0", "6", "1-", "4-2", "", "x"})
    EXPECT_THROW(parse_severities(bad, "s"), InputError) << bad;
  EXPECT_THROW(corrupt(torch::rand({1, 1, 8, 8}), "saturate", 1, 0), InputError);
  EXPECT_THROW(corrupt(torch::rand({1, 3, 8, 8}), "fog", 6, 0), InputError);
}

// CE and relative CE of the benchmark on hand-made accuracies; held-out corruptions stay out
// of the means.
TEST(CorruptionAudit, CeAndMceFromHandMadeAccuracies) {
  CorruptionAuditResult r;
  r.corruptions = {"gaussian_noise", "fog", "speckle_noise"};
  r.severities = {1, 2};
  r.has_baseline = true;
  r.model.clean = 0.9;
  r.model.accuracy = {{0.8, 0.6}, {0.5, 0.5}, {0.0, 0.0}};
  r.baseline.clean = 0.8;
  r.baseline.accuracy = {{0.6, 0.4}, {0.5, 0.3}, {0.9, 0.9}};
  const auto ce = r.ce(), rce = r.relative_ce();
  EXPECT_NEAR(ce[0], 0.6 / 1.0, 1e-12);
  EXPECT_NEAR(ce[1], 1.0 / 1.2, 1e-12);
  EXPECT_NEAR(r.benchmark_mean(ce), (0.6 + 1.0 / 1.2) / 2, 1e-12);
  EXPECT_NEAR(rce[0], 0.4 / 0.6, 1e-12);
  EXPECT_NEAR(rce[1], 0.8 / 0.8, 1e-12);
  EXPECT_NEAR(r.benchmark_mean(rce), (0.4 / 0.6 + 1.0) / 2, 1e-12);
  EXPECT_NEAR(r.mean_corruption_accuracy(r.model), (0.8 + 0.6 + 0.5 + 0.5) / 4, 1e-12);
  r.has_baseline = false;
  EXPECT_LT(r.benchmark_mean(r.ce()), 0);  // no baseline, no mCE
}

// The trained CNN against itself as the baseline: every CE is exactly 1; grey images skip
// saturate and say so; the files are written.
TEST(CorruptionAudit, TheModelAgainstItselfHasCeOne) {
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:60");
  CorruptionAuditOptions o;
  o.corruptions = parse_corruptions("gaussian_noise,contrast,saturate", "c");
  o.severities = {1, 5};
  const CorruptionAuditResult r = run_corruption_audit(*model, data, o, model.get());
  ASSERT_EQ(r.corruptions, (std::vector<std::string>{"gaussian_noise", "contrast"}));
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("saturate"), std::string::npos);
  for (double ce : r.ce()) EXPECT_DOUBLE_EQ(ce, 1.0);
  EXPECT_DOUBLE_EQ(r.benchmark_mean(r.ce()), 1.0);
  EXPECT_EQ(r.table, "cifar-10-c");
  // Severity 5 of both is harder than the clean images on average.
  EXPECT_LT((r.model.accuracy[0][1] + r.model.accuracy[1][1]) / 2, r.model.clean);
  const std::string dir = test::temp_dir("corruption-audit");
  r.write(dir, data);
  for (const char* f :
       {"corruptions.json", "corruptions.csv", "corruptions.png", "corruption_examples.png"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  const auto j = test::read_json(dir + "/corruptions.json");
  EXPECT_DOUBLE_EQ(j["mce"].get<double>(), 1.0);
  EXPECT_EQ(j["corruptions"].size(), 2u);
}

// The folders `foil corrupt` writes read back as datasets with the same labels and the
// corrupted pixels (to PNG's 1/255 steps).
TEST(CorruptionAudit, WrittenFoldersReadBackAsTheCorruptedData) {
  const Dataset data = load_data("fashion-mnist:test:12");
  CorruptionAuditOptions o;
  o.corruptions = {"fog"};
  o.severities = {2};
  o.seed = 4;
  o.batch = 5;
  const std::string dir = test::temp_dir("corrupted-data");
  const CorruptedDataResult r = write_corrupted_data(data, o, dir);
  ASSERT_EQ(r.folders, (std::vector<std::string>{"fog-2"}));
  EXPECT_EQ(r.images, 12);
  Dataset back = load_data(dir + "/fog-2");
  back.relabel_to(data.class_names, "back");
  ASSERT_EQ(back.size(), 12);
  ASSERT_EQ(back.frames.size(), 12u);
  const torch::Tensor want = corrupt(data.images, "fog", 2, 4);
  // Class folders come back in name order; each file is named by its item.
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t item = std::stoll(std::filesystem::path(back.frames[i].path).stem().string());
    EXPECT_EQ(back.labels[i].item<int64_t>(), data.labels[item].item<int64_t>()) << item;
    EXPECT_LE((back.images[i] - want[item]).abs().max().item<double>(), 0.51 / 255) << item;
  }
}

// Corruptions as EOT for patches: the patched images come out corrupted (each image its own
// draw), and the patch's gradient passes the corruption straight through (BPDA).
TEST(PatchEot, CorruptedImagesAndStraightThroughGradients) {
  const torch::Tensor x = load_data("fashion-mnist:test:6").images;
  const ImageShape shape{1, 28, 28};
  Patch patch = Patch::create(PatchOptions().area(0.1).cells(4), shape);
  const auto plain = PlacementOptions();
  const auto eot = PlacementOptions().eot_corruptions({"jpeg_compression", "gaussian_noise"});
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(3);
  auto g2 = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto drawn = sample_placements(patch, 6, shape, eot, g1);
  const auto bare = sample_placements(patch, 6, shape, plain, g2);
  EXPECT_EQ(drawn[0].top, bare[0].top);  // an image's corruption is drawn after its place
  EXPECT_EQ(drawn[0].left, bare[0].left);
  std::vector<Placement> places = bare;  // the same places, with the drawn corruptions
  for (size_t i = 0; i < places.size(); ++i) {
    EXPECT_FALSE(drawn[i].corruption.empty());
    EXPECT_GE(drawn[i].severity, 1);
    EXPECT_LE(drawn[i].severity, 5);
    places[i].corruption = drawn[i].corruption;
    places[i].severity = drawn[i].severity;
    places[i].corruption_seed = drawn[i].corruption_seed;
  }
  torch::Tensor pixels = patch.render().detach().requires_grad_(true);
  const torch::Tensor pasted = apply_patch(x, pixels, patch.mask(), bare, plain);
  const torch::Tensor out = apply_patch(x, pixels, patch.mask(), places, eot);
  for (int64_t i = 0; i < 6; ++i) {
    const Placement& p = places[i];
    const torch::Tensor want =
        corrupt(pasted.detach().slice(0, i, i + 1), p.corruption, p.severity, p.corruption_seed);
    EXPECT_TRUE(torch::allclose(out[i].detach(), want[0], 0, 1e-6)) << i;
  }
  const torch::Tensor w = torch::rand_like(x);
  const torch::Tensor g_eot = torch::autograd::grad({(out * w).sum()}, {pixels})[0];
  const torch::Tensor g_plain = torch::autograd::grad({(pasted * w).sum()}, {pixels})[0];
  EXPECT_TRUE(torch::allclose(g_eot, g_plain));
  EXPECT_THROW(check_placement_options(PlacementOptions().eot_corruptions({"smog"})), InputError);
  auto g3 = at::make_generator<at::CPUGeneratorImpl>(3);
  EXPECT_THROW(
      sample_placements(patch, 2, shape, PlacementOptions().eot_corruptions({"saturate"}), g3),
      InputError);
}

}  // namespace
}  // namespace foil
