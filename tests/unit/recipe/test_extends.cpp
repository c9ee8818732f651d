#include "recipe_test_util.hpp"

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

TEST_CASE("extends merges a child over its base", "[recipe]") {
  const fs::path base_dir = fs::absolute(data_dir() / "chain" / "base").lexically_normal();
  const fs::path child_dir = fs::absolute(data_dir() / "chain" / "child").lexically_normal();
  const Recipe r = load_recipe(data_dir() / "chain" / "child");
  REQUIRE(r.chain.size() == 2);
  CHECK(r.chain[0] == base_dir / "recipe.json");
  CHECK(r.chain[1] == child_dir / "recipe.json");
  CHECK(r.file == child_dir / "recipe.json");

  // Scalars: the child wins; unset ones are inherited.
  CHECK(r.name == "child");
  CHECK(r.cmdline == "console=ttyS0 panic=-1");
  REQUIRE(r.source_date_epoch);
  CHECK(*r.source_date_epoch == 1735689600);
  CHECK(r.initramfs.compression == Compression::gzip);
  CHECK(r.initramfs.level == 6);
  REQUIRE(r.uki.sbat);
  CHECK(r.stub->from == "stub");

  // Inputs merge by name, child wins; relative paths resolve against the declaring file.
  REQUIRE(r.inputs.size() == 4);
  CHECK(r.inputs.at("busybox").deb.suite == "trixie");
  CHECK(r.inputs.at("motd").path == base_dir / "files" / "motd");
  CHECK(r.inputs.at("app").path == child_dir / "files" / "app");

  // Layers append; a child layer named like a base layer replaces it in place.
  REQUIRE(r.layers.size() == 3);
  CHECK(r.layers[0].name == "base");
  CHECK(r.layers[1].name == "etc");
  CHECK(r.layers[2].name == "app");
  REQUIRE(r.layers[1].ops.size() == 1);
  CHECK(std::get<FileOp>(r.layers[1].ops[0]).text == std::optional<std::string>("child\n"));

  // os_release merges by key.
  CHECK(r.os_release == std::map<std::string, std::string>{
                            {"ID", "child"}, {"NAME", "Child"}, {"VERSION_ID", "1"}});

  // measure merges by key: platforms from the child, vmm from the base.
  CHECK(r.measure.platforms == std::vector<std::string>{"qemu", "tdx"});
  CHECK(r.measure.vmm == "qemu-8-two-pass");
}

TEST_CASE("an extends cycle is an error naming the chain", "[recipe]") {
  const fs::path a = data_dir() / "cycle" / "a.json";
  const std::string m = error_of([&] { load_recipe(a); });
  const std::string d = (data_dir() / "cycle").string();
  check_contains(m, {"extends cycle: " + d + "/a.json -> " + d + "/b.json -> " + d + "/c.json -> " +
                     d + "/a.json"});
}

TEST_CASE("a recipe extending itself is a cycle", "[recipe]") {
  TempDir dir;
  const auto f =
      put(dir.path(), "self.json", R"({"schema": 1, "name": "s", "extends": "./self.json"})");
  check_contains(error_of([&] { load_recipe(f); }), {"extends cycle", "self.json -> "});
}

TEST_CASE("a missing base recipe is an error naming the extends value", "[recipe]") {
  TempDir dir;
  const auto f =
      put(dir.path(), "c/recipe.json", R"({"schema": 1, "name": "c", "extends": "../nope"})");
  check_contains(error_of([&] { load_recipe(f); }),
                 {"c/recipe.json: /extends: base recipe \"../nope\" not found"});
}

TEST_CASE("errors in a base recipe name the base file", "[recipe]") {
  TempDir dir;
  put(dir.path(), "base/recipe.json", R"({"schema": 1, "name": "b", "cmdline": 1})");
  const auto f = put(dir.path(), "child/recipe.json", R"({"schema": 1, "extends": "../base"})");
  check_contains(error_of([&] { load_recipe(f); }),
                 {"base/recipe.json: /cmdline: expected string"});
}

TEST_CASE("an undeclared input in a base layer is reported at the base's layer", "[recipe]") {
  TempDir dir;
  put(dir.path(), "base/recipe.json", R"({"schema": 1, "name": "b",
      "layers": [{"name": "x", "ops": []}, {"name": "y", "ops": [{"extract": "nope"}]}]})");
  const auto f =
      put(dir.path(), "child/recipe.json", R"({"schema": 1, "name": "c", "extends": "../base",
      "layers": [{"name": "x", "ops": [{"dir": "/a"}]}]})");
  check_contains(
      error_of([&] { load_recipe(f); }),
      {"base/recipe.json: /layers/1/ops/0/extract: expected a declared input, got \"nope\""});
}

TEST_CASE("a base may use inputs that its child declares", "[recipe]") {
  TempDir dir;
  put(dir.path(), "base/recipe.json", R"({"schema": 1, "name": "b",
      "layers": [{"name": "x", "ops": [{"extract": "busybox"}]}]})");
  const auto f =
      put(dir.path(), "child/recipe.json", R"({"schema": 1, "name": "c", "extends": "../base",
      "inputs": {"busybox": {"deb": "busybox-static", "suite": "trixie"}}})");
  CHECK(load_recipe(f).layers.size() == 1);
}

TEST_CASE("setting one form of os-release in a child drops the inherited other", "[recipe]") {
  TempDir dir;
  put(dir.path(), "base/recipe.json", R"({"schema": 1, "name": "b", "os_release": {"ID": "b"},
      "inputs": {"f": {"path": "os-release"}}})");
  const auto f = put(dir.path(), "child/recipe.json", R"({"schema": 1, "extends": "../base",
      "os_release_file": "f"})");
  const Recipe r = load_recipe(f);
  CHECK(r.name == "b");
  CHECK(r.os_release.empty());
  REQUIRE(r.os_release_file);
  CHECK(r.os_release_file->from == "f");
}
