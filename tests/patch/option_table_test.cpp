// The patch jobs' option table (foil/patch/option_table.h): every field reaches the settings
// the jobs read, its own checks name it, and a field a job does not read is refused.
#include "foil/patch/option_table.h"

#include <gtest/gtest.h>

#include "foil/core/error.h"

namespace foil {
namespace {

using Type = OptionType;

// A valid value of the field other than the default's.
OptionValue other_value(const OptionField<PatchSettings>& f) {
  const OptionValue v = f.get(PatchSettings());
  if (f.keyword == "param") return std::string("free");
  if (f.keyword == "shape") return std::string("circle");
  if (f.keyword == "init") return std::string("random");
  if (f.keyword == "loss") return std::string("ot");
  if (f.keyword == "optimizer") return std::string("sgd");
  if (f.keyword == "eot_corruptions") return std::vector<std::string>{"blur"};
  switch (f.type) {
    case Type::kNumber:
      return f.hi < 1e300 ? (f.lo + f.hi) / 2 : std::get<double>(v) + 1;
    case Type::kInteger:
      return std::get<int64_t>(v) + 1;
    case Type::kSwitch:
      return !std::get<bool>(v);
    case Type::kText:
      return std::string("other");
    case Type::kNumbers:
      return std::vector<double>{0.5, 0.75};
    case Type::kTexts:
      return std::vector<std::string>{"conv1"};
  }
  return v;
}

TEST(PatchOptionTable, EveryFieldReachesTheSettings) {
  for (const auto& f : patch_option_fields()) {
    PatchSettings s;
    const OptionValue before = f.get(s);
    set_option(s, f, other_value(f), f.flag);
    EXPECT_NE(f.get(s), before) << f.flag;
    EXPECT_EQ(f.keyword, [&] {
      std::string k = f.flag.substr(2);
      for (char& c : k) c = c == '-' ? '_' : c;
      return k;
    }()) << "Python's keyword is the flag with _ for -";
  }
}

TEST(PatchOptionTable, FieldChecksNameTheFlag) {
  const auto& t = patch_option_fields();
  PatchSettings s;
  const auto refused = [&](const std::string& flag, const OptionValue& v) {
    try {
      set_option(s, *find_option(t, flag), v, flag);
    } catch (const InputError& e) {
      return std::string(e.what()).rfind(flag + ": ", 0) == 0;
    }
    return false;
  };
  EXPECT_TRUE(refused("--scale", std::vector<double>{1.2, 0.8}));
  EXPECT_TRUE(refused("--contrast", std::vector<double>{0, 1}));
  EXPECT_TRUE(refused("--scale", std::vector<double>{1}));
  EXPECT_TRUE(refused("--layer-weights", std::vector<double>{0, 0}));
  EXPECT_TRUE(refused("--layer-weights", std::vector<double>{-1, 2}));
  EXPECT_TRUE(refused("--lr", 0.0));
  EXPECT_TRUE(refused("--eot-corruptions", std::vector<std::string>{"no_such"}));
  EXPECT_TRUE(refused("--cells", int64_t{0}));
  EXPECT_THROW(check_option_used(*find_option(t, "--epochs"), {"eval"}, "--epochs"), InputError);
  EXPECT_THROW(check_option_used(*find_option(t, "--init"), {"eval"}, "--init"), InputError);
  EXPECT_NO_THROW(check_option_used(*find_option(t, "--keep-out"), {"apply"}, "--keep-out"));
}

}  // namespace
}  // namespace foil
