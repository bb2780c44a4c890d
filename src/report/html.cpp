// The HTML report of a results folder. The page is built from the folder's files alone, so
// `foil report DIR` rebuilds exactly what the run wrote; it embeds everything it shows.
#include "foil/report/html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/report/figures.h"

namespace foil {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

/// Size limits per file of a results folder: what foil writes stays far below them.
constexpr int64_t kMaxJsonBytes = int64_t{64} << 20, kMaxImageBytes = int64_t{32} << 20;
/// JSON nesting deeper than this is not foil's (its files nest 5 deep).
constexpr int kMaxJsonDepth = 64;

/// A JSON file of the folder, parsed with its nesting depth bounded.
json read_json_file(const fs::path& dir, const std::string& name) {
  const std::string text = read_folder_file(dir.string(), name, kMaxJsonBytes);
  const std::string path = (dir / name).string();
  try {
    return json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth)
        throw InputError(path + ": expected JSON nested at most " + std::to_string(kMaxJsonDepth) +
                         " levels deep, got deeper");
      return true;
    });
  } catch (const json::exception& e) {
    throw InputError(path + ": not valid JSON (" + first_line(e.what()) + ")");
  }
}

/// `obj`[`key`] checked for its type, else an InputError naming `where`.`key`: how a page
/// reads the numbers and texts it shows.
const json* member(const json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object())
    throw InputError(where + ": expected an object, got " + std::string(obj.type_name()));
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}
double number_at(const json& obj, const std::string& key, const std::string& where,
                 double fallback = 0) {
  const json* v = member(obj, key, where);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_number())
    throw InputError(where + "." + key + ": expected a number, got " + v->type_name());
  return v->get<double>();
}
std::string text_at(const json& obj, const std::string& key, const std::string& where,
                    const std::string& fallback = "") {
  const json* v = member(obj, key, where);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_string())
    throw InputError(where + "." + key + ": expected a string, got " + v->type_name());
  return v->get<std::string>();
}
const json& array_at(const json& obj, const std::string& key, const std::string& where) {
  static const json kEmpty = json::array();
  const json* v = member(obj, key, where);
  if (v == nullptr || v->is_null()) return kEmpty;
  if (!v->is_array())
    throw InputError(where + "." + key + ": expected an array, got " + v->type_name());
  return *v;
}
/// An array of integers, of length `n` unless n < 0.
/// "audit.json.results[2]".
std::string at(const std::string& where, size_t i) {
  return where + ".results[" + std::to_string(i) + "]";
}

std::vector<int64_t> ints_at(const json& obj, const std::string& key, const std::string& where,
                             int64_t n = -1) {
  const json& a = array_at(obj, key, where);
  std::vector<int64_t> out;
  for (const auto& v : a) {
    if (!v.is_number_integer())
      throw InputError(where + "." + key + ": expected integers, got " + v.type_name());
    out.push_back(v.get<int64_t>());
  }
  if (n >= 0 && static_cast<int64_t>(out.size()) != n)
    throw InputError(where + "." + key + ": expected " + std::to_string(n) +
                     " values (one per item), got " + std::to_string(out.size()));
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* const kDigits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[v & 63] : '=';
  }
  return out;
}

std::string h(const std::string& s) { return xml_escape(s); }

/// An image file of the folder as an <img> with a data URI. SVG goes in as an image too,
/// never pasted into the page: browsers run no script and fetch nothing from an SVG image.
std::string image_tag(const fs::path& dir, const std::string& name) {
  const bool svg = fs::path(name).extension() == ".svg";
  return "<img alt=\"" + h(name) + "\" src=\"data:image/" + (svg ? "svg+xml" : "png") + ";base64," +
         base64(read_folder_file(dir.string(), name, kMaxImageBytes)) + "\">";
}

/// What the images foil writes show, for their captions.
std::string caption(const std::string& file) {
  static const std::map<std::string, std::string> kCaptions = {
      {"examples.png",
       "top row: clean images with the model's prediction (red: wrong); then, per norm at its "
       "middle budget, the attacked image with its prediction (red: fooled) and the "
       "perturbation scaled to the full range (grey: no change)"},
      {"overlays.png", "explanation maps over the images (colour bar: low to high importance)"},
      {"panels.png",
       "image, importance map, attack perturbation |delta| and the region segregation "
       "(legend in the image)"},
      {"patch.png", "the trained patch (with a border)"},
      {"patched.png", "clean and patched images with the model's predictions"},
      {"keypoints.png",
       "clean and attacked poses on one image (legend in the image), the perturbation and "
       "the mask"},
  };
  const auto it = kCaptions.find(file);
  return it == kCaptions.end() ? file : file + ": " + it->second;
}

