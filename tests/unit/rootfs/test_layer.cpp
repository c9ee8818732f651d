#include <catch2/catch.hpp>

#include <map>

#include <tdximg/rootfs/layer.hpp>
#include <tdximg/util/error.hpp>

#include "rootfs/test_archive_fixtures.hpp"

using namespace tdximg;
using namespace tdximg::rootfs;
using namespace rootfs_test;
namespace r = tdximg::recipe;

namespace {

struct Inputs {
  std::map<std::string, Bytes> blobs;
  InputProvider provider() const {
    return [this](const std::string& name) -> const Bytes& {
      auto it = blobs.find(name);
      if (it == blobs.end()) fail(ErrorKind::internal, "no input {}", name);
      return it->second;
    };
  }
};

r::Layer layer_of(std::vector<r::Op> ops, std::string name = "test") {
  r::Layer l;
  l.name = std::move(name);
  l.ops = std::move(ops);
  return l;
}

r::ExtractOp extract(std::string input) {
  r::ExtractOp op;
  op.input = std::move(input);
  return op;
}

LayerReport apply(FileTree& t, std::vector<r::Op> ops, const Inputs& in, std::size_t layer = 0) {
  return apply_layer(t, layer_of(std::move(ops)), layer, in.provider());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const Node& at(const FileTree& t, const std::string& p) {
  const Node* n = t.find(p);
  INFO(p);
  REQUIRE(n);
  return *n;
}

} // namespace

TEST_CASE("extract of a dpkg-deb package places data.tar entries and reports its scripts",
          "[rootfs]") {
  Inputs in{{{"hello", fixture("fixture-xz.deb")}}};
  FileTree t;
  const LayerReport rep = apply(t, {extract("hello")}, in, 1);
  REQUIRE(rep.skipped_scripts.size() == 1);
  CHECK(rep.skipped_scripts[0].input == "hello");
  CHECK(rep.skipped_scripts[0].scripts == std::vector<std::string>{"postinst", "prerm"});
  const Node& hello = at(t, "/usr/bin/hello");
  CHECK(hello.type == NodeType::regular);
  CHECK(hello.mode == 0755);
  CHECK(hello.layer == 1);
  CHECK(text(*hello.content.data) == "hello from a deb\n");
  const Node& again = at(t, "/usr/bin/hello-again");
  CHECK(again.link_group != 0);
  CHECK(again.link_group == hello.link_group);
  CHECK(again.content.digest == hello.content.digest);
  CHECK(at(t, "/usr/bin/hi").type == NodeType::symlink);
  CHECK(at(t, "/usr/bin/hi").target == "hello");
  CHECK(at(t, "/lib/modules/x/data").mode == 0600);
}

TEST_CASE("extract applies strip_prefix, include and exclude globs, and to", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"./usr/", 'd'},
                             {"./usr/share/", 'd'},
                             {"./usr/share/a/one.txt", 'f', "1"},
                             {"./usr/share/a/two.md", 'f', "2"},
                             {"./usr/share/b/deep/three.txt", 'f', "3"},
                             {"./usr/bin/tool", 'f', "4", 0755}})}}};
  auto op = extract("t");
  op.strip_prefix = "usr/share/";
  op.include = {"**/*.txt", "a/*"};
  op.exclude = {"a/*.md"};
  op.to = "/srv";
  FileTree t;
  apply(t, {op}, in);
  std::vector<std::string> files;
  for (const auto& [p, n] : t.nodes())
    if (n.type == NodeType::regular) files.push_back(p);
  CHECK(files == std::vector<std::string>{"/srv/a/one.txt", "/srv/b/deep/three.txt"});
  CHECK(at(t, "/srv/b/deep").mode == 0755); // parent created for the placed entry
}

TEST_CASE("extract across layers follows a merged-/usr lib -> usr/lib symlink", "[rootfs]") {
  Inputs in{{{"hello", fixture("fixture-xz.deb")}}};
  FileTree t;
  r::DirOp d;
  d.paths = {"/usr/lib"};
  r::SymlinkOp s;
  s.path = "/lib";
  s.target = "usr/lib";
  apply(t, {d, s}, in, 0);
  apply(t, {extract("hello")}, in, 1); // the package has ./lib/ and ./lib/modules/x/data
  CHECK(at(t, "/lib").type == NodeType::symlink);
  CHECK(at(t, "/usr/lib/modules/x/data").layer == 1);
  CHECK_FALSE(t.find("/lib/modules"));
}

