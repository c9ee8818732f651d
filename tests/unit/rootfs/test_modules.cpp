#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <tdximg/rootfs/layer.hpp>
#include <tdximg/rootfs/modules.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "rootfs/test_archive_fixtures.hpp"

using namespace tdximg;
using namespace tdximg::rootfs;
using namespace rootfs_test;

namespace {

// A small kernel package. Dependencies (as modpost records them in .modinfo):
//   a       depends=b,c-dash   softdep=pre: d post: alias-e
//   b       depends=c-dash
//   c-dash  (none)
//   d       softdep=pre: crc32c          (crc32c: alias of built-in crc32c_generic)
//   e       alias=alias-e
//   other   depends=b                    (not requested: must not appear)
//   virtio_net                           (for close-match messages)
// modules.builtin: crc32c_generic, builtin-thing
Bytes kernel_package(bool trixie) {
  const std::string root = trixie ? "usr/lib/modules/6.12.0-test/" : "lib/modules/6.1.0-test/";
  const std::string ext = trixie ? ".ko.xz" : ".ko";
  auto ko = [&](const std::vector<std::string>& info) {
    const Bytes elf = make_ko(info);
    return text(trixie ? xz_compress(elf) : elf);
  };
  std::vector<TarItem> items{
      {"./", 'd'},
      {"./boot/vmlinuz-x", 'f', "kernel"},
      {"./" + root, 'd'},
      {"./" + root + "kernel/", 'd'},
      {"./" + root + "kernel/a" + ext, 'f',
       ko({"license=GPL", "depends=b,c-dash", "softdep=pre: d post: alias-e", "name=a"})},
      {"./" + root + "kernel/b" + ext, 'f', ko({"depends=c-dash", "name=b"})},
      {"./" + root + "kernel/sub/c-dash" + ext, 'f', ko({"depends=", "name=c_dash"})},
      {"./" + root + "kernel/d" + ext, 'f', ko({"softdep=pre: crc32c", "name=d"})},
      {"./" + root + "kernel/e" + ext, 'f', ko({"alias=alias-e", "alias=pci:v00001AF4d*", "name=e"})},
      {"./" + root + "kernel/other" + ext, 'f', ko({"depends=b", "name=other"})},
      {"./" + root + "kernel/drivers/net/virtio_net" + ext, 'f', ko({"name=virtio_net"})},
      {"./" + root + "modules.builtin", 'f',
       "kernel/crypto/crc32c_generic.ko\nkernel/drivers/builtin-thing.ko\n"},
      {"./" + root + "modules.builtin.modinfo", 'f',
       std::string("crc32c_generic.alias=crc32c\0crc32c_generic.license=GPL\0", 55)},
      {"./" + root + "modules.order", 'f',
       "kernel/other.ko\nkernel/sub/c-dash.ko\nkernel/b.ko\nkernel/a.ko\nkernel/d.ko\nkernel/e.ko\n"
       "kernel/drivers/net/virtio_net.ko\n"},
  };
  return make_tar(items, "xz");
}

std::string file_text(const FileTree& t, const std::string& path) {
  const Node* n = t.find(path);
  INFO(path);
  REQUIRE(n);
  REQUIRE(n->content.data);
  return text(*n->content.data);
}

} // namespace

TEST_CASE("module_name strips the extension and maps - to _", "[rootfs]") {
  CHECK(module_name("kernel/drivers/net/virtio_net.ko") == "virtio_net");
  CHECK(module_name("kernel/lib/crc-t10dif.ko.xz") == "crc_t10dif");
  CHECK(module_name("nvme-core.ko.zst") == "nvme_core");
  CHECK(module_name("tdx-guest") == "tdx_guest");
}

