// The SVG plotting module and the HTML page, checked on their text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/report/figures.h"
#include "foil/report/html.h"
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
  EXPECT_EQ(count(html, "<img"), 1u);
  EXPECT_NE(html.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // PNG magic
  EXPECT_EQ(count(html, "<svg"), 1u);
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

}  // namespace
}  // namespace foil