TEST_CASE("an archive symlink to / then a write through it lands inside the tree", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"pwn", 'l', "", 0777, "/"}, {"pwn/escaped", 'f', "x"}})}}};
  auto op = extract("t");
  op.to = "/opt";
  FileTree t;
  apply(t, {op}, in);
  CHECK(t.find("/escaped"));
  CHECK(t.find("/opt/pwn")->type == NodeType::symlink);
}

TEST_CASE("an archive symlink climbing out then a write through it is rejected", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"x", 'l', "", 0777, "../../.."}, {"x/evil", 'f', "x"}})}}};
  const std::string msg = error_of([&] {
    FileTree t;
    apply(t, {extract("t")}, in);
  });
  CHECK_THAT(msg, Catch::Contains("outside"));
  CHECK_THAT(msg, Catch::Contains("x -> ../../.."));
  CHECK_THAT(msg, Catch::Contains("layer 'test'"));
}

TEST_CASE("a cross-layer symlink plant is rejected when a later layer writes through it",
          "[rootfs]") {
  Inputs in{{{"a", make_tar({{"home/u/x", 'l', "", 0777, "../../../root/.ssh"}})},
             {"b", make_tar({{"home/u/x/authorized_keys", 'f', "ssh-ed25519 AAAA"}})}}};
  FileTree t;
  apply(t, {extract("a")}, in, 0);
  CHECK_THROWS_WITH(apply(t, {extract("b")}, in, 1), Catch::Contains("outside"));
  CHECK_FALSE(t.find("/root/.ssh/authorized_keys"));
}

TEST_CASE("archive hardlinks to outside, to symlinks or to missing entries are rejected",
          "[rootfs]") {
  auto run = [](const Bytes& tar) {
    Inputs in{{{"t", tar}}};
    FileTree t;
    apply(t, {extract("t")}, in);
  };
  CHECK_THROWS_WITH(run(make_tar({{"h", 'h', "", 0644, "../../etc/shadow"}})),
                    Catch::Contains(".."));
  CHECK_THROWS_WITH(run(concat({raw_ustar("h", '1', "", "/etc/shadow"), end_of_tar()})),
                    Catch::Contains("absolute"));
  CHECK_THROWS_WITH(run(make_tar({{"s", 'l', "", 0777, "/etc/shadow"}, {"h", 'h', "", 0644, "s"}})),
                    Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(run(make_tar({{"h", 'h', "", 0644, "later"}, {"later", 'f', "x"}})),
                    Catch::Contains("not an earlier entry"));
}

TEST_CASE("an archive hardlink whose target was filtered out becomes a plain copy", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"a/f", 'f', "content", 0640}, {"b/g", 'h', "", 0644, "a/f"}})}}};
  auto op = extract("t");
  op.include = {"b/**"};
  FileTree t;
  apply(t, {op}, in);
  CHECK_FALSE(t.find("/a/f"));
  const Node& g = at(t, "/b/g");
  CHECK(g.link_group == 0);
  CHECK(g.mode == 0640);
  CHECK(text(*g.content.data) == "content");
}

TEST_CASE("device nodes and fifos in an archive need allow_devices", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"dev/null", 'c', "", 0666, "", 0, 0, 1, 3}, {"p", 'p', "", 0600}})}}};
  FileTree t;
  CHECK_THROWS_WITH(apply(t, {extract("t")}, in), Catch::Contains("allow_devices"));
  auto op = extract("t");
  op.allow_devices = true;
  FileTree u;
  apply(u, {op}, in);
  CHECK(at(u, "/dev/null").type == NodeType::chardev);
  CHECK(at(u, "/dev/null").rdev_major == 1);
  CHECK(at(u, "/dev/null").rdev_minor == 3);
  CHECK(at(u, "/p").type == NodeType::fifo);
}