/// "robust_accuracy" -> "robust accuracy".
std::string words(std::string key) {
  std::replace(key.begin(), key.end(), '_', ' ');
  return key;
}

bool is_share(const std::string& key) {
  return key.find("accuracy") != std::string::npos || key.find("rate") != std::string::npos;
}

std::string number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf");
  if (v == std::round(v) && std::abs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::string percent(double v) { return fmt::format("{:.2f}%", 100 * v); }

/// A scalar as text: numbers with 4 significant digits, null as "-".
std::string scalar(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number()) return number(v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

bool all_scalars(const json& a) {
  return std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_primitive(); });
}

/// An array of scalars: inline when short, else its length and range.
std::string array_summary(const json& a) {
  if (a.size() <= 12 && all_scalars(a)) {
    std::string s;
    for (const auto& v : a) s += (s.empty() ? "" : ", ") + scalar(v);
    return "[" + s + "]";
  }
  double lo = HUGE_VAL, hi = -HUGE_VAL, sum = 0;
  size_t n = 0;
  for (const auto& v : a)
    if (v.is_number())
      lo = std::min(lo, v.get<double>()), hi = std::max(hi, v.get<double>()),
      sum += v.get<double>(), ++n;
  if (n == 0) return fmt::format("{} values", a.size());
  return fmt::format("{} values ({} numeric: min {}, mean {}, max {})", a.size(), n, number(lo),
                     number(sum / n), number(hi));
}

std::string cell_text(const json& v) {
  if (v.is_array()) return array_summary(v);
  if (v.is_object()) {
    std::string s;
    for (const auto& [k, x] : v.items())
      s += (s.empty() ? "" : "; ") + k + " " + (x.is_array() ? array_summary(x) : scalar(x));
    return s;
  }
  return scalar(v);
}

/// Rows of objects as a table: one row per element, one column per key (nested objects of
/// scalars become "key.sub" columns).
std::string table_of_rows(const json& rows, const std::string& source) {
  std::vector<std::string> cols;
  std::set<std::string> seen;
  auto add = [&](const std::string& c) {
    if (seen.insert(c).second) cols.push_back(c);
  };
  for (const auto& r : rows)
    for (const auto& [k, v] : r.items()) {
      if (v.is_object() && v.size() <= 6 && all_scalars(v))
        for (const auto& [k2, v2] : v.items()) add(k + "." + k2);
      else
        add(k);
    }
  std::string out = fmt::format(
      "<div class=\"scroll\"><table class=\"rows\" data-source=\"{}\"><thead><tr>", h(source));
  for (const auto& c : cols) out += "<th>" + h(words(c)) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& c : cols) {
      const size_t dot = c.find('.');
      const json* v = nullptr;
      if (r.contains(c))
        v = &r.at(c);
      else if (dot != std::string::npos && r.contains(c.substr(0, dot)) &&
               r.at(c.substr(0, dot)).is_object() &&
               r.at(c.substr(0, dot)).contains(c.substr(dot + 1)))
        v = &r.at(c.substr(0, dot)).at(c.substr(dot + 1));
      out += "<td>" + (v ? h(cell_text(*v)) : std::string()) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

bool rows_of_objects(const json& v) {
  return v.is_array() && !v.empty() &&
         std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_object(); });
}

/// An object: its scalars as a key/value table, its arrays of objects as tables, its nested
/// objects as sub-sections, each named by `source` (file/key/...).
std::string render_object(const json& obj, const std::string& source, int depth) {
  std::string kv, rest;
  for (const auto& [k, v] : obj.items()) {
    const std::string here = source + "/" + k;
    if (rows_of_objects(v)) {
      rest += fmt::format("<h{0}>{1}</h{0}>\n", std::min(depth + 3, 6), h(words(k))) +
              table_of_rows(v, here);
    } else if (v.is_object() && !(v.size() <= 6 && all_scalars(v))) {
      rest += fmt::format("<h{0}>{1}</h{0}>\n", std::min(depth + 3, 6), h(words(k))) +
              render_object(v, here, depth + 1);
    } else {
      std::string text = cell_text(v);
      if (v.is_number() && is_share(k) && v.get<double>() >= 0 && v.get<double>() <= 1)
        text += " (" + percent(v.get<double>()) + ")";
      kv += "<tr><th>" + h(words(k)) + "</th><td>" + h(text) + "</td></tr>\n";
    }
  }
  if (!kv.empty())
    kv = "<table class=\"kv\" data-source=\"" + h(source) + "\">" + kv + "</table>\n";
  return kv + rest;
}

/// A value in [0,1] as a cell coloured from red (0) to green (1).
std::string shaded(double v, const std::string& text) {
  if (!std::isfinite(v)) return "<td>-</td>";
  return fmt::format("<td style=\"background:hsl({:.0f},70%,82%)\">{}</td>",
                     120 * std::clamp(v, 0.0, 1.0), h(text));
}