TEST_CASE("kernel_release finds the lib/modules/<ver> directory of bookworm and trixie layouts",
          "[rootfs]") {
  CHECK(kernel_release(kernel_package(false), "k.tar.xz") == "6.1.0-test");
  CHECK(kernel_release(kernel_package(true), "k.tar.xz") == "6.12.0-test");
  const KernelPackage pkg = read_kernel_package(kernel_package(true), "k");
  CHECK(pkg.modules_dir == "usr/lib/modules/6.12.0-test");
  CHECK(kernel_release(pkg) == "6.12.0-test");
  CHECK_THROWS_WITH(kernel_release(make_tar({{"boot/vmlinuz", 'f', "k"}}), "nok"),
                    Catch::Contains("found 0"));
  CHECK_THROWS_WITH(read_kernel_package(make_tar({{"lib/modules/1/a.ko", 'f', "x"},
                                                  {"lib/modules/2/a.ko", 'f', "x"}}),
                                        "two"),
                    Catch::Contains("more than one"));
}

TEST_CASE("the closure follows depends, pre/post softdeps, aliases and built-ins", "[rootfs]") {
  for (bool trixie : {false, true}) {
    INFO((trixie ? "trixie .ko.xz" : "bookworm .ko"));
    const KernelPackage pkg = read_kernel_package(kernel_package(trixie), "k");
    const ModuleSelection sel = select_modules(pkg, {"a", "builtin-thing"});
    CHECK(sel.modules == std::vector<std::string>{"a", "b", "c_dash", "d", "e"});
    CHECK(sel.builtin == std::vector<std::string>{"builtin_thing", "crc32c"});
    const std::string ext = trixie ? ".ko.xz" : ".ko";
    CHECK(sel.files == std::vector<std::string>{"kernel/a" + ext, "kernel/b" + ext,
                                                "kernel/d" + ext, "kernel/e" + ext,
                                                "kernel/sub/c-dash" + ext});
  }
}

TEST_CASE("a requested built-in module needs nothing copied", "[rootfs]") {
  const KernelPackage pkg = read_kernel_package(kernel_package(false), "k");
  const ModuleSelection sel = select_modules(pkg, {"crc32c-generic"});
  CHECK(sel.modules.empty());
  CHECK(sel.builtin == std::vector<std::string>{"crc32c_generic"});
}

TEST_CASE("an unknown module name is an error listing close matches", "[rootfs]") {
  const KernelPackage pkg = read_kernel_package(kernel_package(false), "k");
  try {
    select_modules(pkg, {"virtio-nett"});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.what(), Catch::Contains("unknown kernel module 'virtio-nett'"));
    CHECK_THAT(e.what(), Catch::Contains("virtio_net"));
  }
}

TEST_CASE("install_modules places files under a merged-/usr symlink and writes index files",
          "[rootfs]") {
  FileTree t;
  t.make_dirs("/usr/lib", 0755, 0, 0, 0, "t");
  Node lib;
  lib.type = NodeType::symlink;
  lib.target = "usr/lib";
  t.put("/lib", lib, "t");
  const KernelPackage pkg = read_kernel_package(kernel_package(false), "k");
  install_modules(t, pkg, {"a"}, 2);
  const std::string dir = "/usr/lib/modules/6.1.0-test/";
  CHECK(t.find("/lib")->type == NodeType::symlink);
  CHECK(t.find(dir + "kernel/a.ko")->layer == 2);
  CHECK_FALSE(t.find(dir + "kernel/other.ko"));
  CHECK_FALSE(t.find(dir + "kernel/drivers/net/virtio_net.ko"));
  // depmod's convention: each module's full dependency list, dependents before dependencies.
  CHECK(file_text(t, dir + "modules.dep") ==
        "kernel/a.ko: kernel/b.ko kernel/sub/c-dash.ko\n"
        "kernel/b.ko: kernel/sub/c-dash.ko\n"
        "kernel/d.ko:\n"
        "kernel/e.ko:\n"
        "kernel/sub/c-dash.ko:\n");
  CHECK(file_text(t, dir + "modules.softdep") ==
        "# Soft dependencies extracted from modules themselves.\n"
        "softdep a pre: d post: alias-e\n"
        "softdep d pre: crc32c\n");
  CHECK(file_text(t, dir + "modules.alias") ==
        "# Aliases extracted from modules themselves.\n"
        "alias alias-e e\n"
        "alias pci:v00001AF4d* e\n");
  CHECK(file_text(t, dir + "modules.order") ==
        "kernel/sub/c-dash.ko\nkernel/b.ko\nkernel/a.ko\nkernel/d.ko\nkernel/e.ko\n");
  CHECK(file_text(t, dir + "modules.builtin") ==
        "kernel/crypto/crc32c_generic.ko\nkernel/drivers/builtin-thing.ko\n");
  CHECK(t.find(dir + "modules.builtin.modinfo"));
}

