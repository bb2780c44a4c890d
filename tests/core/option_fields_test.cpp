// Options declared once (foil/core/option_fields.h): texts and values are read as the field's
// type, checked against its range and count, and every refusal names the flag or keyword.
#include "foil/core/option_fields.h"

#include <gtest/gtest.h>

#include "foil/core/error.h"

namespace foil {
namespace {

OptionDecl decl(OptionType type, double lo = -1e300, double hi = 1e300, int count = 0) {
  OptionDecl d;
  d.flag = "--x";
  d.type = type;
  d.lo = lo;
  d.hi = hi;
  d.count = count;
  return d;
}

std::string message(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(OptionFields, TextsReadAsTheFieldsType) {
  EXPECT_EQ(std::get<double>(parse_option_text(decl(OptionType::kNumber), "0.25", "--x")), 0.25);
  EXPECT_EQ(std::get<int64_t>(parse_option_text(decl(OptionType::kInteger), "-3", "--x")), -3);
  EXPECT_FALSE(std::get<bool>(parse_option_text(decl(OptionType::kSwitch), "false", "--x")));
  EXPECT_EQ(std::get<std::vector<double>>(
                parse_option_text(decl(OptionType::kNumbers), "0.8,1.2", "--x")),
            (std::vector<double>{0.8, 1.2}));
  EXPECT_EQ(std::get<std::vector<std::string>>(
                parse_option_text(decl(OptionType::kTexts), "conv1,fc", "--x")),
            (std::vector<std::string>{"conv1", "fc"}));
  EXPECT_TRUE(
      std::get<std::vector<std::string>>(parse_option_text(decl(OptionType::kTexts), "", "--x"))
          .empty());
  for (const auto& [type, text] :
       std::vector<std::pair<OptionType, std::string>>{{OptionType::kNumber, "inf"},
                                                       {OptionType::kNumber, "1e"},
                                                       {OptionType::kInteger, "2.5"},
                                                       {OptionType::kSwitch, "yes"},
                                                       {OptionType::kNumbers, "1,nan"},
                                                       {OptionType::kTexts, "a,,b"}}) {
    const std::string m = message([&] { parse_option_text(decl(type), text, "--flag"); });
    EXPECT_EQ(m.rfind("--flag: expected", 0), 0u) << text << ": " << m;
  }
}

TEST(OptionFields, ValuesAreCheckedAgainstRangeAndCount) {
  const OptionDecl n = decl(OptionType::kNumber, 0, 1);
  EXPECT_EQ(std::get<double>(checked_option_value(n, int64_t{1}, "x")), 1.0);  // 1 from Python
  EXPECT_EQ(message([&] { checked_option_value(n, 1.5, "x"); }),
            "x: expected a value in [0, 1], got '1.5'");
  EXPECT_NE(message([&] { checked_option_value(n, std::string("a"), "x"); }), "");
  const OptionDecl i = decl(OptionType::kInteger, 1, 64);
  EXPECT_EQ(message([&] { checked_option_value(i, int64_t{0}, "--cells"); }),
            "--cells: expected an integer in 1..64, got '0'");
  EXPECT_NE(message([&] { checked_option_value(i, 2.0, "--cells"); }), "");  // not an integer
  const OptionDecl pair = decl(OptionType::kNumbers, 0, 10, 2);
  EXPECT_EQ(message([&] { checked_option_value(pair, std::vector<double>{1, 2}, "x"); }), "");
  EXPECT_EQ(message([&] { checked_option_value(pair, std::vector<double>{1}, "--scale"); }),
            "--scale: expected 2 comma-separated finite numbers in [0, 10], got '1'");
  EXPECT_NE(message([&] { checked_option_value(pair, std::vector<double>{1, 11}, "x"); }), "");
}

TEST(OptionFields, AFieldNoUserReadsIsRefusedNamingIt) {
  OptionDecl d = decl(OptionType::kInteger);
  d.used_by = {"train", "transfer"};
  EXPECT_EQ(message([&] { check_option_used(d, {"train"}, "--x"); }), "");
  EXPECT_EQ(message([&] { check_option_used(d, {"eval"}, "--epochs"); }),
            "--epochs: not used by eval; it is read by train, transfer");
  d.used_by.clear();  // every user
  EXPECT_EQ(message([&] { check_option_used(d, {"eval"}, "--x"); }), "");
}

}  // namespace
}  // namespace foil