const char* const kShadeLegend =
    "<p class=\"legend\"><span class=\"bar\"></span> cell colour: 0% (red) to 100% (green)</p>\n";

std::string class_name(const std::vector<std::string>& names, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(names.size()) ? names[k] : std::to_string(k);
}

/// The audit's threat table (one row per attacker at one budget), shown first.
std::string threat_section(const json& a) {
  const std::string where = "audit.json";
  if (!a.contains("threats")) return "";
  const json& rows = array_at(a, "threats", where);
  if (rows.empty()) return "";
  if (!rows_of_objects(rows)) throw InputError(where + ".threats: expected an array of objects");
  return "<section id=\"threats\"><h2>Threats</h2>\n<p>How easily the model is fooled by "
         "each kind of attacker. " +
         h(text_at(a, "threats_meaning", where)) + ".</p>\n" +
         table_of_rows(rows, where + ".threats") + "</section>\n";
}

/// A table of text cells under `cols`, in the order given.
std::string text_table(const std::vector<std::string>& cols,
                       const std::vector<std::vector<std::string>>& rows,
                       const std::string& source) {
  std::string out =
      "<div class=\"scroll\"><table class=\"rows\" data-source=\"" + h(source) + "\"><thead><tr>";
  for (const auto& c : cols) out += "<th>" + h(c) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& v : r) out += "<td>" + h(v) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

/// A plot of the folder beside a section, once (`used` keeps it out of the plots section).
std::string section_plot(const fs::path& dir, const std::string& plot, const std::string& what,
                         std::set<std::string>& used) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir / plot, ec))) return "";
  used.insert(plot);
  return "<figure class=\"plot\">" + image_tag(dir, plot) + "<figcaption>" + h(plot) + ": " +
         h(what) + "</figcaption></figure>\n";
}

/// Randomized smoothing's certificate: certified accuracy against radius, abstentions, and the
/// attack on the smoothed model beside the certified accuracy at its budget.
std::string smoothing_section(const json& c, const fs::path& dir, std::set<std::string>& used) {
  const std::string where = "certify.json";
  std::vector<std::vector<std::string>> rows;
  for (const char* key : {"certified_accuracy_at_0", "abstain_rate", "base_accuracy"})
    rows.push_back({words(key), percent(number_at(c, key, where))});
  rows.push_back({"largest radius n and alpha allow", number(number_at(c, "max_radius", where))});
  std::string out =
      "<section id=\"certificate\"><h2>Certified robustness (randomized "
      "smoothing)</h2>\n<p>" +
      h(text_at(c, "meaning", where)) + ".</p>\n" + text_table({"", "value"}, rows, where);
  if (c.contains("empirical") && rows_of_objects(c["empirical"]))
    out +=
        "<p>The empirical attack on the same smoothed model beside the certificate at its "
        "budget (the attack can never do better than the certificate allows):</p>\n" +
        table_of_rows(c["empirical"], where + ".empirical");
  return out +
         section_plot(dir, "certified_accuracy.svg",
                      "share of all items certified correct at each L2 radius", used) +
         "</section>\n";
}

/// PatchCleanser's certificate per patch area beside the best patch attack on the defended
/// model.
std::string patch_certificate_section(const json& c, const fs::path& dir,
                                      std::set<std::string>& used) {
  const std::string where = "patch_certify.json";
  const json& areas = array_at(c, "patch", where);
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < areas.size(); ++i) {
    const json& a = areas[i];
    const std::string w = fmt::format("{}.patch[{}]", where, i);
    const json* best = member(a, "best_attack_accuracy", w);
    rows.push_back({percent(number_at(a, "area", w)), number(number_at(a, "patch_side", w)),
                    number(number_at(a, "masks", w)), percent(number_at(a, "defended_accuracy", w)),
                    percent(number_at(a, "certified_accuracy", w)),
                    best && best->is_number() ? percent(best->get<double>()) : "-"});
  }
  std::string out =
      "<section id=\"patch-certificate\"><h2>Certified defence against a patch "
      "(PatchCleanser)</h2>\n<p>" +
      h(text_at(c, "meaning", where)) + ". Undefended clean accuracy " +
      percent(number_at(c, "base_accuracy", where)) + ".</p>\n" +
      text_table({"patch area", "certified side (px)", "masks", "defended, clean", "certified",
                  "defended, best attack"},
                 rows, where);
  json attacks = json::array();
  for (const auto& a : areas)
    if (a.contains("attacks") && rows_of_objects(a["attacks"]))
      for (json row : a["attacks"]) {
        row["area"] = a.value("area", json());
        attacks.push_back(row);
      }
  if (!attacks.empty())
    out += "<p>Each patch attack, on the plain (undefended) and the defended model:</p>\n" +
           table_of_rows(attacks, where + ".patch.attacks");
  return out +
         section_plot(dir, "patch_certified.svg",
                      "defended clean accuracy, certified accuracy and the defended model under "
                      "the best patch attack, per patch area",
                      used) +
         "</section>\n";
}

