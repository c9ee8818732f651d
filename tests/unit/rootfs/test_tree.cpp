#include <catch2/catch.hpp>

#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

[[maybe_unused]] Node dir_node(std::size_t layer = 0, std::uint32_t mode = 0755) {
  Node n;
  n.type = NodeType::directory;
  n.mode = mode;
  n.layer = layer;
  return n;
}
Node file_node(std::string_view text, std::size_t layer = 0) {
  Node n;
  n.type = NodeType::regular;
  n.mode = 0644;
  n.content = Content::make(to_bytes(text));
  n.layer = layer;
  return n;
}
Node link_node(std::string target, std::size_t layer = 0) {
  Node n;
  n.type = NodeType::symlink;
  n.mode = 0777;
  n.target = std::move(target);
  n.layer = layer;
  return n;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("a new tree holds only the root directory", "[rootfs]") {
  FileTree t;
  REQUIRE(t.size() == 1);
  const Node* root = t.find("/");
  REQUIRE(root);
  CHECK(root->type == NodeType::directory);
  CHECK(root->mode == 0755);
}

TEST_CASE("put creates missing parents as 0755 root:root directories of the same layer",
          "[rootfs]") {
  FileTree t;
  t.put("/a/b/c", file_node("x", 3), "test");
  const Node* a = t.find("/a");
  REQUIRE(a);
  CHECK(a->type == NodeType::directory);
  CHECK(a->mode == 0755);
  CHECK(a->uid == 0);
  CHECK(a->layer == 3);
  REQUIRE(t.find("/a/b"));
  REQUIRE(t.find("/a/b/c"));
  CHECK(t.find("/a/b/c")->content.digest == sha256(std::string_view("x")));
}

TEST_CASE("resolution follows a merged-/usr lib -> usr/lib symlink inside the tree", "[rootfs]") {
  FileTree t;
  t.make_dirs("/usr/lib", 0755, 0, 0, 0, "test");
  t.put("/lib", link_node("usr/lib"), "test");
  const Resolved r = t.resolve("/lib/modules/6.1/x.ko", FollowLast::yes, "test");
  CHECK(r.path == "/usr/lib/modules/6.1/x.ko");
  CHECK_FALSE(r.exists);
  REQUIRE(r.chain.size() == 1);
  CHECK(r.chain[0] == "/lib -> usr/lib");
  // Writing through the symlinked directory lands at the resolved location.
  CHECK(t.put("/lib/modules/6.1/x.ko", file_node("ko", 1), "test") == "/usr/lib/modules/6.1/x.ko");
  CHECK(t.find("/usr/lib/modules/6.1/x.ko"));
  CHECK(t.find("/lib")->type == NodeType::symlink);
}

TEST_CASE("absolute symlink targets are data, interpreted from the tree root", "[rootfs]") {
  FileTree t;
  t.make_dirs("/usr/bin", 0755, 0, 0, 0, "test");
  t.put("/bin", link_node("/usr/bin"), "test");
  CHECK(t.find("/bin")->target == "/usr/bin");
  CHECK(t.put("/bin/sh", file_node("sh"), "test") == "/usr/bin/sh");
}

TEST_CASE("a symlink to / lets a later layer write only inside the tree", "[rootfs]") {
  FileTree t;
  t.put("/x", link_node("/", 0), "layer A");
  CHECK(t.put("/x/evil", file_node("e", 1), "layer B") == "/evil");
  CHECK(t.find("/evil"));
}

TEST_CASE("a symlink climbing above / is rejected when a later layer writes through it",
          "[rootfs]") {
  FileTree t;
  t.put("/x", link_node("../../..", 0), "layer A");
  const std::string msg = error_of([&] { t.put("/x/evil", file_node("e", 1), "layer B"); });
  CHECK_THAT(msg, Catch::Contains("layer B"));
  CHECK_THAT(msg, Catch::Contains("/x/evil"));
  CHECK_THAT(msg, Catch::Contains("/x -> ../../.."));
  CHECK_THAT(msg, Catch::Contains("outside"));
  CHECK_FALSE(t.find("/evil"));
  // The same from a subdirectory, with the CVE-2025-45582 shape.
  FileTree u;
  u.put("/home/user/x", link_node("../../../root/.ssh", 0), "layer A");
  CHECK_THROWS_AS(u.put("/home/user/x/authorized_keys", file_node("k", 1), "layer B"), Error);
  CHECK(u.size() == 4); // "/", /home, /home/user, the link: nothing else appeared
}

TEST_CASE("relative .. inside the tree resolves like a filesystem", "[rootfs]") {
  FileTree t;
  t.make_dirs("/a/b", 0755, 0, 0, 0, "test");
  t.make_dirs("/c", 0755, 0, 0, 0, "test");
  t.put("/a/b/up", link_node("../../c"), "test");
  CHECK(t.resolve("/a/b/up/f", FollowLast::yes, "test").path == "/c/f");
}

TEST_CASE("symlink loops and over-long chains stop after 40 hops", "[rootfs]") {
  FileTree t;
  t.put("/a", link_node("b"), "test");
  t.put("/b", link_node("a"), "test");
  CHECK_THAT(error_of([&] { t.resolve("/a/x", FollowLast::yes, "loop"); }),
             Catch::Contains("more than 40 symlink hops"));

  FileTree c;
  c.make_dirs("/d", 0755, 0, 0, 0, "test");
  for (int i = 1; i <= 41; ++i)
    c.put("/l" + std::to_string(i), link_node(i == 41 ? "d" : "l" + std::to_string(i + 1)),
          "test");
  CHECK(c.resolve("/l2/f", FollowLast::yes, "test").path == "/d/f");  // 40 hops
  CHECK_THROWS_AS(c.resolve("/l1/f", FollowLast::yes, "test"), Error); // 41 hops
}

TEST_CASE("the last component of a created path replaces a symlink instead of following it",
          "[rootfs]") {
  FileTree t;
  t.put("/target", file_node("keep"), "test");
  t.put("/link", link_node("target"), "test");
  t.put("/link", file_node("new"), "test");
  CHECK(t.find("/link")->type == NodeType::regular);
  CHECK(t.find("/target")->content.digest == sha256(std::string_view("keep")));
}

TEST_CASE("a file under a non-directory is rejected", "[rootfs]") {
  FileTree t;
  t.put("/f", file_node("x", 2), "test");
  const std::string msg = error_of([&] { t.put("/f/x", file_node("y", 3), "op"); });
  CHECK_THAT(msg, Catch::Contains("not a directory"));
  CHECK_THAT(msg, Catch::Contains("layer 2"));
}

TEST_CASE("a file replacing a directory and a directory replacing a file name both layers",
          "[rootfs]") {
  FileTree t;
  t.make_dirs("/d", 0755, 0, 0, 1, "test");
  t.put("/f", file_node("x", 1), "test");
  std::string msg = error_of([&] { t.put("/d", file_node("y", 4), "op"); });
  CHECK_THAT(msg, Catch::Contains("regular file (layer 4) cannot replace a directory (layer 1)"));
  msg = error_of([&] { t.make_dirs("/f", 0755, 0, 0, 5, "op"); });
  CHECK_THAT(msg, Catch::Contains("directory (layer 5) cannot replace a regular file (layer 1)"));
  // A symlink replacing a directory with contents (libarchive#745/#1566 shapes) is refused too.
  t.put("/d/child", file_node("c", 1), "test");
  CHECK_THROWS_AS(t.put("/d", link_node("/tmp"), "op"), Error);
  CHECK(t.find("/d/child"));
}

TEST_CASE("a directory over an existing directory updates metadata and keeps children",
          "[rootfs]") {
  FileTree t;
  t.put("/d/x", file_node("x", 0), "test");
  t.make_dirs("/d", 0700, 5, 6, 2, "test");
  const Node* d = t.find("/d");
  CHECK(d->mode == 0700);
  CHECK(d->uid == 5);
  CHECK(d->gid == 6);
  CHECK(d->layer == 2);
  CHECK(t.find("/d/x"));
}

TEST_CASE("a directory over a symlink to a directory keeps the symlink", "[rootfs]") {
  FileTree t;
  t.make_dirs("/usr/lib", 0755, 0, 0, 0, "test");
  t.put("/lib", link_node("usr/lib"), "test");
  CHECK(t.make_dirs("/lib", 0755, 0, 0, 1, "test") == "/usr/lib");
  CHECK(t.find("/lib")->type == NodeType::symlink);
  CHECK(t.find("/usr/lib")->layer == 1);
  t.put("/dangling", link_node("nowhere"), "test");
  CHECK_THROWS_AS(t.make_dirs("/dangling", 0755, 0, 0, 1, "test"), Error);
}

TEST_CASE("remove deletes a directory recursively and nothing else", "[rootfs]") {
  FileTree t;
  t.put("/a/b/c", file_node("x"), "test");
  t.put("/a-b", file_node("y"), "test");
  t.put("/ab", file_node("z"), "test");
  CHECK(t.remove("/a", "test") == 3);
  CHECK_FALSE(t.find("/a/b"));
  CHECK(t.find("/a-b"));
  CHECK(t.find("/ab"));
  CHECK(t.remove("/missing", "test") == 0);
  CHECK_THROWS_AS(t.remove("/", "test"), Error);
}

TEST_CASE("nodes are sorted by path bytes with parents first", "[rootfs]") {
  FileTree t;
  t.put("/a/b", file_node("1"), "test");
  t.put("/a-b", file_node("2"), "test");
  t.put("/a.c", file_node("3"), "test");
  t.put("/B", file_node("4"), "test");
  std::vector<std::string> order;
  for (const auto& [p, n] : t.nodes()) order.push_back(p);
  CHECK(order == std::vector<std::string>{"/", "/B", "/a", "/a-b", "/a.c", "/a/b"});
}

TEST_CASE("link groups are renumbered in path order and singletons dropped", "[rootfs]") {
  FileTree t;
  Node a = file_node("x");
  a.link_group = 7;
  Node b = a;
  Node c = file_node("y");
  c.link_group = 3;
  t.put("/z1", a, "test");
  t.put("/a1", b, "test");
  t.put("/m", c, "test");
  t.canonicalize_link_groups();
  CHECK(t.find("/a1")->link_group == 1);
  CHECK(t.find("/z1")->link_group == 1);
  CHECK(t.find("/m")->link_group == 0);
}

TEST_CASE("image paths are normalized and unsafe ones rejected", "[rootfs]") {
  CHECK(normalize_image_path("//a/./b/", "t") == "/a/b");
  CHECK(normalize_image_path("/", "t") == "/");
  CHECK_THROWS_AS(normalize_image_path("a/b", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("/a/../b", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path(std::string_view("/a\0b", 4), "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("/" + std::string(256, 'x'), "t"), Error);
  CHECK(parent_path("/a/b") == "/a");
  CHECK(parent_path("/a") == "/");
  CHECK(join_path("/", "a/b") == "/a/b");
  CHECK(join_path("/x", "a") == "/x/a");
}

TEST_CASE("glob: * stays within a component, ** crosses directories", "[rootfs]") {
  CHECK(glob_match("bin/*", "bin/busybox"));
  CHECK_FALSE(glob_match("bin/*", "bin/x/y"));
  CHECK(glob_match("usr/**", "usr/lib/x/y.so"));
  CHECK(glob_match("usr/**/*.so", "usr/lib/x/y.so"));
  CHECK(glob_match("usr/**/*.so", "usr/y.so"));
  CHECK_FALSE(glob_match("usr/**/*.so", "usr/y.so.1"));
  CHECK(glob_match("*.ko", "x.ko"));
  CHECK_FALSE(glob_match("*.ko", "a/x.ko"));
  CHECK(glob_match("**/*.ko", "a/b/x.ko"));
  CHECK(glob_match("lib?.so", "libc.so"));
  CHECK_FALSE(glob_match("lib?.so", "lib/.so"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK_FALSE(glob_match("[!a-c]x", "bx"));
  CHECK(glob_match("\\*x", "*x"));
  CHECK_FALSE(glob_match("\\*x", "ax"));
  CHECK(glob_match("exact", "exact"));
  CHECK_FALSE(glob_match("exact", "exactly"));
  CHECK(has_glob("a/*"));
  CHECK_FALSE(has_glob("a/\\*"));
  CHECK_FALSE(has_glob("/usr/lib"));
}
