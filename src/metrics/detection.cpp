// COCO's box evaluation (foil/metrics/detection.h), following pycocotools' COCOeval:
// evaluateImg per (category, area range, image), then accumulate and summarize.
#include "foil/metrics/detection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "foil/core/error.h"

namespace foil {
namespace {

/// COCO's area ranges: all, small, medium, large.
constexpr double kAreaRanges[4][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};

/// One (image, category, area range): the detections kept (best first), whether each is
/// matched and ignored at each threshold, and the ground truth that counts.
struct ImageMatch {
  std::vector<double> scores;
  std::vector<std::vector<char>> matched, ignored;  // threshold × detection
  int64_t counted_gt = 0;
};

double area_of(const GroundTruthBox& g) { return g.area >= 0 ? g.area : g.box.w * g.box.h; }

bool outside(double area, const double range[2]) { return area < range[0] || area > range[1]; }

/// COCOeval.evaluateImg for one image and category: `gts` and `dts` of both.
ImageMatch match_image(const std::vector<const GroundTruthBox*>& gts,
                       const std::vector<const ScoredBox*>& dts_in, const double range[2],
                       const std::vector<double>& thresholds, int64_t max_dets) {
  // Ground truth not ignored first (stable); detections best first (stable), at most max_dets.
  std::vector<const GroundTruthBox*> gt = gts;
  std::vector<char> gt_ignored;
  const auto ignored_gt = [&](const GroundTruthBox* g) {
    return g->crowd || outside(area_of(*g), range);
  };
  std::stable_sort(gt.begin(), gt.end(), [&](const GroundTruthBox* a, const GroundTruthBox* b) {
    return !ignored_gt(a) && ignored_gt(b);
  });
  for (const auto* g : gt) gt_ignored.push_back(ignored_gt(g));
  std::vector<const ScoredBox*> dt = dts_in;
  std::stable_sort(dt.begin(), dt.end(),
                   [](const ScoredBox* a, const ScoredBox* b) { return a->score > b->score; });
  if (static_cast<int64_t>(dt.size()) > max_dets) dt.resize(static_cast<size_t>(max_dets));
  ImageMatch m;
  const size_t T = thresholds.size(), D = dt.size(), G = gt.size();
  m.matched.assign(T, std::vector<char>(D, 0));
  m.ignored.assign(T, std::vector<char>(D, 0));
  for (const auto* d : dt) m.scores.push_back(d->score);
  for (char ig : gt_ignored) m.counted_gt += ig ? 0 : 1;
  std::vector<std::vector<double>> iou(D, std::vector<double>(G));
  for (size_t d = 0; d < D; ++d)
    for (size_t g = 0; g < G; ++g) iou[d][g] = coco_iou(dt[d]->box, gt[g]->box, gt[g]->crowd);
  for (size_t t = 0; t < T; ++t) {
    std::vector<char> gt_taken(G, 0);
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(thresholds[t], 1 - 1e-10);
      int64_t match = -1;
      for (size_t g = 0; g < G; ++g) {
        if (gt_taken[g] && !gt[g]->crowd) continue;  // taken, and not a crowd
        // Once matched to a box that counts, stop at the first ignored one.
        if (match > -1 && !gt_ignored[static_cast<size_t>(match)] && gt_ignored[g]) break;
        if (iou[d][g] < best) continue;
        best = iou[d][g];
        match = static_cast<int64_t>(g);
      }
      if (match == -1) continue;
      m.ignored[t][d] = gt_ignored[static_cast<size_t>(match)];
      m.matched[t][d] = 1;
      gt_taken[static_cast<size_t>(match)] = 1;
    }
    // Unmatched detections outside the area range are ignored.
    for (size_t d = 0; d < D; ++d)
      if (!m.matched[t][d] && outside(dt[d]->box.w * dt[d]->box.h, range)) m.ignored[t][d] = 1;
  }
  return m;
}

/// COCOeval.accumulate for one category, area range and detection cap: precision at the 101
/// recall points per threshold (T × 101) and the recall reached per threshold; empty when no
/// ground truth counts.
struct Accumulated {
  std::vector<std::vector<double>> precision;
  std::vector<double> recall;
};

Accumulated accumulate(const std::vector<ImageMatch>& images, size_t T, int64_t max_dets) {
  std::vector<double> scores;
  std::vector<std::vector<char>> matched(T), ignored(T);
  int64_t counted = 0;
  for (const auto& im : images) {
    const size_t n = std::min(im.scores.size(), static_cast<size_t>(max_dets));
    scores.insert(scores.end(), im.scores.begin(), im.scores.begin() + n);
    for (size_t t = 0; t < T; ++t) {
      matched[t].insert(matched[t].end(), im.matched[t].begin(), im.matched[t].begin() + n);
      ignored[t].insert(ignored[t].end(), im.ignored[t].begin(), im.ignored[t].begin() + n);
    }
    counted += im.counted_gt;
  }
  Accumulated a;
  if (counted == 0) return a;
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t i, size_t j) { return scores[i] > scores[j]; });
  const double eps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  for (size_t t = 0; t < T; ++t) {
    std::vector<double> rc, pr;
    double tp = 0, fp = 0;
    for (size_t i : order) {
      if (ignored[t][i]) continue;  // counts neither way (cumsum of zeros)
      (matched[t][i] ? tp : fp) += 1;
      rc.push_back(tp / static_cast<double>(counted));
      pr.push_back(tp / (fp + tp + eps));
    }
    // pycocotools keeps ignored detections as zero steps of the cumulative sums: the recall
    // and precision at them repeat the previous values, which changes no interpolated point.
    a.recall.push_back(rc.empty() ? 0 : rc.back());
    for (size_t i = pr.size(); i-- > 1;) pr[i - 1] = std::max(pr[i - 1], pr[i]);
    std::vector<double> q(101, 0);
    for (int r = 0; r <= 100; ++r) {
      const double point = r == 100 ? 1.0 : r * (1.0 / 100);  // np.linspace(0, 1, 101)
      const size_t i =
          static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), point) - rc.begin());
      if (i >= pr.size()) break;  // past the last recall reached: 0 from here
      q[static_cast<size_t>(r)] = pr[i];
    }
    a.precision.push_back(q);
  }
  return a;
}

