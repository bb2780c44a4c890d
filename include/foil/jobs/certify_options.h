#pragma once
/// @file
/// What a user sets for a certificate (`foil certify`): randomized smoothing's job
/// (foil/jobs/certify_job.h) or, with --patch, PatchCleanser's (foil/jobs/patch_certify_job.h),
/// declared once (foil/core/option_fields.h). `used_by` is "smoothing" or "--patch"; a flag
/// of the other one is refused.
///
/// Example:
///   foil::CertifySettings s;
///   const auto* f = foil::find_option(foil::certify_option_fields(), "--masks");
///   foil::set_option(s, *f, int64_t{4}, "--masks");  // s.patch.masks_per_axis == 4

#include <vector>

#include "foil/core/option_fields.h"
#include "foil/jobs/certify_job.h"
#include "foil/jobs/patch_certify_job.h"

namespace foil {

/// Both certificates' options; `--batch` sets both batches (default: smoothing's 1000).
struct CertifySettings {
  CertifySettings() { patch.batch = smoothing.smoothing.batch(); }
  CertifyOptions smoothing;   ///< sigma, n0, n, alpha and the SmoothAdv attack
  PatchCertifyOptions patch;  ///< areas, masks and the patch attacks
};

/// The table, in --help order.
const std::vector<OptionField<CertifySettings>>& certify_option_fields();

}  // namespace foil
