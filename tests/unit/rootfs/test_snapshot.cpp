#include <catch2/catch.hpp>

#include <tdximg/rootfs/snapshot.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

Node node(NodeType type, std::uint32_t mode, std::size_t layer) {
  Node n;
  n.type = type;
  n.mode = mode;
  n.layer = layer;
  return n;
}

// One node of every type, hardlinks, shared content, odd metadata.
FileTree sample_tree() {
  FileTree t;
  t.make_dirs("/usr/bin", 0755, 0, 0, 0, "test");
  t.put("/bin", [] { Node n = node(NodeType::symlink, 0777, 0); n.target = "usr/bin"; return n; }(), "test");
  Node f = node(NodeType::regular, 04755, 1);
  f.content = Content::make(to_bytes("#!/bin/sh\necho hi\n"));
  f.uid = 1000;
  f.gid = 2000;
  t.put("/usr/bin/a", f, "test");
  f.link_group = t.new_link_group();
  t.put("/usr/bin/hl1", f, "test");
  t.put("/usr/bin/hl2", f, "test");
  Node same = node(NodeType::regular, 0644, 1);
  same.content = f.content; // same bytes, not a hardlink
  t.put("/etc/copy", same, "test");
  Node empty = node(NodeType::regular, 0600, 2);
  empty.content = Content::make({});
  t.put("/etc/empty", empty, "test");
  Node c = node(NodeType::chardev, 0600, 2);
  c.rdev_major = 5;
  c.rdev_minor = 1;
  t.put("/dev/console", c, "test");
  Node b = node(NodeType::blockdev, 0660, 2);
  b.rdev_major = 8;
  b.rdev_minor = 0;
  t.put("/dev/sda", b, "test");
  t.put("/run/fifo", node(NodeType::fifo, 0644, 2), "test");
  t.canonicalize_link_groups();
  return t;
}

// Field-by-field comparison (not through the serializer under test).
void require_same(const FileTree& a, const FileTree& b) {
  REQUIRE(a.size() == b.size());
  auto ib = b.nodes().begin();
  for (const auto& [path, na] : a.nodes()) {
    const auto& [pb, nb] = *ib++;
    INFO(path);
    REQUIRE(path == pb);
    CHECK(na.type == nb.type);
    CHECK(na.mode == nb.mode);
    CHECK(na.uid == nb.uid);
    CHECK(na.gid == nb.gid);
    CHECK(na.target == nb.target);
    CHECK(na.rdev_major == nb.rdev_major);
    CHECK(na.rdev_minor == nb.rdev_minor);
    CHECK(na.link_group == nb.link_group);
    CHECK(na.layer == nb.layer);
    CHECK(static_cast<bool>(na.content.data) == static_cast<bool>(nb.content.data));
    if (na.content.data && nb.content.data) {
      CHECK(*na.content.data == *nb.content.data);
      CHECK(na.content.digest == nb.content.digest);
    }
  }
}

