#include <fmt/format.h>
#include <fmt/ranges.h>

#include "foil/attacks/attack.h"
#include "foil/attacks/bim.h"
#include "foil/attacks/mifgsm.h"
#include "foil/core/error.h"

namespace foil {

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = {"fgsm", "fgm", "bim", "pgd", "mifgsm"};
  return names;
}

std::unique_ptr<Attack> make_attack(const std::string& name, AttackOptions o) {
  if (name == "fgsm") return std::make_unique<Fgsm>(o);
  if (name == "fgm") {
    check_input(o.norm() == "l2", "--norm", "l2 for fgm (FGM is the L2 form; fgsm is Linf)",
                "'" + o.norm() + "'");
    return std::make_unique<Fgsm>(o);
  }
  if (name == "bim") return std::make_unique<Bim>(o.random_start(false));
  if (name == "pgd") return std::make_unique<Pgd>(o);
  if (name == "mifgsm") return std::make_unique<MiFgsm>(o.random_start(false));
  throw InputError(
      fmt::format("--attack: expected one of {}, got '{}'", fmt::join(attack_names(), ", "), name));
}

}  // namespace foil
