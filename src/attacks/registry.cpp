#include <fmt/format.h>
#include <fmt/ranges.h>

#include "foil/attacks/apgd.h"
#include "foil/attacks/attack.h"
#include "foil/attacks/autoattack.h"
#include "foil/attacks/bim.h"
#include "foil/attacks/cw.h"
#include "foil/attacks/deepfool.h"
#include "foil/attacks/fab.h"
#include "foil/attacks/hopskipjump.h"
#include "foil/attacks/mifgsm.h"
#include "foil/attacks/spsa.h"
#include "foil/attacks/square.h"
#include "foil/attacks/transfer.h"
#include "foil/core/error.h"

namespace foil {

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = {
      "fgsm",    "fgm",     "bim",       "pgd",         "mifgsm",  "di-fgsm",  "ti-fgsm",
      "ni-fgsm", "si-fgsm", "sini-fgsm", "vmi-fgsm",    "apgd-ce", "apgd-dlr", "apgd-t",
      "fab-t",   "square",  "spsa",      "hopskipjump", "cw",      "deepfool", "autoattack"};
  return names;
}

int64_t default_steps(const std::string& name) {
  if (name == "deepfool") return 50;
  if (name == "hopskipjump") return 100000;  // iterations: its query budget ends it first
  if (name.rfind("apgd", 0) == 0 || name == "fab-t" || name == "cw" || name == "autoattack" ||
      name == "spsa")
    return 100;
  return 10;
}

AttackOptions default_attack_options(const std::string& name) {
  return AttackOptions()
      .steps(default_steps(name))
      .norm(name == "fgm" || name == "cw" ? "l2" : "linf")
      .random_start(true);
}

std::unique_ptr<Attack> make_attack(const std::string& name, AttackOptions o) {
  // EOT averages gradients: the fixed-step family and APGD (alone or as fast AutoAttack).
  const bool eot_ok = name.rfind("apgd", 0) == 0 ||
                      (name == "autoattack" && o.version() == "fast") ||
                      (default_steps(name) == 10 && !is_transfer_attack(name));
  check_input(o.eot_samples() == 1 || eot_ok, "--adaptive-eot",
              "1 for " + name + " (EOT is for fgsm/bim/pgd/mifgsm, APGD and fast AutoAttack)",
              std::to_string(o.eot_samples()));
  if (name == "fgsm") return std::make_unique<Fgsm>(o);
  if (name == "fgm") {
    check_input(o.norm() == "l2", "--norm", "l2 for fgm (FGM is the L2 form; fgsm is Linf)",
                "'" + o.norm() + "'");
    return std::make_unique<Fgsm>(o);
  }
  if (name == "bim") return std::make_unique<Bim>(o.random_start(false));
  if (name == "pgd") return std::make_unique<Pgd>(o);
  if (name == "mifgsm") return std::make_unique<MiFgsm>(o.random_start(false));
  if (is_transfer_attack(name)) return std::make_unique<TransferFgsm>(name, o);
  if (name == "spsa") return std::make_unique<Spsa>(o);
  if (name == "hopskipjump") return std::make_unique<HopSkipJump>(o);
  if (name == "apgd-ce") return std::make_unique<Apgd>(o.loss("ce"), false);
  if (name == "apgd-dlr") return std::make_unique<Apgd>(o.loss("dlr"), false);
  if (name == "apgd-t") return std::make_unique<Apgd>(o, true);
  if (name == "fab-t") return std::make_unique<FabT>(o);
  if (name == "square") return std::make_unique<Square>(o);
  if (name == "cw") return std::make_unique<CarliniWagner>(o);
  if (name == "deepfool") return std::make_unique<DeepFool>(o);
  if (name == "autoattack") return std::make_unique<AutoAttack>(o);
  throw InputError(
      fmt::format("--attack: expected one of {}, got '{}'", fmt::join(attack_names(), ", "), name));
}

}  // namespace foil
