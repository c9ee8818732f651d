#include "recipe_test_util.hpp"

#include <tdximg/util/digest.hpp>

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

namespace {
void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive);
}
} // namespace

TEST_CASE("the recipe digest does not depend on where the checkout lives", "[recipe]") {
  TempDir a;
  TempDir b;
  copy_tree(data_dir() / "chain", a.path() / "x");
  copy_tree(data_dir() / "chain", b.path() / "deeper" / "checkout");
  const Recipe ra = load_recipe(a.path() / "x" / "child");
  const Recipe rb = load_recipe(b.path() / "deeper" / "checkout" / "child");
  REQUIRE(ra.inputs.at("app").path != rb.inputs.at("app").path);
  CHECK(canonical_json(ra) == canonical_json(rb));
  CHECK(recipe_digest(ra) == recipe_digest(rb));
  // The digest is the sha256 of the canonical JSON, and base inputs are relative to the top.
  CHECK(recipe_digest(ra) == sha256_hex(as_bytes(canonical_json(ra))));
  check_contains(canonical_json(ra), {R"("path":"../base/files/motd")", R"("path":"files/app")"});
}

TEST_CASE("the recipe digest changes when the recipe changes", "[recipe]") {
  TempDir a;
  put(a.path(), "r.json", R"({"schema": 1, "name": "x", "cmdline": "quiet"})");
  put(a.path(), "s.json", R"({"schema": 1, "name": "x", "cmdline": "quiet "})");
  put(a.path(), "t.json",
      R"({"schema": 1, "name": "x", "cmdline": "quiet", "initramfs": {"level": 18}})");
  const std::string r = recipe_digest(load_recipe(a.path() / "r.json"));
  CHECK(r != recipe_digest(load_recipe(a.path() / "s.json")));
  CHECK(r != recipe_digest(load_recipe(a.path() / "t.json")));
}

TEST_CASE("formatting, comments and defaults do not change the digest", "[recipe]") {
  TempDir a;
  put(a.path(), "r.json",
      R"({"schema": 1, "name": "x", "layers": [{"name": "l", "ops": [{"dir": "/a"}]}]})");
  put(a.path(), "s.json", R"(// same recipe, spelled differently
  { "layers": [ { "ops": [ { "mode": "0755", "dir": ["//a/"], "uid": 0 } ], "name": "l" } ],
    "name": "x", "schema": 1, "initramfs": { "compression": "zstd" }, "outputs": ["initramfs"] })");
  CHECK(recipe_digest(load_recipe(a.path() / "r.json")) ==
        recipe_digest(load_recipe(a.path() / "s.json")));
}

TEST_CASE("the canonical JSON is itself a recipe that loads to the same canonical JSON",
          "[recipe]") {
  for (const char* which : {"full", "chain/child"}) {
    INFO(which);
    TempDir a;
    copy_tree(data_dir(), a.path() / "d");
    const fs::path top = a.path() / "d" / which;
    const Recipe r = load_recipe(top);
    put(top, "canonical.json", canonical_json(r));
    const Recipe again = load_recipe(top / "canonical.json");
    CHECK(canonical_json(again) == canonical_json(r));
  }
}