TEST_CASE("the modules op installs through apply_layer and reports the names", "[rootfs]") {
  const Bytes pkg = kernel_package(true);
  recipe::ModulesOp op;
  op.from = "kernel";
  op.names = {"b"};
  recipe::Layer layer;
  layer.name = "modules";
  layer.ops = {op};
  FileTree t;
  const auto rep = apply_layer(t, layer, 1, [&](const std::string&) -> const Bytes& { return pkg; });
  CHECK(rep.modules == std::vector<std::string>{"b", "c_dash"});
  CHECK(t.find("/usr/lib/modules/6.12.0-test/kernel/b.ko.xz"));
  CHECK(file_text(t, "/usr/lib/modules/6.12.0-test/modules.dep") ==
        "kernel/b.ko.xz: kernel/sub/c-dash.ko.xz\nkernel/sub/c-dash.ko.xz:\n");
}

TEST_CASE("a module whose ELF is truncated is rejected cleanly", "[rootfs]") {
  const Bytes elf = make_ko({"depends=", "name=x"});
  for (std::size_t n = 0; n < elf.size(); n += 5) {
    const Bytes cut(elf.begin(), elf.begin() + static_cast<std::ptrdiff_t>(n));
    const Bytes pkg = make_tar({{"lib/modules/1/kernel/x.ko", 'f', text(cut)}});
    const KernelPackage k = read_kernel_package(pkg, "k");
    INFO(n);
    CHECK_THROWS_AS(select_modules(k, {"x"}), Error);
  }
}

// A manual cross-check against kmod's depmod on a real Debian kernel package (70 MB, so not a
// unit test). Run: TDXIMG_KERNEL_DEB=linux-image-….deb TDXIMG_DEPMOD_DIR=<dir with depmod's
// modules.dep> unit_rootfs "[.depmod]". Every module's dependency list must hold the same
// modules as depmod's, in an order modprobe can load from the end (each dependency listed
// before its own dependencies, checked against depmod's lists). depmod's exact tie-breaking
// (a global topological index over symbol dependencies) is not reproduced.
TEST_CASE("generated modules.dep lines equal depmod's for a real kernel package", "[.depmod]") {
  const char* deb = std::getenv("TDXIMG_KERNEL_DEB");
  const char* depdir = std::getenv("TDXIMG_DEPMOD_DIR");
  if (!deb || !depdir) return;
  const KernelPackage pkg = read_kernel_package(read_file(deb), deb);
  std::vector<std::string> names;
  for (const auto& [rel, e] : pkg.files)
    if (rel.size() > 3 && rel.substr(rel.size() - 3) == ".ko") names.push_back(module_name(rel));
  FileTree t;
  install_modules(t, pkg, names, 0);
  auto parse = [](std::istream& in) {
    std::map<std::string, std::vector<std::string>> out;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string mod, dep;
      ls >> mod;
      mod.pop_back(); // ':'
      auto& deps = out[mod];
      while (ls >> dep) deps.push_back(dep);
    }
    return out;
  };
  std::istringstream ours_in(file_text(t, "/" + pkg.modules_dir + "/modules.dep"));
  std::ifstream theirs_in(std::string(depdir) + "/modules.dep");
  const auto ours = parse(ours_in);
  const auto theirs = parse(theirs_in);
  REQUIRE(ours.size() == theirs.size());
  std::size_t exact = 0;
  for (const auto& [mod, deps] : ours) {
    INFO(mod);
    REQUIRE(theirs.count(mod));
    const auto& ref = theirs.at(mod);
    if (deps == ref) ++exact;
    std::set<std::string> a(deps.begin(), deps.end()), b(ref.begin(), ref.end());
    CHECK(a == b);
    for (std::size_t i = 0; i < deps.size(); ++i)
      for (const auto& sub : theirs.at(deps[i]))
        for (std::size_t j = 0; j < i; ++j) CHECK(deps[j] != sub);
  }
  WARN(exact << " of " << ours.size() << " lines in depmod's exact order");
}
