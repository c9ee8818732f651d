// The layer cache (pipeline::apply_layers): an unchanged layer is loaded from the store instead
// of rebuilt, a change rebuilds exactly the changed layer and those above it, and the tree is
// the same whatever the cache held.
#include <catch2/catch.hpp>

#include <filesystem>

#include <fmt/format.h>

#include <tdximg/pipeline/steps.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/rootfs/initramfs.hpp>
#include <tdximg/rootfs/snapshot.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/file.hpp>

#include "rootfs/test_archive_fixtures.hpp"

using namespace tdximg;
namespace fs = std::filesystem;

namespace {

std::string recipe_text(std::string_view top_text, std::string_view mid_glob) {
  const std::string include = mid_glob.empty() ? "" : fmt::format(R"(, "include": ["{}"])", mid_glob);
  return fmt::format(R"({{"schema": 1, "name": "cache",
    "inputs": {{"tarball": {{"url": "https://example.invalid/t.tar", "sha256": "{}"}}}},
    "layers": [
      {{"name": "base", "ops": [{{"dir": ["/etc", "/var/lib"]}},
                                {{"symlink": "/lib", "target": "usr/lib"}},
                                {{"file": "/etc/a", "text": "A\n"}}]}},
      {{"name": "mid", "ops": [{{"extract": "tarball", "to": "/usr"{}}}]}},
      {{"name": "top", "ops": [{{"file": "/etc/motd", "text": "{}"}}]}}
    ]}})",
                     std::string(64, '0'), include, top_text);
}

struct Fixture {
  TempDir dir;
  store::Store store{dir.path() / "store"};
  std::map<std::string, store::ResolvedInput> inputs;

  explicit Fixture(std::string tar_text = "payload") { set_tar(std::move(tar_text)); }
  void set_tar(std::string text) {
    using rootfs_test::TarItem;
    store::ResolvedInput in;
    in.name = "tarball";
    in.data = rootfs_test::make_tar({TarItem("lib/x.so", 'f', text, 0755),
                                     TarItem("lib/y", 'h', "", 0755, "lib/x.so"),
                                     TarItem("share/doc", 'd', "", 0755)});
    in.sha256 = sha256_hex(in.data);
    in.size = in.data.size();
    inputs["tarball"] = std::move(in);
  }
  pipeline::LayeredTree run(std::string_view top, std::string_view glob = "") {
    const recipe::Recipe r = recipe::parse_recipe_text(recipe_text(top, glob), dir.path() / "r.json");
    return pipeline::apply_layers(r, inputs, store, {});
  }
};

std::string reused(const pipeline::LayeredTree& t) {
  std::string s;
  for (const auto& l : t.layers) s += l.reused ? 'y' : 'n';
  return s;
}

// Independent of the snapshot format: the tree as the initramfs writer sees it (per-layer
// segments, so the layer of each node counts too).
Bytes as_cpio(const rootfs::FileTree& t) {
  Bytes out;
  for (const auto& seg : rootfs::segment_entries(t, 3, 0)) {
    const Bytes b = rootfs::write_cpio_newc(seg);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

} // namespace

TEST_CASE("an unchanged layer comes from the cache and the tree is the same", "[pipeline][layers]") {
  Fixture f;
  const auto cold = f.run("hi\\n");
  CHECK(reused(cold) == "nnn");
  const auto warm = f.run("hi\\n");
  CHECK(reused(warm) == "yyy");
  CHECK(as_cpio(warm.tree) == as_cpio(cold.tree));
  for (std::size_t i = 0; i < 3; ++i) CHECK(warm.layers[i].digest == cold.layers[i].digest);
  // A store without the cache gives the same tree: what was cached never matters.
  Fixture fresh;
  CHECK(as_cpio(fresh.run("hi\\n").tree) == as_cpio(cold.tree));
}

TEST_CASE("changing the top layer rebuilds only the top layer", "[pipeline][layers]") {
  Fixture f;
  const auto a = f.run("hi\\n");
  const auto b = f.run("changed\\n");
  CHECK(reused(b) == "yyn");
  CHECK(b.layers[1].digest == a.layers[1].digest);
  CHECK(b.layers[2].digest != a.layers[2].digest);
  Fixture fresh;
  CHECK(as_cpio(b.tree) == as_cpio(fresh.run("changed\\n").tree));
}

TEST_CASE("changing a layer's operations or input rebuilds it and every layer above", "[pipeline][layers]") {
  Fixture f;
  const auto a = f.run("hi\\n");
  SECTION("operations") {
    const auto b = f.run("hi\\n", "lib/*");
    CHECK(reused(b) == "ynn");
    CHECK(b.layers[0].digest == a.layers[0].digest);
    CHECK(b.layers[1].digest != a.layers[1].digest);
    CHECK(b.layers[2].digest != a.layers[2].digest); // the top layer's parent changed
    CHECK(b.tree.find("/usr/share/doc") == nullptr);
  }
  SECTION("input bytes") {
    f.set_tar("other payload");
    const auto b = f.run("hi\\n");
    CHECK(reused(b) == "ynn");
    const rootfs::Node* x = b.tree.find("/usr/lib/x.so");
    REQUIRE(x);
    CHECK(std::string(x->content.data->begin(), x->content.data->end()) == "other payload");
  }
}

TEST_CASE("a damaged layer cache entry is rebuilt, not trusted", "[pipeline][layers]") {
  Fixture f;
  const auto a = f.run("hi\\n");
  // Replace every cached tree with a well-formed entry for ANOTHER tree: the store's integrity
  // footer is then valid, so only the decoder's checks stand between it and a wrong image.
  std::size_t damaged = 0;
  for (const auto& e : fs::recursive_directory_iterator(f.dir.path() / "store" / "keyed" / "layers")) {
    if (!e.is_regular_file()) continue;
    Bytes b = read_file(e.path());
    // Cut the snapshot in the middle, keep the footer format (data || sha256 || magic).
    const std::size_t data_len = b.size() - 32 - 8;
    Bytes data(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(data_len / 2));
    const Sha256 d = sha256(data);
    Bytes out = data;
    out.insert(out.end(), d.begin(), d.end());
    out.insert(out.end(), b.end() - 8, b.end());
    write_file_atomic(e.path(), out);
    ++damaged;
  }
  REQUIRE(damaged == 3);
  const auto b = f.run("hi\\n");
  CHECK(reused(b) == "nnn");
  CHECK(as_cpio(b.tree) == as_cpio(a.tree));
}

TEST_CASE("layer digests do not depend on where the recipe lives", "[pipeline][layers]") {
  Fixture f, g;
  const auto a = f.run("hi\\n");
  const auto b = g.run("hi\\n");
  for (std::size_t i = 0; i < 3; ++i) CHECK(a.layers[i].digest == b.layers[i].digest);
}
