#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/rootfs/initramfs.hpp>
#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

Node node_of(NodeType type, std::size_t layer, std::uint32_t mode = 0755) {
  Node n;
  n.type = type;
  n.mode = mode;
  n.layer = layer;
  if (type == NodeType::regular) n.content = Content::make(to_bytes("data@" + std::to_string(layer)));
  if (type == NodeType::symlink) n.target = "busybox";
  return n;
}

// A three-layer tree: base (0), modules (1), app (2).
FileTree sample_tree() {
  FileTree t;
  t.make_dirs("/bin", 0755, 0, 0, 0, "t");
  t.put("/bin/busybox", node_of(NodeType::regular, 0), "t");
  t.put("/bin/sh", node_of(NodeType::symlink, 0), "t");
  Node console = node_of(NodeType::chardev, 0, 0600);
  console.rdev_major = 5;
  console.rdev_minor = 1;
  t.put("/dev/console", console, "t");
  // layer 1 adds files below a directory that layer 2 re-modes.
  t.put("/usr/lib/modules/6.1/kernel/a.ko", node_of(NodeType::regular, 1, 0644), "t");
  t.put("/opt/app/lib/x.so", node_of(NodeType::regular, 1, 0644), "t");
  t.make_dirs("/opt/app", 0750, 1000, 1000, 2, "t");
  t.put("/init", node_of(NodeType::regular, 2), "t");
  // A hardlink group spanning layers 0 and 2 must end up whole in segment 2.
  Node h = node_of(NodeType::regular, 0);
  h.link_group = 9;
  t.put("/bin/ls", h, "t");
  h.layer = 2;
  t.put("/bin/dir", h, "t");
  t.canonicalize_link_groups();
  return t;
}

// Replays the kernel's unpacker rules over the concatenated segments: no parent is created
// implicitly, hardlinks are forgotten at each trailer. Returns the final path -> mode map.
std::map<std::string, CpioEntry> replay(const std::vector<std::vector<CpioEntry>>& segments) {
  std::map<std::string, CpioEntry> fs;
  for (const auto& seg : segments) {
    std::map<std::uint32_t, std::string> links; // ino -> first name, this archive only
    for (const auto& e : seg) {
      const auto slash = e.path.rfind('/');
      if (slash != std::string::npos) {
        const auto parent = fs.find(e.path.substr(0, slash));
        INFO(e.path);
        REQUIRE(parent != fs.end());
        REQUIRE((parent->second.mode & k_mode_type_mask) == k_mode_dir);
      }
      if ((e.mode & k_mode_type_mask) == k_mode_regular && e.nlink > 1) links.emplace(e.ino, e.path);
      fs[e.path] = e;
    }
  }
  return fs;
}

} // namespace

TEST_CASE("segments hold each layer's final entries and replay to the whole tree", "[rootfs]") {
  const FileTree t = sample_tree();
  const InitramfsSegments s = segment_tree(t, 3, 1735689600);
  REQUIRE(s.segments.size() == 3);
  CHECK(s.segment_layer == std::vector<std::size_t>{0, 1, 2});

  std::vector<std::vector<std::string>> paths;
  for (const auto& seg : s.segments) {
    paths.emplace_back();
    for (const auto& e : seg) paths.back().push_back(e.path);
  }
  CHECK(paths[0] == std::vector<std::string>{"bin", "bin/busybox", "bin/sh", "dev", "dev/console"});
  // opt/app is a placeholder here (its final metadata comes from layer 2).
  CHECK(paths[1] == std::vector<std::string>{"opt", "opt/app", "opt/app/lib", "opt/app/lib/x.so",
                                             "usr", "usr/lib", "usr/lib/modules",
                                             "usr/lib/modules/6.1", "usr/lib/modules/6.1/kernel",
                                             "usr/lib/modules/6.1/kernel/a.ko"});
  CHECK(paths[2] == std::vector<std::string>{"bin/dir", "bin/ls", "init", "opt/app"});

  const auto fs = replay(s.segments);
  // Every tree node (but "/") is there with its final metadata.
  for (const auto& [path, node] : t.nodes()) {
    if (path == "/") continue;
    INFO(path);
    const auto it = fs.find(path.substr(1));
    REQUIRE(it != fs.end());
    CHECK((it->second.mode & 07777) == node.mode);
    CHECK(it->second.uid == node.uid);
    CHECK(it->second.mtime == 1735689600u);
  }
  CHECK(fs.size() == t.size() - 1);
  CHECK((fs.at("opt/app").mode & 07777) == 0750);
  CHECK(fs.at("opt/app").uid == 1000);
}

