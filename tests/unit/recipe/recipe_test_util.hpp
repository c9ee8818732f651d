#pragma once
// Helpers for the recipe tests: write recipe text into a temporary directory, and check that
// an error has the expected kind and names the expected place.

#include <catch2/catch.hpp>
#include <fstream>
#include <initializer_list>
#include <string>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace recipe_test {

inline tdximg::fs::path data_dir() {
  return tdximg::fs::path(TDXIMG_SOURCE_DIR) / "tests" / "data" / "recipe";
}

// Writes `text` to `p` (no fsync: write_file_atomic's fsync makes sweeps slow).
inline void write_plain(const tdximg::fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  REQUIRE(out.good());
}

// Writes `text` as <dir>/<name> (creating parents) and returns the path.
inline tdximg::fs::path put(const tdximg::fs::path& dir, const std::string& name,
                            const std::string& text) {
  const tdximg::fs::path p = dir / name;
  tdximg::fs::create_directories(p.parent_path());
  write_plain(p, text);
  return p;
}

// The message of the Error that `f` throws; fails the test if it throws none or another kind.
template <typename F>
std::string error_of(F&& f, tdximg::ErrorKind kind = tdximg::ErrorKind::input) {
  try {
    f();
  } catch (const tdximg::Error& e) {
    INFO("message: " << e.what());
    CHECK(e.kind() == kind);
    return e.what();
  }
  FAIL("expected a tdximg::Error");
  return {};
}

// Loads a recipe made of `body` (inserted after "schema": 1) and returns the error message.
inline std::string recipe_error(const std::string& body) {
  tdximg::TempDir dir;
  const auto file = put(dir.path(), "r.json", "{\"schema\": 1, \"name\": \"t\"" + body + "}");
  return error_of([&] { tdximg::recipe::load_recipe(file); });
}

inline void check_contains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts) {
    INFO("message: " << message);
    INFO("expected to contain: " << p);
    CHECK(message.find(p) != std::string::npos);
  }
}

} // namespace recipe_test
