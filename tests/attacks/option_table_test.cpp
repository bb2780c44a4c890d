// The attack option table (foil/attacks/option_table.h): every field it says an attack reads
// changes what that attack is (its describe() line) or is refused by it naming the flag, and a
// field it does not read is refused.
#include "foil/attacks/option_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "foil/core/error.h"

namespace foil {
namespace {

using Type = AttackOptionField::Type;

// A valid value of the field other than its default.
OptionValue other_value(const AttackOptionField& f, const AttackOptions& o) {
  const OptionValue v = f.get(o);
  switch (f.type) {
    case Type::kNumber: {
      const double d = std::get<double>(v);
      return d > 0 ? d * 0.5 : 0.25;
    }
    case Type::kInteger: {
      const int64_t i = std::get<int64_t>(v);
      if (f.keyword == "ti_kernel") return int64_t{3};
      const int64_t up =
          f.lo > -1e18 ? std::max<int64_t>(i + 1, static_cast<int64_t>(f.lo) + 1) : i + 1;
      return static_cast<double>(up) <= f.hi ? up : i - 1;  // HopSkipJump's steps: at the top
    }
    case Type::kSwitch:
      return !std::get<bool>(v);
    case Type::kText:
      if (f.keyword == "norm") return std::string(std::get<std::string>(v) == "l2" ? "linf" : "l2");
      return std::string("fast");  // version
    default:                       // the attack table has no lists
      break;
  }
  return v;
}

TEST(AttackOptionTable, EveryFieldAnAttackReadsChangesItOrIsRefusedByIt) {
  for (const auto& attack : attack_names()) {
    const AttackOptions base = default_attack_options(attack);
    const std::string plain = make_attack(attack, base)->describe();
    for (const auto& f : attack_option_fields()) {
      // The seed keys every attack's per-sample streams and the evaluation's; not all lines
      // show it.
      if (!f.used_by_name(attack) || f.keyword == "seed") continue;
      AttackOptions o = base;
      set_attack_option(o, f, other_value(f, base), {attack}, f.keyword);
      try {
        EXPECT_NE(make_attack(attack, o)->describe(), plain) << attack << " " << f.keyword;
      } catch (const InputError& e) {
        // e.g. fgm with --norm linf, EOT on standard AutoAttack: refused, naming the option.
        const std::string what = e.what();
        EXPECT_TRUE(f.flag.empty() || what.find(f.flag) != std::string::npos)
            << attack << " " << f.keyword << ": " << what;
      }
    }
  }
}

TEST(AttackOptionTable, FieldsNameRealAttacksAndUniqueFlags) {
  std::vector<std::string> names;
  for (const auto& f : attack_option_fields()) {
    for (const auto& a : f.used_by)
      EXPECT_NE(std::find(attack_names().begin(), attack_names().end(), a), attack_names().end())
          << f.keyword << ": " << a;
    EXPECT_EQ(find_attack_option(f.keyword), &f);
    if (!f.flag.empty()) EXPECT_EQ(find_attack_option(f.flag), &f);
    names.push_back(f.keyword);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(find_attack_option("--queries"), find_attack_option("max_queries"));
  EXPECT_EQ(find_attack_option("epsilon"), nullptr);
}

TEST(AttackOptionTable, RefusesAFieldTheAttackDoesNotReadAndValuesOutOfRange) {
  AttackOptions o = default_attack_options("pgd");
  const auto& queries = *find_attack_option("--max-queries");
  try {
    set_attack_option(o, queries, int64_t{100}, {"pgd"}, "--max-queries");
    FAIL() << "--max-queries accepted for pgd";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "--max-queries: not used by pgd; it is read by square, spsa, hopskipjump, "
                 "autoattack");
  }
  // Transfer takes several attacks: one that reads it is enough.
  set_attack_option(o, queries, int64_t{100}, {"pgd", "square"}, "--max-queries");
  EXPECT_EQ(o.queries(), 100);
  EXPECT_THROW(
      set_attack_option(o, *find_attack_option("ti_kernel"), int64_t{-1}, {"ti-fgsm"}, "ti_kernel"),
      InputError);
  EXPECT_THROW(parse_option_text(*find_attack_option("--eps"), "inf", "--eps"), InputError);
  EXPECT_EQ(std::get<double>(parse_option_text(*find_attack_option("--eps"), "0.25", "--eps")),
            0.25);
}

}  // namespace
}  // namespace foil