TEST_CASE("setuid and setgid modes in an archive need allow_setuid", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"bin/su", 'f', "x", 04755}})},
             {"g", make_tar({{"bin/wall", 'f', "x", 02755}})}}};
  FileTree t;
  CHECK_THROWS_WITH(apply(t, {extract("t")}, in), Catch::Contains("allow_setuid"));
  CHECK_THROWS_WITH(apply(t, {extract("g")}, in), Catch::Contains("allow_setuid"));
  auto op = extract("t");
  op.allow_setuid = true;
  FileTree u;
  apply(u, {op}, in);
  CHECK(at(u, "/bin/su").mode == 04755);
  // The sticky bit is not a privilege: /tmp 1777 from base-files is accepted.
  Inputs sticky{{{"t", make_tar({{"tmp", 'd', "", 01777}})}}};
  FileTree v;
  apply(v, {extract("t")}, sticky);
  CHECK(at(v, "/tmp").mode == 01777);
}

TEST_CASE("duplicate archive entries: the last one wins", "[rootfs]") {
  Inputs in{{{"t", make_tar({{"f", 'f', "first", 0600}, {"f", 'f', "second", 0644}})}}};
  FileTree t;
  apply(t, {extract("t")}, in);
  CHECK(text(*at(t, "/f").content.data) == "second");
  CHECK(at(t, "/f").mode == 0644);
}

TEST_CASE("a directory and a file at one path in an archive is an error", "[rootfs]") {
  Inputs in{{{"a", make_tar({{"d", 'd'}, {"d", 'f', "x"}})},
             {"b", make_tar({{"d", 'f', "x"}, {"d/x", 'f', "y"}})}}};
  FileTree t;
  CHECK_THROWS_WITH(apply(t, {extract("a")}, in), Catch::Contains("cannot replace a directory"));
  FileTree u;
  CHECK_THROWS_WITH(apply(u, {extract("b")}, in), Catch::Contains("not a directory"));
}

TEST_CASE("a symlink replacing an archive directory is refused (libarchive#745, #1566 shapes)",
          "[rootfs]") {
  Inputs in{{{"a", make_tar({{"aaa/bbb/ccc", 'f', "x"}, {"aaa", 'l', "", 0777, "/tmp"},
                             {"aaa/bbb", 'f', "y"}})},
             {"b", make_tar({{"d", 'd', "", 0777}, {"d", 'l', "", 0777, "/tmp/victim"}})}}};
  FileTree t;
  CHECK_THROWS_WITH(apply(t, {extract("a")}, in), Catch::Contains("cannot replace a directory"));
  FileTree u;
  CHECK_THROWS_WITH(apply(u, {extract("b")}, in), Catch::Contains("cannot replace a directory"));
}

TEST_CASE("deep nesting past PATH_MAX is rejected", "[rootfs]") {
  std::string p;
  for (int i = 0; i < 2100; ++i) p += "a/";
  p += "f";
  Inputs in{{{"t", make_tar({{p, 'f', "x"}})}}};
  FileTree t;
  CHECK_THROWS_WITH(apply(t, {extract("t")}, in), Catch::Contains("exceeds"));
}

TEST_CASE("the same entries in a different archive order give the same tree", "[rootfs]") {
  std::vector<TarItem> items{{"etc", 'd', "", 0755}, {"etc/a", 'f', "A", 0644},
                             {"etc/b", 'f', "B", 0600}, {"bin", 'd', "", 0755},
                             {"bin/x", 'f', "X", 0755}, {"bin/y", 'l', "", 0777, "x"},
                             {"usr/lib/z", 'f', "Z", 0644}};
  std::vector<TarItem> reversed(items.rbegin(), items.rend());
  Inputs in{{{"fwd", make_tar(items, "gzip")}, {"rev", make_tar(reversed, "zstd")}}};
  FileTree a, b;
  apply(a, {extract("fwd")}, in);
  apply(b, {extract("rev")}, in);
  REQUIRE(a.size() == b.size());
  auto ia = a.nodes().begin();
  for (const auto& [p, n] : b.nodes()) {
    INFO(p);
    CHECK(ia->first == p);
    CHECK(ia->second.type == n.type);
    CHECK(ia->second.mode == n.mode);
    CHECK(ia->second.content.digest == n.content.digest);
    CHECK(ia->second.target == n.target);
    ++ia;
  }
}