/// The explanation methods ranked by faithfulness, their curves and their maps.
std::string faithfulness_section(const json& f, const fs::path& dir, std::set<std::string>& used) {
  const std::string where = "faithfulness.json";
  const json& methods = array_at(f, "methods", where);
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < methods.size(); ++i) {
    const json& m = methods[i];
    const std::string w = at(where + ".methods", i);
    const std::string name = text_at(m, "method", w);
    std::vector<std::string> row{std::to_string(i + 1),
                                 name == "random" ? "random order (chance level)" : name};
    for (const char* key : {"deletion_auc", "insertion_auc", "insertion_minus_deletion",
                            "road_morf_mean", "road_lerf_mean"})
      row.push_back(fmt::format("{:.4f}", number_at(m, key, w)));
    for (const char* key : {"average_drop", "increase_in_confidence"})
      row.push_back(percent(number_at(m, key, w)));
    rows.push_back(row);
  }
  return "<section id=\"faithfulness\"><h2>How faithful each explanation is</h2>\n<p>" +
         h(text_at(f, "meaning", where)) + ". " + h(scalar(f.value("n", json()))) +
         " images; CAM layer " + h(text_at(f, "layer", where, "-")) + ".</p>\n" +
         text_table({"rank", "method", "deletion (lower)", "insertion (higher)", "ins - del",
                     "ROAD MoRF (lower)", "ROAD LeRF (higher)", "average drop (lower)",
                     "increase in confidence (higher)"},
                    rows, where) +
         section_plot(dir, "deletion.svg", "class probability as the most important pixels go",
                      used) +
         section_plot(dir, "insertion.svg",
                      "class probability as the most important pixels come back", used) +
         section_plot(dir, "methods.png",
                      "each method's map of the first images (scaled to its maximum), most "
                      "faithful first",
                      used) +
         "</section>\n";
}

/// The class names audit.json lists (strings only).
std::vector<std::string> class_names_of(const json& a, const std::string& where) {
  std::vector<std::string> names;
  for (const auto& v : array_at(a, "class_names", where)) {
    if (!v.is_string())
      throw InputError(where + ".class_names: expected strings, got " + v.type_name());
    names.push_back(v.get<std::string>());
  }
  return names;
}

/// The opening of the robustness section: clean accuracy, a card per budget, the version note.
std::string robustness_cards(const json& a, const json& results, double chance,
                             const std::string& where) {
  std::string out =
      "<section id=\"robustness\"><h2>Robust accuracy</h2>\n<p>Clean accuracy " +
      percent(number_at(a, "clean_accuracy", where)) +
      (chance > 0 ? " (chance " + percent(chance) + ")" : "") + " on " +
      h(scalar(a.value("n", json()))) +
      " held-out items. Attack: " + h(text_at(a, "attack", where, "?")) +
      ". Robust accuracy: share of items still classified correctly under every attack "
      "of the ensemble within the budget.</p>\n<div class=\"cards\">";
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    out += fmt::format(
        "<div class=\"card\"><div class=\"value\">{}</div><div class=\"label\">robust "
        "accuracy, {} eps {}</div></div>",
        percent(number_at(r, "robust_accuracy", at(where, i))), h(scalar(r.value("norm", json()))),
        h(scalar(r.value("eps", json()))));
  }
  out += "</div>\n";
  const std::string note = text_at(a, "version_note", where);
  if (!note.empty()) out += "<p class=\"legend\">" + h(note) + ".</p>\n";
  return out;
}