/// Mean of the values > -1 (COCOeval.summarize); -1 when there are none.
double mean_defined(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (x > -1) sum += x, ++n;
  return n > 0 ? sum / static_cast<double>(n) : -1;
}

nlohmann::json number_or_null(double v) { return v > -1 ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

double coco_iou(const CocoBox& d, const CocoBox& g, bool crowd) {
  const double w = std::min(d.x + d.w, g.x + g.w) - std::max(d.x, g.x);
  if (w <= 0) return 0;
  const double h = std::min(d.y + d.h, g.y + g.h) - std::max(d.y, g.y);
  if (h <= 0) return 0;
  const double inter = w * h;
  const double uni = crowd ? d.w * d.h : d.w * d.h + g.w * g.h - inter;
  return uni > 0 ? inter / uni : 0;
}

DetectionMetrics evaluate_detections(const DetectionGroundTruth& gt,
                                     const std::vector<ScoredBox>& detections,
                                     const DetectionEvalOptions& o) {
  std::vector<double> thresholds = o.iou_thresholds;
  if (thresholds.empty())  // np.linspace(.5, .95, 10)
    for (int i = 0; i < 10; ++i) thresholds.push_back(i == 9 ? 0.95 : 0.5 + i * ((0.95 - 0.5) / 9));
  for (double t : thresholds)
    check_input(t > 0 && t < 1, "IoU threshold", "a value in (0, 1)", fmt::format("{:g}", t));
  check_input(o.max_detections >= 10, "max detections", "an integer >= 10 (AR10 needs 10)",
              std::to_string(o.max_detections));
  const std::set<int64_t> images(gt.image_ids.begin(), gt.image_ids.end());
  const std::set<int64_t> categories(gt.category_ids.begin(), gt.category_ids.end());
  // (category, image) -> its boxes, in input order.
  std::map<std::pair<int64_t, int64_t>, std::vector<const GroundTruthBox*>> gt_of;
  std::map<std::pair<int64_t, int64_t>, std::vector<const ScoredBox*>> dt_of;
  for (const auto& g : gt.objects) gt_of[{g.category_id, g.image_id}].push_back(&g);
  for (size_t i = 0; i < detections.size(); ++i) {
    const ScoredBox& d = detections[i];
    check_input(std::isfinite(d.score), fmt::format("detections[{}].score", i), "a finite score",
                fmt::format("{}", d.score));
    check_input(images.count(d.image_id) > 0, fmt::format("detections[{}].image_id", i),
                "an image of the ground truth", std::to_string(d.image_id));
    check_input(categories.count(d.category_id) > 0, fmt::format("detections[{}].category_id", i),
                "a category of the ground truth", std::to_string(d.category_id));
    dt_of[{d.category_id, d.image_id}].push_back(&d);
  }
  const std::vector<int64_t> image_order(images.begin(), images.end());  // sorted, as imgIds
  const size_t T = thresholds.size();
  const auto index_of = [&](double v) {
    for (size_t t = 0; t < T; ++t)
      if (std::abs(thresholds[t] - v) < 1e-9) return static_cast<int64_t>(t);
    return int64_t{-1};
  };
  const int64_t t50 = index_of(0.5), t75 = index_of(0.75);
  const std::vector<int64_t> caps = {1, 10, o.max_detections};
  // Per area range and cap: every category's precision entries and recalls (-1: none).
  std::vector<double> ap_entries[4], ap50_entries, ap75_entries, recalls[4][3];
  DetectionMetrics m;
  for (size_t k = 0; k < gt.category_ids.size(); ++k) {
    const int64_t cat = gt.category_ids[k];
    CategoryAp row;
    row.category_id = cat;
    row.name = k < gt.category_names.size() ? gt.category_names[k] : std::to_string(cat);
    std::vector<double> cat_entries, cat50;
    for (int a = 0; a < 4; ++a) {
      std::vector<ImageMatch> matches;
      for (int64_t img : image_order) {
        const auto g = gt_of.find({cat, img});
        const auto d = dt_of.find({cat, img});
        if (g == gt_of.end() && d == dt_of.end()) continue;  // evaluateImg: None
        matches.push_back(
            match_image(g == gt_of.end() ? std::vector<const GroundTruthBox*>{} : g->second,
                        d == dt_of.end() ? std::vector<const ScoredBox*>{} : d->second,
                        kAreaRanges[a], thresholds, o.max_detections));
        if (a == 0) row.objects += matches.back().counted_gt;
      }
      for (size_t c = 0; c < caps.size(); ++c) {
        const Accumulated acc = accumulate(matches, T, caps[c]);
        if (acc.precision.empty()) continue;  // no ground truth counts: left out
        for (double r : acc.recall) recalls[a][c].push_back(r);
        if (c + 1 != caps.size()) continue;
        for (size_t t = 0; t < T; ++t)
          for (double p : acc.precision[t]) {
            ap_entries[a].push_back(p);
            if (a != 0) continue;
            cat_entries.push_back(p);
            if (static_cast<int64_t>(t) == t50) ap50_entries.push_back(p), cat50.push_back(p);
            if (static_cast<int64_t>(t) == t75) ap75_entries.push_back(p);
          }
      }
    }
    row.ap = mean_defined(cat_entries);
    row.ap50 = mean_defined(cat50);
    m.per_category.push_back(row);
  }
  m.ap = mean_defined(ap_entries[0]);
  m.ap50 = mean_defined(ap50_entries);
  m.ap75 = mean_defined(ap75_entries);
  m.ap_small = mean_defined(ap_entries[1]);
  m.ap_medium = mean_defined(ap_entries[2]);
  m.ap_large = mean_defined(ap_entries[3]);
  m.ar1 = mean_defined(recalls[0][0]);
  m.ar10 = mean_defined(recalls[0][1]);
  m.ar100 = mean_defined(recalls[0][2]);
  return m;
}

nlohmann::json DetectionMetrics::to_json() const {
  nlohmann::json cats = nlohmann::json::array();
  for (const auto& c : per_category)
    cats.push_back({{"category_id", c.category_id},
                    {"name", c.name},
                    {"objects", c.objects},
                    {"ap", number_or_null(c.ap)},
                    {"ap50", number_or_null(c.ap50)}});
  return {{"ap", number_or_null(ap)},
          {"ap50", number_or_null(ap50)},
          {"ap75", number_or_null(ap75)},
          {"ap_small", number_or_null(ap_small)},
          {"ap_medium", number_or_null(ap_medium)},
          {"ap_large", number_or_null(ap_large)},
          {"ar1", number_or_null(ar1)},
          {"ar10", number_or_null(ar10)},
          {"ar100", number_or_null(ar100)},
          {"per_category", cats}};
}

nlohmann::json coco_results_json(const std::vector<ScoredBox>& detections) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : detections)
    out.push_back({{"image_id", d.image_id},
                   {"category_id", d.category_id},
                   {"bbox", {d.box.x, d.box.y, d.box.w, d.box.h}},
                   {"score", d.score}});
  return out;
}

