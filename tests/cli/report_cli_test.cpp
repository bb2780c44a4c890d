// report.html in every results folder, checked in a real browser: Debian's headless Chromium
// loads each page, and the DOM it dumps must hold every table row of the folder's JSON and
// images that decode; the audit page's screenshot must not be blank.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {
namespace fs = std::filesystem;
using test::read_json;
using test::run_foil;
using test::slurp;

/// Runs headless Chromium on `page` with `mode` (--dump-dom or --screenshot=FILE); returns
/// stdout.
std::string chromium(const std::string& page, const std::string& mode) {
  const std::string profile = test::temp_dir("chromium-profile");
  const std::string out = profile + "/stdout";
  const std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu "
      "--disable-background-networking --no-first-run --user-data-dir=" +
      profile + " --window-size=1200,2400 " + mode + " 'file://" + page + "' > " + out +
      " 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return slurp(out);
}

/// The tables a JSON value must give (as report_html renders them): source -> row count.
void expected_tables(const nlohmann::json& v, const std::string& source,
                     std::map<std::string, size_t>& out) {
  auto rows = [](const nlohmann::json& a) {
    return a.is_array() && !a.empty() &&
           std::all_of(a.begin(), a.end(), [](const auto& x) { return x.is_object(); });
  };
  if (rows(v)) {
    out[source] = v.size();
    return;
  }
  if (!v.is_object()) return;
  for (const auto& [k, x] : v.items()) {
    const bool small =
        x.is_object() && x.size() <= 6 &&
        std::all_of(x.begin(), x.end(), [](const auto& y) { return y.is_primitive(); });
    if (rows(x) || (x.is_object() && !small)) expected_tables(x, source + "/" + k, out);
  }
}

/// Checks `dir`/report.html: self-contained, every JSON row present in the browser's DOM,
/// every image decoded; `foil report` rebuilds the same page.
void check_report(const std::string& dir) {
  const std::string page = dir + "/report.html";
  ASSERT_TRUE(fs::exists(page)) << page;
  const std::string html = slurp(page);
  EXPECT_EQ(html.find("http"), std::string::npos) << "a network reference in " << page;
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // The browser's view: a copy of the page that records each image's decoded size.
  const std::string probe = test::temp_dir("report-probe") + "/page.html";
  std::ofstream(probe) << html.substr(0, html.rfind("</body>"))
                       << "<script>window.onload=()=>{for(const i of document.images)"
                          "i.setAttribute('data-natural',i.naturalWidth+'x'+i.naturalHeight)}"
                          "</script></body></html>";
  const std::string dom = chromium(probe, "--dump-dom");
  ASSERT_NE(dom.find("</html>"), std::string::npos) << "no DOM from chromium for " << page;
  size_t images = 0;
  for (size_t at = dom.find("<img"); at != std::string::npos; at = dom.find("<img", at + 1)) {
    const std::string tag = dom.substr(at, dom.find('>', at) - at);
    ++images;
    EXPECT_NE(tag.find("data-natural=\""), std::string::npos) << tag.substr(0, 80);
    EXPECT_EQ(tag.find("data-natural=\"0x0\""), std::string::npos) << "undecodable image";
  }
  size_t pngs = 0, svgs = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".png") {
      ++pngs;
      EXPECT_NE(dom.find("alt=\"" + name + "\""), std::string::npos) << name;
    }
    if (e.path().extension() == ".svg") {
      ++svgs;
      EXPECT_NE(dom.find("alt=\"" + name + "\""), std::string::npos) << name;
      EXPECT_NE(dom.find("<figcaption>" + name), std::string::npos) << name;
    }
    if (e.path().extension() != ".json" || name == "run.json") continue;
    std::map<std::string, size_t> tables;
    expected_tables(read_json(e.path().string()), name, tables);
    for (const auto& [source, n] : tables) {
      const size_t at = dom.find("data-source=\"" + source + "\"");
      ASSERT_NE(at, std::string::npos) << "no table for " << source;
      const size_t body = dom.find("<tbody>", at), end = dom.find("</tbody>", body);
      size_t count = 0;
      for (size_t r = dom.find("<tr>", body); r < end; r = dom.find("<tr>", r + 1)) ++count;
      EXPECT_EQ(count, n) << source;
    }
  }
  EXPECT_EQ(images, pngs + svgs);  // SVG plots are images too, never inline markup
  // The page comes from the folder alone: `foil report` writes it again, the same.
  fs::remove(page);
  auto r = run_foil("report " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(page), html);
}

