#pragma once
/// @file
/// One self-contained HTML page per results folder: what ran, the headline numbers,
/// every row of the folder's JSON as tables, its SVG plots inline and its PNG images
/// embedded (no scripts, no external resources; prints to PDF).

#include <string>

namespace foil {

/// The report page of results folder `dir`, built from the files in it: `run.json` (the
/// command line, foil version, seed, model and data; written by the CLI), every other
/// `*.json` (audit.json also gives plots per norm, per-class robust accuracy, a confusion
/// summary and time spent), `*.svg` plots and `*.png` images. Throws InputError when `dir`
/// is not a folder or holds none of these.
std::string report_html(const std::string& dir);

/// Writes report_html(dir) to `dir`/report.html (whole or not at all); returns its path.
std::string write_report(const std::string& dir);

}  // namespace foil