/// Robust accuracy after every stage for every budget, as text ("" without stages).
std::string stage_table(const json& results, const std::string& where) {
  std::vector<std::string> stage_cols;
  for (size_t i = 0; i < results.size(); ++i)
    for (const auto& st : array_at(results[i], "stages", at(where, i))) {
      const std::string name = text_at(st, "stage", at(where, i) + ".stages");
      if (std::find(stage_cols.begin(), stage_cols.end(), name) == stage_cols.end())
        stage_cols.push_back(name);
    }
  if (stage_cols.empty()) return "";
  std::string out =
      "<h3>Robust accuracy after each stage</h3>\n<p>Share of all items still classified "
      "correctly after the stage and every stage before it (each stage's returned "
      "examples checked once more on the model; in brackets, successes that check "
      "undid).</p>\n" +
      std::string(kShadeLegend) +
      "<table class=\"rows\" data-source=\"stages\"><thead><tr><th>norm</th><th>eps</th>";
  for (const auto& s : stage_cols) out += "<th>after " + h(s) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    out += "<tr><td>" + h(scalar(r.value("norm", json()))) + "</td><td>" +
           h(scalar(r.value("eps", json()))) + "</td>";
    for (const auto& s : stage_cols) {
      std::string cell = "<td>-</td>";
      for (const auto& st : array_at(r, "stages", at(where, i)))
        if (text_at(st, "stage", at(where, i) + ".stages") == s) {
          const double v = number_at(st, "robust_accuracy", at(where, i) + ".stages");
          const double undone = number_at(st, "unconfirmed", at(where, i) + ".stages");
          cell = shaded(v, percent(v) + (undone > 0 ? fmt::format(" ({:.0f})", undone) : ""));
        }
      out += cell;
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

/// The checks, each with what it measured and what it means ("" without checks).
std::string checks_table(const json& a, const std::string& where) {
  const json& checks = array_at(a, "checks", where);
  if (checks.empty()) return "";
  std::string out =
      "<h3>Checks</h3>\n<p>The reference AutoAttack's checks and those of Carlini et al. "
      "2019; a check that fired means the robust accuracy above may overstate the "
      "model's robustness.</p>\n<table class=\"rows\" data-source=\"checks\"><thead><tr>"
      "<th>check</th><th>result</th><th>measured</th><th>meaning</th></tr></thead><tbody>\n";
  for (const auto& f : checks) {
    const bool fired = member(f, "fired", where + ".checks") && f.at("fired").is_boolean() &&
                       f.at("fired").get<bool>();
    out += "<tr><td>" + h(text_at(f, "name", where + ".checks")) + "</td>" +
           (fired ? "<td style=\"background:hsl(0,70%,82%)\">FIRED</td>" : "<td>passed</td>") +
           "<td>" + h(text_at(f, "measured", where + ".checks")) + "</td><td>" +
           h(fired ? text_at(f, "meaning", where + ".checks") : std::string("-")) + "</td></tr>\n";
  }
  return out + "</tbody></table>\n";
}

/// The robust-accuracy plots of the folder, one per norm (`used` keeps them out of the plots
/// section).
std::string robust_accuracy_plots(const fs::path& dir, std::set<std::string>& used) {
  std::string out;
  for (const std::string norm : {"linf", "l2"}) {
    const std::string plot = "robust_accuracy_" + norm + ".svg";
    std::error_code ec;
    if (fs::exists(fs::symlink_status(dir / plot, ec))) {
      out += "<figure class=\"plot\">" + image_tag(dir, plot) + "<figcaption>" + h(plot) +
             ": one line per attack stage (robust accuracy after it and all before it); "
             "dashed: the minimal-norm curve (an upper bound)</figcaption></figure>\n";
      used.insert(plot);
    }
  }
  return out;
}

/// Per item, in data order: the label, the clean prediction and each result's adversarial one.
struct PerItem {
  std::vector<int64_t> labels, clean;
  std::vector<std::vector<int64_t>> advs;  // per result
};

/// The per-item predictions of the results (every result has them).
PerItem read_per_item(const json& results, const std::string& where) {
  PerItem p;
  const std::string first_at = at(where, 0) + ".per_item";
  const json& first = results[0]["per_item"];
  p.labels = ints_at(first, "label", first_at);
  const auto n = static_cast<int64_t>(p.labels.size());
  p.clean = ints_at(first, "clean_pred", first_at, n);
  for (size_t r = 0; r < results.size(); ++r)
    p.advs.push_back(ints_at(results[r]["per_item"], "adv_pred", at(where, r) + ".per_item", n));
  return p;
}

/// Per-class robust accuracy, one column per budget, classes that break first on top.
std::string per_class_table(const json& results, const PerItem& p,
                            const std::vector<std::string>& names) {
  std::map<int64_t, std::vector<double>> per_class;  // class -> clean, then per result
  std::map<int64_t, int64_t> count;
  std::vector<std::string> headers;
  const auto& labels = p.labels;
  for (size_t i = 0; i < labels.size(); ++i) {
    ++count[labels[i]];
    per_class[labels[i]].resize(1 + results.size(), 0.0);
    per_class[labels[i]][0] += p.clean[i] == labels[i];
  }
  for (size_t r = 0; r < results.size(); ++r) {
    const auto& adv = p.advs[r];
    for (size_t i = 0; i < labels.size(); ++i) per_class[labels[i]][1 + r] += adv[i] == labels[i];
    headers.push_back(scalar(results[r].value("norm", json())) + " " +
                      scalar(results[r].value("eps", json())));
  }
  for (auto& [k, v] : per_class)
    for (double& x : v) x /= static_cast<double>(count[k]);
  const size_t key = 1 + results.size() / 4;  // the middle Linf budget, about
  std::vector<int64_t> order;
  for (const auto& [k, v] : per_class) order.push_back(k);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return per_class[x][std::min(key, per_class[x].size() - 1)] <
           per_class[y][std::min(key, per_class[y].size() - 1)];
  });
  std::string out =
      "<h3>Per-class robust accuracy</h3>\n<p>Which classes break first: sorted by "
      "robust accuracy at " +
      h(headers[std::min(key - 1, headers.size() - 1)]) + ".</p>\n" + kShadeLegend +
      "<div class=\"scroll\"><table class=\"rows\" data-source=\"per-class\"><thead><tr>"
      "<th>class</th><th>items</th><th>clean</th>";
  for (const auto& c : headers) out += "<th>" + h(c) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (int64_t k : order) {
    out += "<tr><td>" + h(class_name(names, k)) + "</td><td>" + std::to_string(count[k]) + "</td>";
    for (double v : per_class[k]) out += shaded(v, percent(v));
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

/// What the attack at the middle budget of `norm` turned each class into ("" without a budget
/// of that norm).
std::string confusion_table(const std::string& norm, const json& results, const PerItem& p,
                            const std::vector<std::string>& names) {
  const auto& labels = p.labels;
  std::vector<size_t> idx;
  for (size_t r = 0; r < results.size(); ++r)
    if (results[r].value("norm", json()) == norm) idx.push_back(r);
  if (idx.empty()) return "";
  const json& r = results[idx[idx.size() / 2]];
  const auto& adv = p.advs[idx[idx.size() / 2]];
  std::map<int64_t, std::map<int64_t, int64_t>> flips;
  std::map<int64_t, int64_t> correct;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (p.clean[i] != labels[i]) continue;
    ++correct[labels[i]];
    if (adv[i] != labels[i]) ++flips[labels[i]][adv[i]];
  }
  std::string out = fmt::format(
      "<p>{} eps {}: of the items classified correctly clean, how many the attack "
      "flipped and into what (most frequent first).</p>\n<table class=\"rows\" "
      "data-source=\"confusion-{}\"><thead><tr><th>class</th><th>correct clean</th>"
      "<th>flipped</th><th>turned into</th></tr></thead><tbody>\n",
      h(norm), h(scalar(r.value("eps", json()))), h(norm));
  for (const auto& [k, n] : correct) {
    std::vector<std::pair<int64_t, int64_t>> into(flips[k].begin(), flips[k].end());
    std::stable_sort(into.begin(), into.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    int64_t flipped = 0;
    std::string list;
    for (const auto& [c, m] : into) {
      flipped += m;
      if (list.size() < 80)
        list += (list.empty() ? "" : ", ") + class_name(names, c) + " " + std::to_string(m);
    }
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>\n",
                       h(class_name(names, k)), n, flipped,
                       percent(static_cast<double>(flipped) / std::max<int64_t>(n, 1)),
                       h(list.empty() ? "-" : list));
  }
  return out + "</tbody></table>\n";
}

/// Minimal-norm curves: per attack, for how many items one was found and how small ("" without
/// curves).
std::string minimal_norm_table(const json& a, const std::string& where) {
  const json& curves = array_at(a, "minimal_norm_curves", where);
  if (curves.empty()) return "";
  std::string out =
      "<h3>Minimal-norm curves</h3>\n<p>Per item, the smallest perturbation the attack "
      "found; accuracy at eps = share of clean-correct items whose smallest perturbation "
      "is larger (an upper bound on robust accuracy; dashed in the plots above).</p>\n"
      "<table class=\"rows\" data-source=\"minimal-norm\"><thead><tr><th>attack</th>"
      "<th>norm</th><th>found for</th><th>median</th><th>mean</th><th>seconds</th></tr>"
      "</thead><tbody>\n";
  for (size_t i = 0; i < curves.size(); ++i) {
    const json& c = curves[i];
    const std::string here = where + ".minimal_norm_curves[" + std::to_string(i) + "]";
    const json* found = member(c, "minimal_norm", here);
    const json m = found ? *found : json::object();
    out +=
        fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    h(scalar(c.value("attack", json()))), h(scalar(c.value("norm", json()))),
                    percent(number_at(m, "found_rate", here + ".minimal_norm")),
                    h(scalar(m.value("median", json()))), h(scalar(m.value("mean", json()))),
                    h(scalar(c.value("seconds", json()))));
  }
  return out + "</tbody></table>\n";
}