TEST_CASE("file op takes inline text, a whole input, or an archive member", "[rootfs]") {
  Inputs in{{{"app", to_bytes("#!/bin/sh\n")}, {"hello", fixture("fixture-zstd.deb")}}};
  r::FileOp a;
  a.path = "/etc/motd";
  a.text = "hi\n";
  r::FileOp b;
  b.path = "/init";
  b.from = "app";
  b.mode = 0755;
  r::FileOp c;
  c.path = "/bin/hello";
  c.from = "hello";
  c.member = "./usr/bin/hello-again"; // a hardlink member resolves to its target's data
  c.owner = {1, 2};
  FileTree t;
  apply(t, {a, b, c}, in, 4);
  CHECK(text(*at(t, "/etc/motd").content.data) == "hi\n");
  CHECK(at(t, "/init").mode == 0755);
  CHECK(text(*at(t, "/init").content.data) == "#!/bin/sh\n");
  CHECK(text(*at(t, "/bin/hello").content.data) == "hello from a deb\n");
  CHECK(at(t, "/bin/hello").uid == 1);
  CHECK(at(t, "/bin/hello").gid == 2);
  CHECK(at(t, "/bin/hello").layer == 4);
  r::FileOp missing = c;
  missing.member = "usr/bin/nope";
  CHECK_THROWS_WITH(apply(t, {missing}, in), Catch::Contains("no member"));
  r::FileOp both = a;
  both.from = "app";
  CHECK_THROWS_AS(apply(t, {both}, in), Error);
}

TEST_CASE("dir, symlink, device and fifo ops create nodes with their metadata", "[rootfs]") {
  r::DirOp d;
  d.paths = {"/proc", "/var/lib/x"};
  d.mode = 0700;
  d.owner = {5, 6};
  r::SymlinkOp s;
  s.path = "/bin/sh";
  s.target = "busybox";
  r::DeviceOp c;
  c.path = "/dev/console";
  c.major = 5;
  c.minor = 1;
  r::DeviceOp b;
  b.path = "/dev/vda";
  b.type = r::DeviceType::block;
  b.major = 254;
  b.mode = 0660;
  r::FifoOp f;
  f.path = "/run/fifo";
  FileTree t;
  apply(t, {d, s, c, b, f}, {}, 2);
  CHECK(at(t, "/proc").mode == 0700);
  CHECK(at(t, "/var/lib/x").uid == 5);
  CHECK(at(t, "/var/lib").mode == 0755); // parents 0755 root:root
  CHECK(at(t, "/var/lib").uid == 0);
  CHECK(at(t, "/bin/sh").target == "busybox");
  CHECK(at(t, "/dev/console").type == NodeType::chardev);
  CHECK(at(t, "/dev/console").mode == 0600);
  CHECK(at(t, "/dev/vda").type == NodeType::blockdev);
  CHECK(at(t, "/dev/vda").rdev_major == 254);
  CHECK(at(t, "/run/fifo").type == NodeType::fifo);
  CHECK(at(t, "/run/fifo").layer == 2);
}

TEST_CASE("hardlink op joins the target's link group and needs a regular file", "[rootfs]") {
  r::FileOp f;
  f.path = "/bin/busybox";
  f.text = "bb";
  r::HardlinkOp h;
  h.path = "/bin/ls";
  h.target = "/bin/busybox";
  r::HardlinkOp h2;
  h2.path = "/bin/cat";
  h2.target = "/bin/ls";
  FileTree t;
  apply(t, {f, h, h2}, {}, 1);
  CHECK(at(t, "/bin/ls").link_group != 0);
  CHECK(at(t, "/bin/ls").link_group == at(t, "/bin/busybox").link_group);
  CHECK(at(t, "/bin/cat").link_group == at(t, "/bin/busybox").link_group);
  r::SymlinkOp s;
  s.path = "/bin/sh";
  s.target = "busybox";
  r::HardlinkOp bad;
  bad.path = "/bin/sh2";
  bad.target = "/bin/sh";
  CHECK_THROWS_WITH(apply(t, {s, bad}, {}), Catch::Contains("not a regular file"));
  r::HardlinkOp none;
  none.path = "/x";
  none.target = "/missing";
  CHECK_THROWS_WITH(apply(t, {none}, {}), Catch::Contains("does not exist"));
}