std::string error_of(ByteSpan data) {
  try {
    deserialize_tree(data, "snap");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("a tree snapshot restores every node type, hardlink and metadata", "[rootfs][snapshot]") {
  const FileTree t = sample_tree();
  const Bytes snap = serialize_tree(t);
  const FileTree back = deserialize_tree(snap, "snap");
  require_same(t, back);
  // Same input, same bytes; and a restored tree serializes to the same bytes again.
  CHECK(serialize_tree(sample_tree()) == snap);
  CHECK(serialize_tree(back) == snap);
}

TEST_CASE("identical contents are stored once in a snapshot", "[rootfs][snapshot]") {
  FileTree t;
  const Bytes big(100000, 0x5a);
  for (int i = 0; i < 5; ++i) {
    Node f = node(NodeType::regular, 0644, 0);
    f.content = Content::make(big);
    t.put("/f" + std::to_string(i), f, "test");
  }
  CHECK(serialize_tree(t).size() < 2 * big.size());
}

TEST_CASE("a restored tree hands out hardlink groups that do not collide", "[rootfs][snapshot]") {
  FileTree back = deserialize_tree(serialize_tree(sample_tree()), "snap");
  std::uint64_t max_group = 0;
  for (const auto& [p, n] : back.nodes()) max_group = std::max(max_group, n.link_group);
  REQUIRE(max_group > 0);
  CHECK(back.new_link_group() > max_group);
}

TEST_CASE("a damaged snapshot is an error naming the field, never a wrong tree", "[rootfs][snapshot]") {
  const Bytes snap = serialize_tree(sample_tree());
  SECTION("bad magic") {
    Bytes b = snap;
    b[0] ^= 1;
    CHECK_THAT(error_of(b), Catch::Contains("not a tdximg tree snapshot"));
  }
  SECTION("another format version") {
    Bytes b = snap;
    b[8] = 99;
    CHECK_THAT(error_of(b), Catch::Contains("snapshot format 99"));
  }
  SECTION("content that does not match its digest") {
    Bytes b = snap;
    // First content: magic(8) version(4) count(8) digest(32) size(8), then its bytes.
    b[8 + 4 + 8 + 32 + 8] ^= 0xff;
    CHECK_THAT(error_of(b), Catch::Contains("content 0") && Catch::Contains("recorded"));
  }
  SECTION("trailing bytes") {
    Bytes b = snap;
    b.push_back(0);
    CHECK_THAT(error_of(b), Catch::Contains("unexpected bytes after the last node"));
  }
  SECTION("a huge count") {
    Bytes b = snap;
    for (int i = 0; i < 8; ++i) b[12 + i] = 0xff;
    CHECK_THAT(error_of(b), Catch::Contains("content count"));
  }
}

TEST_CASE("every truncation of a snapshot is an error", "[rootfs][snapshot]") {
  const Bytes snap = serialize_tree(sample_tree());
  for (std::size_t n = 0; n < snap.size(); ++n) {
    INFO(n);
    CHECK_FALSE(error_of(ByteSpan(snap.data(), n)).empty());
  }
}

TEST_CASE("every single-byte change of a snapshot's metadata either errors or changes the tree",
          "[rootfs][snapshot]") {
  // A flipped byte must never be silently absorbed: the restored tree then differs from the
  // original somewhere (the cache key guards the rest; this guards the decoder).
  const FileTree t = sample_tree();
  const Bytes snap = serialize_tree(t);
  for (std::size_t i = 0; i < snap.size(); ++i) {
    Bytes b = snap;
    b[i] ^= 0x01;
    try {
      const FileTree back = deserialize_tree(b, "snap");
      INFO("offset " << i);
      CHECK(serialize_tree(back) != snap);
    } catch (const Error&) {
    }
  }
}

TEST_CASE("from_nodes refuses trees that put() could not have built", "[rootfs][snapshot]") {
  auto base = [] { return sample_tree().nodes(); };
  auto err = [](std::map<std::string, Node> nodes) {
    try {
      FileTree::from_nodes(std::move(nodes), "snap");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SECTION("no root") {
    auto n = base();
    n.erase("/");
    CHECK_THAT(err(n), Catch::Contains("no root directory"));
  }
  SECTION("orphan") {
    auto n = base();
    n.erase("/usr");
    CHECK_THAT(err(n), Catch::Contains("/usr/bin: parent is missing"));
  }
  SECTION("parent is a file") {
    auto n = base();
    n.emplace("/etc/copy/x", n.at("/etc/empty"));
    CHECK_THAT(err(n), Catch::Contains("/etc/copy/x: parent is missing or not a directory"));
  }
  SECTION("not normalized") {
    auto n = base();
    n.emplace("/usr//x", n.at("/etc/empty"));
    CHECK_FALSE(err(n).empty());
  }
  SECTION("a file without content") {
    auto n = base();
    n.at("/etc/empty").content = {};
    CHECK_THAT(err(n), Catch::Contains("without content"));
  }
  SECTION("hardlink names that disagree") {
    auto n = base();
    n.at("/usr/bin/hl2").mode = 0644;
    CHECK_THAT(err(n), Catch::Contains("hardlink group"));
  }
  SECTION("a hardlinked directory") {
    auto n = base();
    n.at("/usr").link_group = 7;
    CHECK_THAT(err(n), Catch::Contains("hardlinked directory"));
  }
}