/// The time the audit took, in all and in its robust-accuracy runs; closes the section.
std::string time_spent(const json& a, const json& results, const std::string& where) {
  double attack_seconds = 0;
  for (size_t i = 0; i < results.size(); ++i)
    attack_seconds += number_at(results[i], "seconds", at(where, i));
  return fmt::format(
      "<h3>Time spent</h3>\n<p>{} s in all; {} s in the {} robust-accuracy runs (per run: the "
      "seconds column below).</p>\n</section>\n",
      number(number_at(a, "seconds", where)), number(attack_seconds), results.size());
}

/// The audit's own sections: robust accuracy per budget and stage, plots, per-class robust
/// accuracy, what the attacks turn each class into, examples and time.
std::string audit_sections(const json& a, double chance, std::set<std::string>& used,
                           const fs::path& dir) {
  const std::string where = "audit.json";
  const json& results = array_at(a, "results", where);
  const std::vector<std::string> names = class_names_of(a, where);
  for (size_t r = 0; r < results.size(); ++r) member(results[r], "norm", at(where, r));
  std::string out = robustness_cards(a, results, chance, where);
  out += stage_table(results, where);
  out += checks_table(a, where);
  out += robust_accuracy_plots(dir, used);
  bool have_items = !results.empty();
  for (const auto& r : results) have_items = have_items && r.contains("per_item");
  if (have_items) {
    const PerItem items = read_per_item(results, where);
    out += per_class_table(results, items, names);
    // What the attacks turn each class into, at the middle budget of each norm.
    out += "<h3>What the attacks turn each class into</h3>\n";
    for (const std::string norm : {"linf", "l2"})
      out += confusion_table(norm, results, items, names);
  }
  out += minimal_norm_table(a, where);
  return out + time_spent(a, results, where);
}