TEST_CASE("remove takes globs, removes directories recursively and must match", "[rootfs]") {
  Inputs in{{{"hello", fixture("fixture-xz.deb")}}};
  FileTree t;
  apply(t, {extract("hello")}, in);
  r::RemoveOp rm;
  rm.paths = {"/usr/share/doc", "/usr/bin/hel*"};
  apply(t, {rm}, in);
  CHECK_FALSE(t.find("/usr/share/doc"));
  CHECK_FALSE(t.find("/usr/share/doc/hello/README"));
  CHECK_FALSE(t.find("/usr/bin/hello"));
  CHECK_FALSE(t.find("/usr/bin/hello-again"));
  CHECK(t.find("/usr/bin/hi"));
  r::RemoveOp none;
  none.paths = {"/nope/**"};
  CHECK_THROWS_WITH(apply(t, {none}, in), Catch::Contains("matches nothing"));
}

TEST_CASE("remove and chmod patterns resolve symlinked leading directories", "[rootfs]") {
  FileTree t;
  r::SymlinkOp s;
  s.path = "/lib";
  s.target = "usr/lib";
  r::FileOp f;
  f.path = "/usr/lib/modules/a.ko";
  f.text = "a";
  r::FileOp g = f;
  g.path = "/usr/lib/modules/b.ko";
  apply(t, {f, g, s}, {});
  r::ChmodOp ch;
  ch.paths = {"/lib/modules/a.ko"};
  ch.mode = 0600;
  r::RemoveOp rm;
  rm.paths = {"/lib/modules/b*"};
  apply(t, {ch, rm}, {}, 3);
  CHECK(at(t, "/usr/lib/modules/a.ko").mode == 0600);
  CHECK(at(t, "/usr/lib/modules/a.ko").layer == 3);
  CHECK_FALSE(t.find("/usr/lib/modules/b.ko"));
  CHECK(at(t, "/lib").type == NodeType::symlink);
}

TEST_CASE("chmod and chown change every name of a hardlinked file", "[rootfs]") {
  r::FileOp f;
  f.path = "/bin/busybox";
  f.text = "bb";
  r::HardlinkOp h;
  h.path = "/sbin/init";
  h.target = "/bin/busybox";
  r::ChmodOp ch;
  ch.paths = {"/bin/*"};
  ch.mode = 04711;
  r::ChownOp co;
  co.paths = {"/bin/busybox"};
  co.owner = {7, 8};
  FileTree t;
  apply(t, {f, h}, {}, 0);
  apply(t, {ch, co}, {}, 1);
  for (const char* p : {"/bin/busybox", "/sbin/init"}) {
    INFO(p);
    CHECK(at(t, p).mode == 04711);
    CHECK(at(t, p).uid == 7);
    CHECK(at(t, p).gid == 8);
    CHECK(at(t, p).layer == 1);
  }
  r::ChmodOp bad;
  bad.paths = {"/x"};
  bad.mode = 010000;
  CHECK_THROWS_AS(apply(t, {bad}, {}), Error);
}

TEST_CASE("a failing op names the layer, the op number and the path", "[rootfs]") {
  r::FileOp f;
  f.path = "/a";
  f.text = "x";
  r::DirOp d;
  d.paths = {"/a"};
  FileTree t;
  const std::string msg = error_of([&] { apply_layer(t, layer_of({f, d}, "base"), 0, {}); });
  CHECK_THAT(msg, Catch::Contains("layer 'base'"));
  CHECK_THAT(msg, Catch::Contains("op #2"));
  CHECK_THAT(msg, Catch::Contains("/a"));
}
