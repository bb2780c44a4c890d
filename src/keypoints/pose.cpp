#include "foil/keypoints/pose.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "foil/core/error.h"

namespace foil {

PoseData PoseData::head(int64_t n) const {
  if (n < 0 || n >= size()) return *this;
  return {images.slice(0, 0, n), keypoints.slice(0, 0, n), source};
}

const std::vector<std::string>& pose_joint_names() {
  static const std::vector<std::string> names = {"head",   "neck",    "pelvis", "l_elbow",
                                                 "l_hand", "r_elbow", "r_hand", "l_knee",
                                                 "l_foot", "r_knee",  "r_foot"};
  return names;
}

const std::vector<std::pair<int, int>>& pose_skeleton() {
  static const std::vector<std::pair<int, int>> edges = {{0, 1}, {1, 2}, {1, 3}, {3, 4}, {1, 5},
                                                         {5, 6}, {2, 7}, {7, 8}, {2, 9}, {9, 10}};
  return edges;
}

namespace {

using Rng = std::mt19937_64;

double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

/// One figure's joints, in pixels, for an image of side `s`.
std::vector<cv::Point2d> sample_pose(Rng& rng, double s) {
  const double k = s / 64.0 * uniform(rng, 0.75, 1.0);
  const auto at = [](cv::Point2d from, double angle_deg, double length) {
    const double a = angle_deg * M_PI / 180.0;
    return cv::Point2d(from.x + length * std::sin(a), from.y - length * std::cos(a));
  };
  std::vector<cv::Point2d> j(11);
  const double torso = uniform(rng, -20, 20);
  j[2] = {uniform(rng, 0.4, 0.6) * s, uniform(rng, 0.5, 0.62) * s};  // pelvis
  j[1] = at(j[2], torso, 16 * k);                                    // neck
  j[0] = at(j[1], torso + uniform(rng, -15, 15), 7 * k);             // head
  for (int side = 0; side < 2; ++side) {
    const double sign = side == 0 ? -1 : 1;  // left limbs to the image's left
    const double upper = torso + sign * uniform(rng, 30, 170);
    j[3 + 2 * side] = at(j[1], upper, 9 * k);
    j[4 + 2 * side] = at(j[3 + 2 * side], upper + uniform(rng, -90, 90), 8 * k);
    const double thigh = torso + 180 - sign * uniform(rng, 5, 45);
    j[7 + 2 * side] = at(j[2], thigh, 10 * k);
    j[8 + 2 * side] = at(j[7 + 2 * side], thigh + uniform(rng, -60, 60), 9 * k);
  }
  return j;
}

cv::Scalar jitter(Rng& rng, cv::Scalar base) {
  const double f = uniform(rng, 0.6, 1.0);
  return {base[0] * f, base[1] * f, base[2] * f};
}

}  // namespace

PoseData make_pose_data(int64_t n, uint64_t seed, int64_t size) {
  check_input(n >= 1 && size >= 32, "pose data", "n >= 1 and size >= 32",
              fmt::format("n = {}, size = {}", n, size));
  Rng rng(seed);
  cv::RNG cvrng(seed ^ 0x9e3779b97f4a7c15ULL);
  const int s = static_cast<int>(size);
  // Each limb keeps a hue (RGB): left arm red, right arm blue, left leg green, right leg
  // yellow, torso and head white.
  const cv::Scalar limb_colour[] = {{240, 240, 240}, {240, 240, 240}, {255, 60, 60}, {255, 60, 60},
                                    {60, 90, 255},   {60, 90, 255},   {60, 230, 60}, {60, 230, 60},
                                    {240, 220, 40},  {240, 220, 40}};
  torch::Tensor images = torch::empty({n, 3, size, size});
  torch::Tensor keypoints = torch::empty({n, 11, 2});
  for (int64_t i = 0; i < n; ++i) {
    std::vector<cv::Point2d> joints;
    do {
      joints = sample_pose(rng, s);
    } while (std::any_of(joints.begin(), joints.end(), [&](const cv::Point2d& p) {
      return p.x < 2 || p.y < 2 || p.x > s - 3 || p.y > s - 3;
    }));
    // Background: a colour gradient, a few random rectangles, then noise after drawing.
    cv::Mat img(s, s, CV_32FC3);
    const cv::Vec3f c0(uniform(rng, 0, 0.5), uniform(rng, 0, 0.5), uniform(rng, 0, 0.5));
    const cv::Vec3f c1(uniform(rng, 0, 0.5), uniform(rng, 0, 0.5), uniform(rng, 0, 0.5));
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        img.at<cv::Vec3f>(y, x) = c0 + (c1 - c0) * (float(x + y) / (2 * s));
    for (int r = 0; r < 4; ++r) {
      const cv::Point a(int(uniform(rng, 0, s)), int(uniform(rng, 0, s)));
      const cv::Point b(int(uniform(rng, 0, s)), int(uniform(rng, 0, s)));
      cv::rectangle(img, a, b,
                    cv::Scalar(uniform(rng, 0, 0.45), uniform(rng, 0, 0.45), uniform(rng, 0, 0.45)),
                    cv::FILLED);
    }
    const int thickness = 1 + static_cast<int>(uniform(rng, 0, 3));
    const auto& edges = pose_skeleton();
    for (size_t e = 0; e < edges.size(); ++e) {
      const cv::Scalar c = jitter(rng, limb_colour[e]) / 255.0;
      const auto p = joints[edges[e].first], q = joints[edges[e].second];
      cv::line(img, cv::Point(int(std::lround(p.x * 16)), int(std::lround(p.y * 16))),
               cv::Point(int(std::lround(q.x * 16)), int(std::lround(q.y * 16))), c, thickness,
               cv::LINE_AA, 4);
    }
    const double head_r = uniform(rng, 2.5, 4.0) * s / 64.0;
    cv::circle(img,
               cv::Point(int(std::lround(joints[0].x * 16)), int(std::lround(joints[0].y * 16))),
               int(std::lround(head_r * 16)), jitter(rng, {240, 240, 240}) / 255.0, cv::FILLED,
               cv::LINE_AA, 4);
    cv::Mat noise(s, s, CV_32FC3);
    cvrng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0),
               cv::Scalar::all(uniform(rng, 0.01, 0.06)));
    img += noise;
    auto t = torch::from_blob(img.data, {s, s, 3}, torch::kFloat32).permute({2, 0, 1}).clamp(0, 1);
    images[i].copy_(t);
    for (int k = 0; k < 11; ++k) {
      keypoints[i][k][0] = joints[k].x;
      keypoints[i][k][1] = joints[k].y;
    }
  }
  return {images, keypoints, fmt::format("pose(seed {}, n {})", seed, n)};
}