namespace {

/// A number member of a COCO entry, or InputError naming the file and entry.
double coco_number(const nlohmann::json& entry, const char* key, const std::string& where,
                   bool required = true, double fallback = 0) {
  if (!entry.contains(key)) {
    check_input(!required, where, fmt::format("a number \"{}\"", key), "none");
    return fallback;
  }
  const auto& v = entry[key];
  check_input(v.is_number() && std::isfinite(v.get<double>()), where + "." + key, "a number",
              first_line(v.dump(), 40));
  return v.get<double>();
}

int64_t coco_id(const nlohmann::json& entry, const char* key, const std::string& where) {
  const double v = coco_number(entry, key, where);
  check_input(v == std::floor(v) && std::abs(v) < 9e15, where + "." + key, "an integer id",
              fmt::format("{:g}", v));
  return static_cast<int64_t>(v);
}

const nlohmann::json& coco_list(const nlohmann::json& j, const char* key, const std::string& path) {
  check_input(j.contains(key) && j[key].is_array(), path, fmt::format("a list \"{}\"", key),
              j.contains(key) ? "something else" : "none");
  return j[key];
}

}  // namespace

DetectionGroundTruth read_coco_annotations(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check_input(in.good(), path, "a readable COCO annotation file (JSON)", "no such file");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  check_input(j.is_object(), path, "a COCO JSON object (images, annotations, categories)",
              j.is_discarded() ? "not JSON" : "something else");
  DetectionGroundTruth gt;
  gt.source = path;
  std::map<int64_t, std::pair<double, double>> size_of;  // image id -> width, height (0: unknown)
  const auto& images = coco_list(j, "images", path);
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string where = fmt::format("{}: images[{}]", path, i);
    check_input(images[i].is_object(), where, "an object", first_line(images[i].dump(), 40));
    const int64_t id = coco_id(images[i], "id", where);
    check_input(!size_of.count(id), where + ".id", "an id no other image has",
                std::to_string(id) + " again");
    size_of[id] = {coco_number(images[i], "width", where, false),
                   coco_number(images[i], "height", where, false)};
    gt.image_ids.push_back(id);
    const auto name = images[i].find("file_name");
    gt.file_names.push_back(name != images[i].end() && name->is_string() ? name->get<std::string>()
                                                                         : "");
  }
  const auto& categories = coco_list(j, "categories", path);
  std::set<int64_t> known;
  for (size_t i = 0; i < categories.size(); ++i) {
    const std::string where = fmt::format("{}: categories[{}]", path, i);
    check_input(categories[i].is_object(), where, "an object",
                first_line(categories[i].dump(), 40));
    const int64_t id = coco_id(categories[i], "id", where);
    check_input(known.insert(id).second, where + ".id", "an id no other category has",
                std::to_string(id) + " again");
    gt.category_ids.push_back(id);
    const auto name = categories[i].find("name");
    gt.category_names.push_back(name != categories[i].end() && name->is_string()
                                    ? name->get<std::string>()
                                    : std::to_string(id));
  }
  const auto& annotations = coco_list(j, "annotations", path);
  for (size_t i = 0; i < annotations.size(); ++i) {
    const std::string where = fmt::format("{}: annotations[{}]", path, i);
    const auto& a = annotations[i];
    check_input(a.is_object(), where, "an object", first_line(a.dump(), 40));
    GroundTruthBox g;
    g.image_id = coco_id(a, "image_id", where);
    check_input(size_of.count(g.image_id) > 0, where + ".image_id", "an id listed in images",
                std::to_string(g.image_id));
    g.category_id = coco_id(a, "category_id", where);
    check_input(known.count(g.category_id) > 0, where + ".category_id",
                "an id listed in categories", std::to_string(g.category_id));
    const auto box = a.find("bbox");
    const bool four = box != a.end() && box->is_array() && box->size() == 4 &&
                      std::all_of(box->begin(), box->end(), [](const nlohmann::json& v) {
                        return v.is_number() && std::isfinite(v.get<double>());
                      });
    check_input(four, where + ".bbox", "[x, y, width, height] numbers",
                box == a.end() ? "none" : first_line(box->dump(), 60));
    g.box = {(*box)[0].get<double>(), (*box)[1].get<double>(), (*box)[2].get<double>(),
             (*box)[3].get<double>()};
    check_input(g.box.w > 0 && g.box.h > 0, where + ".bbox", "a width and height > 0",
                first_line(box->dump(), 60));
    const auto [width, height] = size_of[g.image_id];
    const double slack = 1;  // COCO's own boxes reach a pixel past the border
    const bool inside = g.box.x >= -slack && g.box.y >= -slack &&
                        (width <= 0 || g.box.x + g.box.w <= width + slack) &&
                        (height <= 0 || g.box.y + g.box.h <= height + slack);
    check_input(inside, where + ".bbox", fmt::format("a box inside its {}x{} image", width, height),
                first_line(box->dump(), 60));
    g.area = coco_number(a, "area", where, false, -1);
    const auto crowd = a.find("iscrowd");
    g.crowd =
        crowd != a.end() && (crowd->is_boolean() ? crowd->get<bool>()
                                                 : crowd->is_number() && crowd->get<double>() != 0);
    gt.objects.push_back(g);
  }
  return gt;
}

}  // namespace foil