TEST_CASE("/dev/console is a character device with its numbers", "[rootfs]") {
  const auto segs = segment_entries(sample_tree(), 3, 0);
  const auto& c = segs[0][4];
  REQUIRE(c.path == "dev/console");
  CHECK(c.mode == (k_mode_char | 0600));
  CHECK(c.rdev_major == 5);
  CHECK(c.rdev_minor == 1);
}

TEST_CASE("a hardlink group stays in one segment, sharing inode and nlink", "[rootfs]") {
  const auto segs = segment_entries(sample_tree(), 3, 0);
  const auto& seg2 = segs[2];
  REQUIRE(seg2[0].path == "bin/dir");
  REQUIRE(seg2[1].path == "bin/ls");
  CHECK(seg2[0].ino == seg2[1].ino);
  CHECK(seg2[0].nlink == 2);
  CHECK(seg2[1].nlink == 2);
  CHECK(seg2[2].ino != seg2[0].ino);
  for (std::size_t i = 0; i < 2; ++i)
    for (const auto& e : segs[i]) CHECK((e.path != "bin/ls" && e.path != "bin/dir"));
}

TEST_CASE("inode numbers restart in every segment and directories have nlink 2", "[rootfs]") {
  const auto segs = segment_entries(sample_tree(), 3, 0);
  for (const auto& seg : segs) {
    CHECK(seg.front().ino == 1);
    for (const auto& e : seg)
      if ((e.mode & k_mode_type_mask) == k_mode_dir) CHECK(e.nlink == 2);
  }
}

TEST_CASE("empty layers produce no segment but keep a layer -> segment mapping", "[rootfs]") {
  FileTree t;
  t.put("/a", node_of(NodeType::regular, 0), "t");
  t.put("/b", node_of(NodeType::regular, 2), "t");
  const auto s = segment_tree(t, 4, 0);
  REQUIRE(s.segments.size() == 2);
  CHECK(s.layer_segment[0] == std::optional<std::size_t>(0));
  CHECK_FALSE(s.layer_segment[1].has_value());
  CHECK(s.layer_segment[2] == std::optional<std::size_t>(1));
  CHECK_FALSE(s.layer_segment[3].has_value());
  CHECK(s.segment_layer == std::vector<std::size_t>{0, 2});
}

TEST_CASE("an earlier segment does not change when a later layer changes", "[rootfs]") {
  FileTree a = sample_tree();
  FileTree b = sample_tree();
  b.put("/init", node_of(NodeType::regular, 2, 0700), "t");
  b.make_dirs("/opt/app", 0700, 0, 0, 2, "t");
  const auto sa = segment_entries(a, 3, 7);
  const auto sb = segment_entries(b, 3, 7);
  CHECK(write_cpio_newc(sa[0]) == write_cpio_newc(sb[0]));
  CHECK(write_cpio_newc(sa[1]) == write_cpio_newc(sb[1]));
  CHECK(write_cpio_newc(sa[2]) != write_cpio_newc(sb[2]));
}

TEST_CASE("segments are accepted by the cpio writer and read back in order", "[rootfs]") {
  const auto segs = segment_entries(sample_tree(), 3, 42);
  Bytes stream;
  for (const auto& seg : segs) append_initramfs_segment(stream, write_cpio_newc(seg));
  const CpioStream back = read_cpio_segments(stream);
  REQUIRE(back.segments.size() == segs.size());
  std::size_t total = 0;
  for (const auto& seg : segs) total += seg.size();
  CHECK(back.members.size() == total);
}

TEST_CASE("a node from a layer beyond layer_count is rejected", "[rootfs]") {
  FileTree t;
  t.put("/a", node_of(NodeType::regular, 5), "t");
  CHECK_THROWS_AS(segment_tree(t, 3, 0), Error);
}
