// The SVG plotting module and the HTML page, checked on their text.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/report/figures.h"
#include "foil/report/html.h"
#include "foil/report/results_folder.h"
#include "test_util.h"

namespace foil {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Svg, AxesTicksLegendAndBrokenLines) {
  const std::string svg =
      line_plot_svg("a <title> & more", "eps", "accuracy",
                    {{"clean & robust", {0, 0.05, 0.1}, {1, 0.5, 0.25}},
                     {"curve", {0, 0.05, 0.1}, {0.9, std::nan(""), 0.3}, true}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a &lt;title&gt; &amp; more"), std::string::npos);  // escaped
  EXPECT_NE(svg.find(">clean &amp; robust<"), std::string::npos);        // legend
  EXPECT_EQ(count(svg, "class=\"series\""), 2u);
  EXPECT_EQ(count(svg, "stroke-dasharray"), 2u);  // the dashed line and its legend sample
  // y ticks at 0, 0.2, ..., 1 and x ticks at 0, 0.02, ..., 0.1 (1-2-5 steps).
  for (const char* tick : {">0<", ">0.2<", ">0.4<", ">1<", ">0.02<", ">0.1<"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  // The NaN point breaks the dashed line: two moves, and no "nan" in the output.
  const size_t dashed =
      svg.find("<path", svg.find("class=\"series\"", svg.find("class=\"series\"") + 1));
  const std::string path = svg.substr(dashed, svg.find("/>", dashed) - dashed);
  EXPECT_EQ(count(path, "M"), 2u) << path;
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(Html, EveryRowEveryImageAndNoExternalReference) {
  const std::string dir = test::temp_dir("html");
  nlohmann::json rows = nlohmann::json::array();
  for (int i = 0; i < 7; ++i)
    rows.push_back({{"name", "row" + std::to_string(i)}, {"value", i / 10.0}});
  write_json(
      dir + "/thing.json",
      {{"clean_accuracy", 0.75},
       {"rows", rows},
       {"nested",
        {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}, {"f", 6}, {"g", {{"deep", rows}}}}},
       {"per_item", std::vector<int>(500, 1)}});
  write_json(dir + "/run.json",
             {{"command", "foil thing"}, {"model", {{"name", "m"}, {"classes", 4}}}});
  write_image(dir + "/pic.png", torch::rand({3, 20, 30}));
  write_line_plot(dir + "/plot.svg", "t", "x", "y", {{"s", {0, 1}, {0, 1}}});
  const std::string html = report_html(dir);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(count(html, "<img"), 2u);  // the PNG and the SVG plot, both as images
  EXPECT_NE(html.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // PNG magic
  EXPECT_NE(html.find("data:image/svg+xml;base64,"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 0u);
  for (const char* source : {"thing.json/rows", "thing.json/nested/g/deep"}) {
    const size_t at = html.find(std::string("data-source=\"") + source + "\"");
    ASSERT_NE(at, std::string::npos) << source;
    const size_t body = html.find("<tbody>", at);
    size_t n = 0;
    for (size_t r = html.find("<tr>", body); r < html.find("</tbody>", body);
         r = html.find("<tr>", r + 1))
      ++n;
    EXPECT_EQ(n, 7u) << source;
  }
  for (const char* text : {"row6", "75.00%", "chance 25.00%", "foil thing", "500 values"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  EXPECT_THROW(report_html(dir + "/missing"), InputError);
}

/// A results folder with one JSON file, for the hostile cases below.
std::string folder_with(const std::string& name, const std::string& text) {
  const std::string dir = test::temp_dir("hostile");
  std::ofstream(dir + "/" + name) << text;
  return dir;
}

void expect_refused(const std::string& dir, const std::string& needle) {
  try {
    report_html(dir);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

// Issue "Nothing lost, nothing leaked", item 2: a page never carries a script or a file from
// outside its folder, whatever the folder holds.
TEST(Html, HostileSvgIsAnImageNeverMarkup) {
  const std::string dir = folder_with("x.json", "{\"a\": 1}");
  const std::string evil =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(2)</script>"
      "<a href=\"javascript:alert(3)\"><image href=\"https://example.com/x.png\"/></a></svg>";
  std::ofstream(dir + "/evil.svg") << evil;
  std::ofstream(dir + "/robust_accuracy_linf.svg") << evil;
  write_json(dir + "/audit.json", {{"results", nlohmann::json::array()}});
  const std::string html = report_html(dir);
  for (const char* bad : {"<script", "onload", "javascript:", "example.com", "<svg"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  EXPECT_EQ(count(html, "data:image/svg+xml;base64,"), 2u);
}

TEST(Html, OnlyTheFoldersOwnRegularFilesAreRead) {
  const std::string outside = test::temp_dir("outside");
  std::ofstream(outside + "/secret.json") << "{\"secret\": \"hunter2\"}";
  std::string dir = folder_with("x.json", "{\"a\": 1}");
  std::filesystem::create_symlink(outside + "/secret.json", dir + "/linked.json");
  expect_refused(dir, "got a link");
  dir = folder_with("x.json", "{\"a\": 1}");
  std::filesystem::create_symlink("/dev/zero", dir + "/zero.png");
  expect_refused(dir, "got a link");
  dir = folder_with("x.json", "{\"a\": 1}");
  ASSERT_EQ(::mkfifo((dir + "/run.json").c_str(), 0600), 0);  // no hang
  expect_refused(dir, "expected a regular file, got a FIFO");
  dir = folder_with("x.json", "{\"a\": 1}");
  std::filesystem::create_symlink(dir + "/loop.svg", dir + "/loop.svg");
  expect_refused(dir, "loop.svg");
  dir = folder_with("x.json", "{\"a\": 1}");
  std::ofstream(dir + "/huge.png") << std::string((32 << 20) + 1, 'x');
  expect_refused(dir, "expected at most 32 MiB");
}

TEST(Html, JsonDepthLengthsAndTypesAreChecked) {
  expect_refused(folder_with("deep.json", std::string(20000, '[') + std::string(20000, ']')),
                 "nested at most 64 levels");
  // A per_item array shorter than its sibling (used to put heap garbage on the page).
  nlohmann::json item = {{"label", {0, 1, 2}}, {"clean_pred", {0, 1, 2}}, {"adv_pred", {0, 1, 2}}};
  nlohmann::json result = {
      {"norm", "linf"}, {"eps", 0.1}, {"robust_accuracy", 0.5}, {"per_item", item}};
  auto audit = [&](const nlohmann::json& r) {
    const std::string dir = test::temp_dir("audit-json");
    write_json(dir + "/audit.json", {{"clean_accuracy", 1.0}, {"results", {r}}});
    return dir;
  };
  EXPECT_NO_THROW(report_html(audit(result)));
  nlohmann::json shorter = result;
  shorter["per_item"]["adv_pred"] = {0, 1};
  expect_refused(audit(shorter), "audit.json.results[0].per_item.adv_pred: expected 3 values");
  nlohmann::json typed = result;
  typed["robust_accuracy"] = "high";
  expect_refused(audit(typed), "audit.json.results[0].robust_accuracy: expected a number");
  typed = result;
  typed["per_item"]["label"] = {"a", "b", "c"};
  expect_refused(audit(typed), "per_item.label: expected integers");
  const std::string dir = folder_with("x.json", "{\"a\": 1}");
  write_json(dir + "/run.json", {{"command", 7}});
  expect_refused(dir, "run.json.command: expected a string");
}

// The library's path check (what `foil` runs on its flags): outputs never replace a FIFO, an
// input or each other, and results folders never hold an input.
TEST(RunPaths, OutputsReplaceNothingTheyMustNot) {
  const std::string dir = test::temp_dir("run_paths");
  const std::string fifo = dir + "/fifo", model = dir + "/model.foil", data = dir + "/images";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(model) << "x";
  std::filesystem::create_directories(data);
  auto refused = [](const RunPaths& p) {
    try {
      check_run_paths(p);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  RunPaths ok;
  ok.output_files = {{"--json", dir + "/a.json"}};
  ok.output_folders = {{"--out", dir + "/results"}};
  ok.input_files = {{"--model", model}};
  ok.input_folders = {{"--data", data}};
  const auto outputs = check_run_paths(ok);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0], resolved_path(dir + "/a.json").string());

  RunPaths p = ok;
  p.output_files = {{"--json", fifo}};
  EXPECT_NE(refused(p).find("--json"), std::string::npos) << refused(p);
  p.output_files = {{"--json", model}};
  EXPECT_NE(refused(p).find("that is the --model input"), std::string::npos) << refused(p);
  p.output_files = {{"--json", dir + "/a.json"}, {"--save-adv", dir + "/./a.json"}};
  EXPECT_NE(refused(p).find("the same file as --json"), std::string::npos) << refused(p);
  p = ok;
  p.output_folders = {{"--out", dir}};
  EXPECT_NE(refused(p).find("it holds the --data folder"), std::string::npos) << refused(p);
  p.output_folders = {{"--out", ""}};
  EXPECT_NE(refused(p).find("--out: expected a path"), std::string::npos) << refused(p);
}

// Two runs with the same results folder: the second stops with one line before it touches the
// first one's partial folder; once the first commits, the folder is free again.
TEST(ResultsFolder, ASecondRunOnTheSameFolderStopsWithoutTouchingTheFirst) {
  const std::string dir = test::temp_dir("folder-lock");
  const std::string out = dir + "/results";
  {
    ResultsFolder first(out, "--out");
    std::ofstream(first.file("a.txt")) << "first";
    try {
      ResultsFolder second(out, "--out");
      FAIL() << "a second writer was let in";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("another foil run is writing this folder"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(test::slurp(first.file("a.txt")), "first");  // the first run's work is intact
    first.commit();
    EXPECT_FALSE(std::filesystem::exists(out + ".lock"));
  }
  EXPECT_EQ(test::slurp(out + "/a.txt"), "first");
  {
    ResultsFolder again(out, "--out");  // free again; an abandoned run frees it too
  }
  ResultsFolder after_abandoned(out, "--out");
  // Something of the lock's name that is not an empty file is the user's: never used.
  const std::string other = dir + "/other";
  ASSERT_EQ(::mkfifo((other + ".lock").c_str(), 0600), 0);
  EXPECT_THROW(ResultsFolder(other, "--out"), InputError);
  EXPECT_TRUE(std::filesystem::is_fifo(other + ".lock"));
  std::ofstream(dir + "/mine.lock") << "my notes";
  EXPECT_THROW(ResultsFolder(dir + "/mine", "--out"), InputError);
  EXPECT_EQ(test::slurp(dir + "/mine.lock"), "my notes");
}

TEST(ResultsFolder, LinksAreReplacedOrRefusedNeverWrittenThrough) {
  namespace fs = std::filesystem;
  const std::string dir = test::temp_dir("folder-links");
  const std::string out = dir + "/results", elsewhere = dir + "/elsewhere";
  fs::create_directories(out);
  fs::create_directories(elsewhere);
  std::ofstream(dir + "/model.foil") << "model";
  fs::create_symlink(dir + "/model.foil", out + "/a.txt");
  fs::create_symlink(elsewhere, out + "/crops");  // where foil puts a folder of its own
  ResultsFolderOptions files_only;
  files_only.report = false;
  {
    ResultsFolder r(out, "--out", files_only);
    std::ofstream(r.file("a.txt")) << "new";
    fs::create_directories(r.file("crops"));
    std::ofstream(r.file("crops/0.png")) << "crop";
    try {
      r.commit();
      ADD_FAILURE() << "a linked folder was written through";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("a link to a folder where foil writes its crops"),
                std::string::npos)
          << e.what();
    }
    EXPECT_TRUE(fs::exists(out + ".partial/crops/0.png"));  // the results are kept
  }
  EXPECT_TRUE(fs::is_empty(elsewhere));
  EXPECT_EQ(test::slurp(dir + "/model.foil"), "model");
  fs::remove(out + "/crops");
  {
    ResultsFolder r(out, "--out", files_only);  // removes the kept partial folder: foil's own
    std::ofstream(r.file("a.txt")) << "new";
    r.commit();
  }
  EXPECT_EQ(test::slurp(dir + "/model.foil"), "model");  // the link itself was replaced
  EXPECT_FALSE(fs::is_symlink(out + "/a.txt"));
  EXPECT_EQ(test::slurp(out + "/a.txt"), "new");
  EXPECT_FALSE(fs::exists(out + "/.foil-partial"));
  // A page that cannot be written fails the commit with one line; the results are kept.
  {
    ResultsFolder r(dir + "/page", "--out");
    std::ofstream(r.file("broken.json")) << "{ not json";
    EXPECT_THROW(r.commit(), InputError);
  }
  EXPECT_TRUE(fs::exists(dir + "/page.partial/broken.json"));
  EXPECT_FALSE(fs::exists(dir + "/page"));
  // A plain file named like the partial folder is the user's.
  std::ofstream(dir + "/x.partial") << "mine";
  EXPECT_THROW(ResultsFolder(dir + "/x", "--out"), InputError);
  EXPECT_EQ(test::slurp(dir + "/x.partial"), "mine");
}

}  // namespace
}  // namespace foil