TEST(CliReport, AuditPageInBrowser) {
  const std::string dir = test::temp_dir("report-audit") + "/a";
  auto r = run_foil("audit --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:40 --linf-eps 0.05,0.1 --l2-eps 1 --steps 10 "
                    "--examples 4 --out " +
                    dir);
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir);
  const std::string html = slurp(dir + "/report.html");
  for (const char* part :
       {"Per-class robust accuracy", "What the attacks turn each class into", "Minimal-norm curves",
        "Time spent", "chance 10.00%", "robust_accuracy_linf.svg: one line per attack stage",
        "Trouser", "foil audit --model"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  // Per-class rows: one per class present in the data.
  const auto j = read_json(dir + "/audit.json");
  std::set<int64_t> classes;
  for (const auto& y : j["results"][0]["per_item"]["label"]) classes.insert(y.get<int64_t>());
  const size_t at = html.find("data-source=\"per-class\"");
  size_t rows = 0;
  for (size_t p = html.find("<tr>", html.find("<tbody>", at)); p < html.find("</tbody>", at);
       p = html.find("<tr>", p + 1))
    ++rows;
  EXPECT_EQ(rows, classes.size());
  // The screenshot: a full page, not blank (some of it neither white nor one colour).
  const std::string shot = test::temp_dir("report-shot") + "/audit.png";
  chromium(dir + "/report.html", "--screenshot=" + shot);
  const torch::Tensor img = read_image(shot)[0];  // C×H×W
  EXPECT_GE(img.size(2), 1000);
  EXPECT_GE(img.size(1), 2000);
  const double inked = img.lt(0.9).any(0).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(inked, 0.02) << "the screenshot is nearly blank";
  EXPECT_GT(img.std().item<double>(), 0.05);
  // Coloured pixels: the plot lines and per-class shading drew.
  const torch::Tensor spread = img.amax(0) - img.amin(0);
  EXPECT_GT(spread.gt(0.2).to(torch::kDouble).mean().item<double>(), 0.001);
}

TEST(CliReport, AttackDefendAndPatchEvalFolders) {
  const std::string dir = test::temp_dir("report-attack");
  const std::string m = " --model " + test::trained_cnn() + " --data fashion-mnist:test:30";
  auto r = run_foil("attack" + m + " --eps 0.1 --steps 5 --out " + dir + "/attack");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/attack/examples.png"));
  check_report(dir + "/attack");
  r = run_foil("defend" + m + " --eps 0.05 --steps 3 --out " + dir + "/defend");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/defend");
  r = run_foil("patch train --model " + test::trained_cnn() +
               " --data fashion-mnist:train:40 --target 8 --cells 11 --epochs 1 --out " + dir +
               "/patch");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/patch");
  r = run_foil("patch eval" + m + " --target 8 --patch " + dir + "/patch/patch.pt --out " + dir +
               "/eval");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/eval");
}

TEST(CliReport, ExplainAndRegionsFolders) {
  const std::string dir = test::temp_dir("report-explain");
  const std::string m = " --model " + test::trained_cnn() + " --data fashion-mnist:test:12";
  auto r = run_foil("explain" + m + " --out " + dir + "/explain");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/explain");
  r = run_foil("regions" + m + " --eps 0.1 --alpha 0.02 --steps 3 --out " + dir + "/regions");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/regions");
}

TEST(CliReport, KeypointAndPredictFolders) {
  const std::string dir = test::temp_dir("report-keypoints");
  const std::string m = " --model " + std::string(FOIL_TEST_MODELS) + "/posenet.foil";
  auto r = run_foil("keypoints attack" + m + " --data pose:test:4 --eps 0.1 --alpha 0.02 --out " +
                    dir + "/attack");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/attack");
  r = run_foil("keypoints table" + m +
               " --data pose:test:3 --linf-eps 0.05 --l2-eps 2 --steps 2 --out " + dir + "/table");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/table");
  r = run_foil("predict" + m + " --data pose:test:2 --labels --draw " + dir + "/draw");
  ASSERT_EQ(r.code, 0) << r.err;
  check_report(dir + "/draw");
}

TEST(CliReport, BadFolderIsOneLine) {
  test::expect_bad_input("report /nonexistent/folder", "not a results folder");
  const std::string dir = test::temp_dir("report-empty");
  test::expect_bad_input("report " + dir, "no results");
  std::ofstream(dir + "/x.json") << "{not json";
  test::expect_bad_input("report " + dir, "not valid JSON");
}

}  // namespace
}  // namespace foil
