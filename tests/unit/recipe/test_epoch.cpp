#include "recipe_test_util.hpp"

#include <cstdlib>
#include <optional>

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

namespace {
// Sets (or unsets) SOURCE_DATE_EPOCH for one scope and restores the previous value.
class EpochEnv {
public:
  explicit EpochEnv(const char* value) {
    if (const char* old = std::getenv("SOURCE_DATE_EPOCH")) m_old = old;
    if (value)
      ::setenv("SOURCE_DATE_EPOCH", value, 1);
    else
      ::unsetenv("SOURCE_DATE_EPOCH");
  }
  ~EpochEnv() {
    if (m_old)
      ::setenv("SOURCE_DATE_EPOCH", m_old->c_str(), 1);
    else
      ::unsetenv("SOURCE_DATE_EPOCH");
  }
  EpochEnv(const EpochEnv&) = delete;
  EpochEnv& operator=(const EpochEnv&) = delete;

private:
  std::optional<std::string> m_old;
};

Recipe with_epoch(std::optional<std::int64_t> epoch) {
  Recipe r;
  r.file = "/somewhere/recipe.json";
  r.source_date_epoch = epoch;
  return r;
}
} // namespace

TEST_CASE("the recipe's source_date_epoch applies when the environment has none", "[recipe]") {
  EpochEnv env(nullptr);
  CHECK(effective_source_date_epoch(with_epoch(1735689600)) == 1735689600);
  CHECK(effective_source_date_epoch(with_epoch(0)) == 0);
}

TEST_CASE("the SOURCE_DATE_EPOCH variable overrides the recipe, including 0", "[recipe]") {
  {
    EpochEnv env("1700000000");
    CHECK(effective_source_date_epoch(with_epoch(1735689600)) == 1700000000);
    CHECK(effective_source_date_epoch(with_epoch(std::nullopt)) == 1700000000);
  }
  {
    EpochEnv env("0"); // rpm once treated 0 as unset (rpm#2679); here it is a valid epoch
    CHECK(effective_source_date_epoch(with_epoch(1735689600)) == 0);
  }
  {
    EpochEnv env("9223372036854775807");
    CHECK(effective_source_date_epoch(with_epoch(1)) == INT64_MAX);
  }
}

TEST_CASE("a malformed SOURCE_DATE_EPOCH is an input error quoting the value", "[recipe]") {
  for (const char* bad : {"", "abc", "1.5", "-1", "+5", " 5", "5 ", "0x10", "0123",
                          "9223372036854775808", "99999999999999999999999"}) {
    EpochEnv env(bad);
    INFO("SOURCE_DATE_EPOCH=\"" << bad << "\"");
    const std::string m = error_of([] { effective_source_date_epoch(with_epoch(1)); });
    check_contains(m, {"SOURCE_DATE_EPOCH", std::string("\"") + bad + "\""});
  }
}

TEST_CASE("neither a recipe epoch nor the variable is an error saying how to set one", "[recipe]") {
  EpochEnv env(nullptr);
  const std::string m = error_of([] { effective_source_date_epoch(with_epoch(std::nullopt)); });
  check_contains(
      m, {"/somewhere/recipe.json", "source_date_epoch", "SOURCE_DATE_EPOCH environment variable"});
}
