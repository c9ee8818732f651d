#include "recipe_test_util.hpp"

#include <tdximg/recipe/lockfile.hpp>

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

namespace {
const std::string k_a = std::string(64, 'a');
const std::string k_b = std::string(64, 'b');

LockFile sample_lock() {
  LockFile lock;
  lock.recipe_sha256 = std::string(64, 'c');
  LockEntry k;
  k.name = "kernel";
  k.kind = InputKind::deb;
  k.sha256 = k_a;
  k.size = 70000000;
  k.package = "linux-image-6.1.0-41-amd64";
  k.version = "6.1.158-1";
  k.suite = "bookworm";
  k.arch = "amd64";
  k.filename = "pool/main/l/linux-signed-amd64/linux-image-6.1.0-41-amd64_6.1.158-1_amd64.deb";
  lock.entries["kernel"] = k;
  LockEntry app;
  app.name = "app";
  app.kind = InputKind::path;
  app.sha256 = k_b;
  app.size = 12;
  lock.entries["app"] = app;
  return lock;
}

Recipe sample_recipe() {
  Recipe r;
  r.file = "/src/recipes/hello/recipe.json";
  Input kernel;
  kernel.name = "kernel";
  kernel.kind = InputKind::deb;
  kernel.deb.package = "linux-image-amd64";
  kernel.deb.suite = "bookworm";
  r.inputs["kernel"] = kernel;
  Input app;
  app.name = "app";
  app.kind = InputKind::path;
  app.path = "/src/recipes/hello/app";
  r.inputs["app"] = app;
  return r;
}
} // namespace

TEST_CASE("the lock file is written sorted with 2-space indent and a trailing newline",
          "[recipe]") {
  // The expected text is the format documented in recipes/README.md ("Lock files").
  const std::string expected = R"({
  "inputs": {
    "app": {
      "kind": "path",
      "sha256": ")" + k_b + R"(",
      "size": 12
    },
    "kernel": {
      "arch": "amd64",
      "filename": "pool/main/l/linux-signed-amd64/linux-image-6.1.0-41-amd64_6.1.158-1_amd64.deb",
      "kind": "deb",
      "package": "linux-image-6.1.0-41-amd64",
      "sha256": ")" + k_a + R"(",
      "size": 70000000,
      "suite": "bookworm",
      "version": "6.1.158-1"
    }
  },
  "recipe_sha256": ")" + std::string(64, 'c') +
                               R"(",
  "schema": 1
}
)";
  CHECK(write_lock_json(sample_lock()) == expected);
}

TEST_CASE("a lock file survives a write and read round trip", "[recipe]") {
  TempDir dir;
  const LockFile lock = sample_lock();
  const fs::path p = dir.path() / "recipe.lock.json";
  write_file_atomic(p, std::string_view(write_lock_json(lock)));
  const LockFile back = read_lock(p);
  CHECK(back.recipe_sha256 == lock.recipe_sha256);
  REQUIRE(back.entries.size() == 2);
  const LockEntry& k = back.entries.at("kernel");
  CHECK(k.name == "kernel");
  CHECK(k.kind == InputKind::deb);
  CHECK(k.sha256 == k_a);
  CHECK(k.size == 70000000);
  CHECK(k.package == "linux-image-6.1.0-41-amd64");
  CHECK(k.version == "6.1.158-1");
  CHECK(k.filename == lock.entries.at("kernel").filename);
  CHECK(write_lock_json(back) == write_lock_json(lock));
}