PoseData load_pose_data(const std::string& spec) {
  std::string body = spec;
  int64_t limit = -1;
  const auto colon = spec.rfind(':');
  const std::string tail = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (!tail.empty() && std::all_of(tail.begin(), tail.end(), ::isdigit)) {
    body = spec.substr(0, colon);
    limit = parse_integer(tail).value_or(0);
    check_input(limit > 0, "--data " + spec, "a :N suffix with N >= 1 (at most 2^63 - 1)",
                "'" + tail + "'");
  }
  int64_t n = 0;
  uint64_t seed = 0;
  if (body == "pose:train") {
    n = 8000;
    seed = 1;
  } else if (body == "pose:test") {
    n = 1000;
    seed = 2;
  } else {
    throw InputError("--data " + spec + ": expected pose:train or pose:test (with an optional :N)");
  }
  PoseData d = make_pose_data(limit > 0 ? std::min(limit, n) : n, seed);
  d.source = spec;
  return d;
}

torch::Tensor render_heatmaps(const torch::Tensor& keypoints, int64_t image_size,
                              int64_t heatmap_size, double sigma) {
  const double stride = static_cast<double>(image_size) / static_cast<double>(heatmap_size);
  const torch::Tensor u = (keypoints + 0.5) / stride - 0.5;  // heatmap coordinates
  const auto opts = keypoints.options();
  const torch::Tensor grid = torch::arange(heatmap_size, opts);
  const torch::Tensor dx = grid.view({1, 1, 1, -1}) - u.select(2, 0).unsqueeze(-1).unsqueeze(-1);
  const torch::Tensor dy = grid.view({1, 1, -1, 1}) - u.select(2, 1).unsqueeze(-1).unsqueeze(-1);
  return torch::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
}

