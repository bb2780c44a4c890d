#include "foil/attacks/option_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "foil/core/error.h"

namespace foil {
namespace {

using Type = AttackOptionField::Type;

// Stores and reads AttackOptions::member as the table's value type T.
#define FOIL_FIELD_ACCESS(member, T)                                           \
  [](AttackOptions& o, const OptionValue& v, const std::string&) {             \
    o.member(static_cast<std::decay_t<decltype(o.member())>>(std::get<T>(v))); \
  },                                                                           \
      [](const AttackOptions& o) -> OptionValue { return static_cast<T>(o.member()); }

const std::vector<std::string> kFixedStep = {"bim", "pgd", "mifgsm"};
const std::vector<std::string> kTransfer = {"di-fgsm", "ti-fgsm",   "ni-fgsm",
                                            "si-fgsm", "sini-fgsm", "vmi-fgsm"};
const std::vector<std::string> kApgd = {"apgd-ce", "apgd-dlr", "apgd-t"};

std::vector<std::string> join(std::initializer_list<std::vector<std::string>> lists) {
  std::vector<std::string> all;
  for (const auto& l : lists) all.insert(all.end(), l.begin(), l.end());
  return all;
}

AttackOptionField attack_field(
    std::string flag, std::string keyword, Type type, std::string group, std::string help,
    std::vector<std::string> used_by,
    std::function<void(AttackOptions&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const AttackOptions&)> get) {
  // The keyword is the Python name, not always the flag's (--targets: n_targets).
  AttackOptionField f =
      make_option<AttackOptions>(std::move(flag), type, std::move(group), std::move(help),
                                 std::move(used_by), std::move(set), std::move(get));
  f.keyword = std::move(keyword);
  return f;
}

AttackOptionField with_range(AttackOptionField f, double lo, double hi) {
  f.lo = lo;
  f.hi = hi;
  return f;
}

AttackOptionField own_default(AttackOptionField f) {
  f.own_default = true;
  return f;
}

AttackOptionField also(AttackOptionField f, std::string names) {
  f.more_names = std::move(names);
  return f;
}

std::vector<AttackOptionField> make_attack_table() {
  const std::string kAll = "Attack", kTr = "Transfer attacks (DI, TI, NI, SI, VMI)",
                    kQuery = "Query attacks (Square, SPSA, HopSkipJump)",
                    kEns = "APGD-T, FAB-T and AutoAttack",
                    kMin = "Minimal-norm attacks (C&W, DeepFool)";
  const std::vector<std::string> all;
  return {
      attack_field("--eps", "eps", Type::kNumber, kAll, "perturbation budget (pixels in [0,1])",
                   all, FOIL_FIELD_ACCESS(eps, double)),
      own_default(attack_field("--norm", "norm", Type::kText, kAll,
                               "linf or l2 (default: linf; l2 for fgm and cw)", all,
                               FOIL_FIELD_ACCESS(norm, std::string))),
      attack_field("--alpha", "alpha", Type::kNumber, kAll,
                   "step size (fixed-step and transfer attacks); SPSA and C&W: Adam learning rate",
                   join({kFixedStep, kTransfer, {"spsa", "cw"}}), FOIL_FIELD_ACCESS(alpha, double)),
      own_default(with_range(
          attack_field(
              "--steps", "steps", Type::kInteger, kAll,
              fmt::format("iterations (default: {} for bim/pgd/mifgsm and the transfer "
                          "attacks, {} for apgd-*, fab-t, autoattack, spsa and cw per binary "
                          "step, {} for deepfool, {} for hopskipjump: its --max-queries end it)",
                          default_steps("pgd"), default_steps("apgd-ce"), default_steps("deepfool"),
                          default_steps("hopskipjump")),
              join({kFixedStep,
                    kTransfer,
                    kApgd,
                    {"fab-t", "spsa", "hopskipjump", "cw", "deepfool", "autoattack"}}),
              FOIL_FIELD_ACCESS(steps, int64_t)),
          1, 100000)),
      // APGD and AutoAttack always start at a random point, as their authors' code does.
      also(own_default(attack_field("--random-start", "random_start", Type::kSwitch, kAll,
                                    "PGD, SPSA: start from a uniform random point of the eps-ball "
                                    "(default on; cleverhans' SPSA always starts so)",
                                    {"pgd", "spsa"}, FOIL_FIELD_ACCESS(random_start, bool))),
           "!--no-random-start"),
      attack_field(
          "--restarts", "restarts", Type::kInteger, kAll, "random restarts (PGD, APGD, FAB-T)",
          join({{"pgd", "fab-t", "autoattack"}, kApgd}), FOIL_FIELD_ACCESS(restarts, int64_t)),
      attack_field("--decay", "decay", Type::kNumber, kAll, "MI-FGSM momentum decay",
                   join({{"mifgsm"}, kTransfer}), FOIL_FIELD_ACCESS(decay, double)),
      attack_field("--targets", "n_targets", Type::kInteger, kEns,
                   "APGD-T/FAB-T target classes (top-k of the clean logits; 0 = min(9, classes-1))",
                   {"apgd-t", "fab-t", "autoattack"}, FOIL_FIELD_ACCESS(targets, int64_t)),
      attack_field(
          "--version", "version", Type::kText, kEns,
          "AutoAttack: standard (APGD-CE, APGD-T, FAB-T, Square), fast (APGD-CE, APGD-T over "
          "the top-3 targets) or rand (randomised models: APGD-CE and APGD-DLR with EOT over "
          "20 passes)",
          {"autoattack"}, FOIL_FIELD_ACCESS(version, std::string)),
      also(attack_field("--max-queries", "max_queries", Type::kInteger, kQuery,
                        "square, spsa, hopskipjump (and AutoAttack's Square): the most images one "
                        "sample may show the model",
                        {"square", "spsa", "hopskipjump", "autoattack"},
                        FOIL_FIELD_ACCESS(queries, int64_t)),
           "--queries"),
      attack_field("--p-init", "p_init", Type::kNumber, kQuery,
                   "Square: initial share of pixels per square", {"square", "autoattack"},
                   FOIL_FIELD_ACCESS(p_init, double)),
      attack_field("--spsa-samples", "spsa_samples", Type::kInteger, kQuery,
                   "SPSA: random directions per step (two queries each)", {"spsa"},
                   FOIL_FIELD_ACCESS(spsa_samples, int64_t)),
      attack_field("--spsa-delta", "spsa_delta", Type::kNumber, kQuery,
                   "SPSA: finite-difference step", {"spsa"}, FOIL_FIELD_ACCESS(spsa_delta, double)),
      attack_field("--hsj-init-evals", "hsj_init_evals", Type::kInteger, kQuery,
                   "HopSkipJump: queries of the first gradient estimate (grows with sqrt of the "
                   "iteration)",
                   {"hopskipjump"}, FOIL_FIELD_ACCESS(hsj_init_evals, int64_t)),
      attack_field("--hsj-max-evals", "hsj_max_evals", Type::kInteger, kQuery,
                   "HopSkipJump: the most queries of one gradient estimate", {"hopskipjump"},
                   FOIL_FIELD_ACCESS(hsj_max_evals, int64_t)),
      own_default(with_range(
          attack_field(
              "--di-prob", "di_prob", Type::kNumber, kTr,
              "DI: probability of the random resize-and-pad per gradient (default: 0.5 for "
              "di-fgsm and ti-fgsm as torchattacks, else 0)",
              kTransfer, FOIL_FIELD_ACCESS(input_diversity, double)),
          0, 1)),
      attack_field("--di-resize", "di_resize", Type::kNumber, kTr,
                   "DI: smallest resize, share of the side", kTransfer,
                   FOIL_FIELD_ACCESS(diversity_resize, double)),
      own_default(with_range(
          attack_field(
              "--ti-kernel", "ti_kernel", Type::kInteger, kTr,
              "TI: Gaussian kernel side, odd (default: ti-fgsm Dong et al.'s 15 px at 299 px "
              "scaled to the image, refused under 70 px where it cannot smooth; else 1)",
              kTransfer, FOIL_FIELD_ACCESS(ti_kernel, int64_t)),
          1, 99)),
      own_default(with_range(
          attack_field(
              "--si-scales", "si_scales", Type::kInteger, kTr,
              "SI: scale copies x/2^i per gradient (default: 5 for si-fgsm and sini-fgsm as "
              "Lin et al., else 1)",
              kTransfer, FOIL_FIELD_ACCESS(si_scales, int64_t)),
          1, 20)),
      own_default(with_range(
          attack_field(
              "--vmi-samples", "vmi_samples", Type::kInteger, kTr,
              "VMI: neighbours for the gradient variance (default: 20 for vmi-fgsm as Wang & "
              "He and their code; torchattacks uses 5; else 0)",
              kTransfer, FOIL_FIELD_ACCESS(vmi_samples, int64_t)),
          0, 100)),
      attack_field("--vmi-beta", "vmi_beta", Type::kNumber, kTr, "VMI: neighbourhood radius in eps",
                   kTransfer, FOIL_FIELD_ACCESS(vmi_beta, double)),
      own_default(attack_field(
          "--nesterov", "nesterov", Type::kSwitch, kTr,
          "NI: gradients at the Nesterov look-ahead point (ni-fgsm and sini-fgsm "
          "always)",
          {"di-fgsm", "ti-fgsm", "si-fgsm", "vmi-fgsm"}, FOIL_FIELD_ACCESS(nesterov, bool))),
      attack_field("--kappa", "kappa", Type::kNumber, kMin, "C&W: confidence margin", {"cw"},
                   FOIL_FIELD_ACCESS(kappa, double)),
      attack_field("--binary-steps", "binary_steps", Type::kInteger, kMin,
                   "C&W: binary search steps over c", {"cw"},
                   FOIL_FIELD_ACCESS(binary_steps, int64_t)),
      attack_field("--initial-const", "initial_const", Type::kNumber, kMin, "C&W: the first c",
                   {"cw"}, FOIL_FIELD_ACCESS(initial_const, double)),
      attack_field("--overshoot", "overshoot", Type::kNumber, kMin, "DeepFool: overshoot",
                   {"deepfool"}, FOIL_FIELD_ACCESS(overshoot, double)),
      // Python only: the CLI's --seed is global, and EOT is `foil defend --adaptive-eot`.
      with_range(
          attack_field("", "seed", Type::kInteger, kAll, "seed of the per-sample random streams",
                       all, FOIL_FIELD_ACCESS(seed, int64_t)),
          0, 9.2e18),
      attack_field(
          "", "eot_samples", Type::kInteger, kAll,
          "EOT: forward+backward passes averaged per gradient (randomised models)",
          {"fgsm", "fgm", "bim", "pgd", "mifgsm", "apgd-ce", "apgd-dlr", "apgd-t", "autoattack"},
          FOIL_FIELD_ACCESS(eot_samples, int64_t)),
  };
}

#undef FOIL_FIELD_ACCESS

}  // namespace

const std::vector<AttackOptionField>& attack_option_fields() {
  static const std::vector<AttackOptionField> table = make_attack_table();
  return table;
}

const AttackOptionField* find_attack_option(const std::string& name) {
  return find_option(attack_option_fields(), name);
}

void set_attack_option(AttackOptions& o, const AttackOptionField& field, const OptionValue& value,
                       const std::vector<std::string>& attacks, const std::string& name) {
  // An unknown attack is the error to report, not its options.
  for (const auto& a : attacks)
    if (std::find(attack_names().begin(), attack_names().end(), a) == attack_names().end())
      throw InputError(fmt::format("--attack: expected one of {}, got '{}'",
                                   fmt::join(attack_names(), ", "), a));
  check_option_used(field, attacks, name);
  set_option(o, field, value, name);
}

}  // namespace foil