TEST_CASE("a malformed lock file is an input error naming the path", "[recipe]") {
  check_contains(error_of([] {
                   parse_lock(R"({"schema": 1, "inputs": {"a": {"kind": "path"}}})", "x.lock.json");
                 }),
                 {"x.lock.json: /inputs/a: missing required key \"sha256\""});
  check_contains(error_of([] {
                   parse_lock(R"({"schema": 1, "inputs": {"a": {"kind": "git", "sha256": ")" +
                                  std::string(64, '0') + "\"}}}",
                              "x.lock.json");
                 }),
                 {"x.lock.json: /inputs/a/kind: expected one of: path, deb, url, got \"git\""});
  check_contains(error_of([] { parse_lock(R"({"schema": 2, "inputs": {}})", "x.lock.json"); }),
                 {"x.lock.json: /schema: expected 1, got 2"});
  check_contains(
      error_of([] { parse_lock(R"({"schema": 1, "inputs": {}, "extra": 1})", "x.lock.json"); }),
      {"x.lock.json: /extra: unknown key"});
  check_contains(error_of([] {
                   parse_lock("{\n\"schema\": 1,\n// no comments in lock files\n}", "x.lock.json");
                 }),
                 {"x.lock.json:3:"});
}

TEST_CASE("the lock file lives next to the top recipe as <stem>.lock.json", "[recipe]") {
  Recipe r;
  r.file = "/src/recipes/hello/recipe.json";
  CHECK(lock_path_for(r) == fs::path("/src/recipes/hello/recipe.lock.json"));
  r.file = "/src/recipes/busybox.json";
  CHECK(lock_path_for(r) == fs::path("/src/recipes/busybox.lock.json"));
}

TEST_CASE("apply_lock fills missing pins and resolves meta-packages", "[recipe]") {
  Recipe r = sample_recipe();
  CHECK(unpinned_inputs(r) == std::vector<std::string>{"app", "kernel"});
  apply_lock(r, sample_lock());
  CHECK(unpinned_inputs(r).empty());
  const Input& k = r.inputs.at("kernel");
  CHECK(k.sha256 == k_a);
  CHECK(k.deb.package == "linux-image-6.1.0-41-amd64");
  CHECK(k.deb.version == "6.1.158-1");
  REQUIRE(k.size);
  CHECK(*k.size == 70000000);
  CHECK(r.inputs.at("app").sha256 == k_b);
  // Applying the same lock again changes nothing.
  Recipe again = r;
  apply_lock(again, sample_lock());
  CHECK(again.inputs.at("kernel").deb.package == k.deb.package);
}

TEST_CASE("an input missing from the lock stays unpinned", "[recipe]") {
  Recipe r = sample_recipe();
  LockFile lock = sample_lock();
  lock.entries.erase("app");
  apply_lock(r, lock);
  CHECK(unpinned_inputs(r) == std::vector<std::string>{"app"});
}

TEST_CASE("a recipe pin that disagrees with the lock is an integrity error naming both",
          "[recipe]") {
  Recipe r = sample_recipe();
  r.inputs.at("app").sha256 = std::string(64, 'd');
  const std::string m = error_of([&] { apply_lock(r, sample_lock()); }, ErrorKind::integrity);
  check_contains(m, {"input \"app\"", std::string(64, 'd'), k_b, "recipe.lock.json"});

  Recipe s = sample_recipe();
  s.inputs.at("app").size = 13;
  check_contains(error_of([&] { apply_lock(s, sample_lock()); }, ErrorKind::integrity),
                 {"input \"app\"", "size 13", "size 12"});
}

TEST_CASE("a stale lock entry is an input error asking to re-lock", "[recipe]") {
  Recipe r = sample_recipe();
  r.inputs.at("kernel").deb.suite = "trixie";
  check_contains(error_of([&] { apply_lock(r, sample_lock()); }),
                 {"input \"kernel\"", "suite \"trixie\"", "\"bookworm\"", "tdximg lock"});
  Recipe s = sample_recipe();
  s.inputs.at("kernel").deb.package = "linux-image-6.1.0-41-amd64";
  s.inputs.at("kernel").deb.version = "6.1.150-1";
  check_contains(error_of([&] { apply_lock(s, sample_lock()); }),
                 {"version \"6.1.150-1\"", "\"6.1.158-1\""});
  Recipe t = sample_recipe();
  t.inputs.at("app").kind = InputKind::url;
  check_contains(error_of([&] { apply_lock(t, sample_lock()); }), {"kind \"url\"", "\"path\""});
}