torch::Tensor decode_heatmaps(const torch::Tensor& heatmaps, int64_t image_size, bool refine) {
  torch::NoGradGuard no_grad;
  const int64_t n = heatmaps.size(0), k = heatmaps.size(1), h = heatmaps.size(2),
                w = heatmaps.size(3);
  const torch::Tensor flat = heatmaps.reshape({n, k, h * w});
  const torch::Tensor idx = flat.argmax(2);
  torch::Tensor x = idx.remainder(w).to(torch::kFloat32),
                y = idx.div(w, "floor").to(torch::kFloat32);
  if (refine) {
    auto value = [&](const torch::Tensor& yy, const torch::Tensor& xx) {
      const auto yi = yy.clamp(0, h - 1).to(torch::kLong), xi = xx.clamp(0, w - 1).to(torch::kLong);
      return flat.gather(2, (yi * w + xi).unsqueeze(-1)).squeeze(-1);
    };
    // No shift at the border, where one neighbour is missing.
    const torch::Tensor x0 = x, y0 = y;
    const torch::Tensor inside_x = x0.gt(0) & x0.lt(w - 1), inside_y = y0.gt(0) & y0.lt(h - 1);
    x = x0 + 0.25 * inside_x.to(x0.dtype()) * (value(y0, x0 + 1) - value(y0, x0 - 1)).sign();
    y = y0 + 0.25 * inside_y.to(y0.dtype()) * (value(y0 + 1, x0) - value(y0 - 1, x0)).sign();
  }
  const double stride = static_cast<double>(image_size) / static_cast<double>(w);
  return torch::stack({(x + 0.5) * stride - 0.5, (y + 0.5) * stride - 0.5}, 2);
}

torch::Tensor soft_argmax(const torch::Tensor& heatmaps, int64_t image_size, double beta) {
  const int64_t n = heatmaps.size(0), k = heatmaps.size(1), h = heatmaps.size(2),
                w = heatmaps.size(3);
  const torch::Tensor p =
      torch::softmax(heatmaps.reshape({n, k, h * w}) * beta, 2).view({n, k, h, w});
  const auto opts = heatmaps.options();
  const torch::Tensor x = (p.sum(2) * torch::arange(w, opts)).sum(2);
  const torch::Tensor y = (p.sum(3) * torch::arange(h, opts)).sum(2);
  const double stride = static_cast<double>(image_size) / static_cast<double>(w);
  return torch::stack({(x + 0.5) * stride - 0.5, (y + 0.5) * stride - 0.5}, 2);
}

double pck(const torch::Tensor& predicted, const torch::Tensor& truth, double threshold) {
  const torch::Tensor d = (predicted.cpu() - truth.cpu()).norm(2, 2);
  return d.le(threshold).to(torch::kDouble).mean().item<double>();
}

const std::vector<double>& coco_keypoint_sigmas() {
  static const std::vector<double> sigmas = {.26, .25, .25,  .35,  .35, .79, .79, .72, .72,
                                             .62, .62, 1.07, 1.07, .87, .87, .89, .89};
  static const std::vector<double> scaled = [] {
    std::vector<double> v;
    for (double s : sigmas) v.push_back(s / 10.0);  // as COCO's cocoeval: the table / 10
    return v;
  }();
  return scaled;
}

torch::Tensor keypoint_oks(const torch::Tensor& predicted, const torch::Tensor& truth,
                           const torch::Tensor& area, const std::vector<double>& sigmas) {
  check_input(predicted.dim() == 3 && predicted.sizes() == truth.sizes() &&
                  predicted.size(1) == static_cast<int64_t>(sigmas.size()),
              "OKS", fmt::format("N x {} x 2 keypoints, both alike", sigmas.size()),
              c10::str(predicted.sizes(), " and ", truth.sizes()));
  const torch::Tensor d2 =
      (predicted.cpu().to(torch::kDouble) - truth.cpu().to(torch::kDouble)).pow(2).sum(2);
  const torch::Tensor k2 = (2 * torch::tensor(sigmas, torch::kDouble)).pow(2);  // COCO's vars
  const double eps = std::numeric_limits<double>::epsilon();                    // as np.spacing(1)
  const torch::Tensor e = d2 / k2 / (area.cpu().to(torch::kDouble).view({-1, 1}) + eps) / 2;
  return torch::exp(-e).mean(1);
}

torch::Tensor read_pose_file(const std::string& path, int64_t keypoints, int64_t side) {
  std::ifstream in(path);
  check_input(in.good(), "--target " + path, "a readable JSON file", "no such file");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  check_input(j.is_array(), "--target " + path, "a JSON list of [x, y] pairs", "something else");
  check_input(static_cast<int64_t>(j.size()) == keypoints, "--target " + path,
              fmt::format("{} keypoints", keypoints), fmt::format("{}", j.size()));
  std::vector<float> xy;
  for (const auto& p : j) {
    check_input(p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number(),
                "--target " + path, "[x, y] pairs of numbers", first_line(p.dump(), 60));
    xy.push_back(p[0].get<float>());
    xy.push_back(p[1].get<float>());
  }
  const torch::Tensor t = torch::tensor(xy).view({1, -1, 2});
  const bool inside = t.ge(0).all().item<bool>() && t.le(side - 1).all().item<bool>();
  check_input(inside, "--target " + path,
              fmt::format("coordinates inside the {}x{} image", side, side),
              "keypoints outside it");
  return t;
}

}  // namespace foil