/// The headline numbers of a results JSON: its top-level shares and counts.
std::string headline(const json& j, double chance) {
  std::string cards;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number() || k == "seed") continue;
    const double x = v.get<double>();
    const bool share = is_share(k) && x >= 0 && x <= 1;
    std::string note;
    if (share && chance > 0 && k.find("accuracy") != std::string::npos)
      note = "chance " + percent(chance);
    cards += fmt::format(
        "<div class=\"card\"><div class=\"value\">{}</div><div class=\"label\">{}</div>{}</div>",
        share ? percent(x) : number(x), h(words(k)),
        note.empty() ? "" : "<div class=\"note\">" + h(note) + "</div>");
  }
  return cards.empty() ? "" : "<div class=\"cards\">" + cards + "</div>\n";
}

const char* const kStyle = R"(<style>
body{font-family:sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{border-bottom:2px solid #0072B2;padding-bottom:2px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#eef3f8}table.kv th{background:#f6f6f6;font-weight:normal;width:16em}
.scroll{overflow-x:auto}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:130px}
.card .value{font-size:22px;font-weight:bold}.card .label,.card .note{font-size:12px;color:#555}
figure{margin:12px 0;break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}.legend{font-size:12px;color:#555}
.bar{display:inline-block;width:120px;height:10px;vertical-align:middle;
background:linear-gradient(to right,hsl(0,70%,82%),hsl(60,70%,82%),hsl(120,70%,82%))}
code{background:#f4f4f4;padding:1px 4px}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}
</style>
)";

/// What each kind of results folder is, for the page's opening line.
std::string kind_of(const json& run, const std::vector<std::string>& files) {
  if (run.contains("kind")) return text_at(run, "kind", "run.json");
  for (const auto& f : files) return fs::path(f).stem().string();
  return "results";
}

}  // namespace

namespace {

std::string report_page(const std::string& dir_name) {
  const fs::path dir(dir_name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir_name + ": not a results folder");
  std::vector<std::string> jsons, svgs, pngs;
  bool have_run = false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string(), ext = e.path().extension().string();
    if (ext != ".json" && ext != ".svg" && ext != ".png") continue;
    // The page shows the run's own files only: never one reached through a link, nor a
    // FIFO or device (read_folder_file refuses them with one line).
    if (!e.is_symlink() && e.is_directory()) continue;
    if (name == "run.json")
      have_run = true;
    else if (ext == ".json")
      jsons.push_back(name);
    else if (ext == ".svg")
      svgs.push_back(name);
    else
      pngs.push_back(name);
  }
  if (ec) throw InputError(dir_name + ": cannot list the folder (" + ec.message() + ")");
  std::sort(jsons.begin(), jsons.end());
  std::sort(svgs.begin(), svgs.end());
  std::sort(pngs.begin(), pngs.end());
  if (jsons.empty() && pngs.empty() && svgs.empty())
    throw InputError(dir_name + ": no results (JSON, SVG or PNG files) in this folder");
  json run = json::object();
  std::map<std::string, json> docs;
  for (const auto& f : jsons) docs[f] = read_json_file(dir, f);
  if (have_run) run = read_json_file(dir, "run.json");
  if (!run.is_object()) throw InputError(dir_name + "/run.json: expected an object");
  const std::string kind = kind_of(run, jsons);
  const json* found_model = member(run, "model", "run.json");
  const json model = found_model && found_model->is_object() ? *found_model : json::object();
  const double classes_value = number_at(model, "classes", "run.json.model");
  const int64_t classes =
      classes_value >= 2 && classes_value <= 1e9 ? static_cast<int64_t>(classes_value) : 0;
  // A chance level is a classifier's: a detector's baseline is its noise rows.
  const double chance =
      classes > 1 && !docs.count("audit_detect.json") ? 1.0 / static_cast<double>(classes) : 0.0;
  std::string title = "foil " + kind;
  if (model.contains("name")) title += ": " + scalar(model["name"]);

  std::string body = "<h1>" + h(title) + "</h1>\n";
  // What ran.
  body += "<section id=\"run\"><h2>Run</h2>\n<table class=\"kv\" data-source=\"run.json\">";
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) body += "<tr><th>" + h(k) + "</th><td>" + h(v) + "</td></tr>\n";
  };
  row("command", text_at(run, "command", "run.json"));
  row("foil version", text_at(run, "foil_version", "run.json"));
  if (run.contains("seed")) row("seed", scalar(run["seed"]));
  row("threads", run.contains("threads") ? scalar(run["threads"]) : "");
  row("device", text_at(run, "device", "run.json"));
  row("finished", text_at(run, "finished", "run.json"));
  for (const auto& [k, v] : model.items()) row("model " + words(k), cell_text(v));
  if (chance > 0) row("chance level", percent(chance) + " (1 / " + std::to_string(classes) + ")");
  if (run.empty()) row("note", "no run.json in this folder: command, version and model unknown");
  body += "</table></section>\n";

  std::set<std::string> used;
  if (docs.count("audit.json") && docs["audit.json"].is_object())
    body += threat_section(docs["audit.json"]);
  // The headline: the main JSON's top-level numbers.
  if (!jsons.empty()) {
    const std::string main = docs.count(kind + ".json") ? kind + ".json" : jsons.front();
    body += "<section id=\"headline\"><h2>Headline</h2>\n" + headline(docs[main], chance) +
            "</section>\n";
  }
  if (docs.count("audit.json") && docs["audit.json"].is_object())
    body += audit_sections(docs["audit.json"], chance, used, dir);
  if (docs.count("certify.json") && docs["certify.json"].is_object())
    body += smoothing_section(docs["certify.json"], dir, used);
  if (docs.count("patch_certify.json") && docs["patch_certify.json"].is_object())
    body += patch_certificate_section(docs["patch_certify.json"], dir, used);
  if (docs.count("faithfulness.json") && docs["faithfulness.json"].is_object())
    body += faithfulness_section(docs["faithfulness.json"], dir, used);

  // Every JSON, every row.
  if (!jsons.empty()) body += "<section id=\"tables\"><h2>Results</h2>\n";
  for (const auto& f : jsons) {
    body += "<h3>" + h(f) + "</h3>\n";
    const json& j = docs[f];
    body += j.is_object()        ? render_object(j, f, 1)
            : rows_of_objects(j) ? table_of_rows(j, f)
                                 : "<table class=\"kv\" data-source=\"" + h(f) + "\"><tr><td>" +
                                       h(cell_text(j)) + "</td></tr></table>\n";
  }
  if (!jsons.empty()) body += "</section>\n";
  // Plots and pictures.
  std::string plots;
  for (const auto& f : svgs)
    if (!used.count(f))
      plots += "<figure class=\"plot\">" + image_tag(dir, f) + "<figcaption>" + h(f) +
               "</figcaption></figure>\n";
  if (!plots.empty()) body += "<section id=\"plots\"><h2>Plots</h2>\n" + plots + "</section>\n";
  std::string images;
  for (const auto& f : pngs)
    if (!used.count(f))
      images += "<figure>" + image_tag(dir, f) + "<figcaption>" + h(caption(f)) +
                "</figcaption></figure>\n";
  if (!images.empty()) body += "<section id=\"images\"><h2>Images</h2>\n" + images + "</section>\n";
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + h(title) +
         "</title>\n" + kStyle + "</head><body>\n" + body +
         "<footer><p class=\"legend\">Written by foil from the files of this folder; `foil report "
         "FOLDER` rebuilds it.</p></footer>\n</body></html>\n";
}

}  // namespace

std::string report_html(const std::string& dir) {
  try {
    return report_page(dir);
  } catch (const json::exception& e) {  // a value of a type the page does not expect
    throw InputError(dir + ": a results file holds an unexpected value (" + first_line(e.what()) +
                     ")");
  }
}

std::string write_report(const std::string& dir) {
  const std::string path = (fs::path(dir) / "report.html").string();
  write_file(path, report_html(dir));
  return path;
}

}  // namespace foil
