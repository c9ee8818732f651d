#include <catch2/catch.hpp>

#include <tdximg/store/deb.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;

namespace {

// Builds a package with the real dpkg-deb (an independent writer) and returns its bytes.
Bytes build_deb(const fs::path& work, const std::string& compression,
                const std::vector<std::string>& scripts) {
  const fs::path root = work / ("pkg-" + compression);
  store_test::write(root / "DEBIAN/control",
                    "Package: tdximg-test\n"
                    "Version: 1:2.3-4\n"
                    "Architecture: amd64\n"
                    "Source: tdximg-src (2.3-4)\n"
                    "Maintainer: Test <test@example.org>\n"
                    "Description: test package\n"
                    " with a continuation line: Package: not-this\n");
  for (const std::string& s : scripts) store_test::write(root / "DEBIAN" / s, "#!/bin/sh\nexit 0\n", 0755);
  store_test::write(root / "usr/share/doc/tdximg-test/copyright", "public domain\n");
  const fs::path out = work / ("p-" + compression + ".deb");
  store_test::sh("dpkg-deb --root-owner-group -Z" + compression + " --build '" + root.string() +
                 "' '" + out.string() + "' >/dev/null");
  return read_file(out);
}

} // namespace

TEST_CASE("maintainer scripts are listed from the control archive for every compression", "[store]") {
  if (!store_test::have_tool("dpkg-deb")) { WARN("dpkg-deb not installed"); return; }
  TempDir dir;
  for (const std::string comp : {"xz", "gzip", "zstd", "none"}) {
    INFO(comp);
    const Bytes deb = build_deb(dir.path(), comp, {"postinst", "prerm", "triggers"});
    CHECK(deb_maintainer_scripts(deb) == std::vector<std::string>{"postinst", "prerm", "triggers"});
  }
}

TEST_CASE("a package without maintainer scripts has none", "[store]") {
  if (!store_test::have_tool("dpkg-deb")) { WARN("dpkg-deb not installed"); return; }
  TempDir dir;
  CHECK(deb_maintainer_scripts(build_deb(dir.path(), "xz", {})).empty());
}

TEST_CASE("deb_info reads Package, Version, Architecture and Source from the control file", "[store]") {
  if (!store_test::have_tool("dpkg-deb")) { WARN("dpkg-deb not installed"); return; }
  TempDir dir;
  const DebInfo info = deb_info(build_deb(dir.path(), "xz", {"preinst", "config"}));
  CHECK(info.package == "tdximg-test");
  CHECK(info.version == "1:2.3-4");
  CHECK(info.architecture == "amd64");
  CHECK(info.source == "tdximg-src (2.3-4)");
  CHECK(info.maintainer_scripts == std::vector<std::string>{"config", "preinst"});
  CHECK(info.copyright_path == "usr/share/doc/tdximg-test/copyright");
}

TEST_CASE("malformed packages fail with an input error naming the problem", "[store]") {
  auto expect = [](const Bytes& b, std::string_view needle) {
    try {
      (void)deb_maintainer_scripts(b);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK_THAT(e.what(), Catch::Contains(std::string(needle)));
    }
  };
  expect(to_bytes("not an ar archive"), "ar magic");
  // A member whose size runs past the end.
  std::string ar = "!<arch>\n";
  ar += "debian-binary   0           0     0     100644  999       `\n2.0\n";
  expect(to_bytes(ar), "ar member 'debian-binary'");
  // Wrong first member.
  std::string ar2 = "!<arch>\n";
  ar2 += "control.tar.xz  0           0     0     100644  4         `\nabcd";
  expect(to_bytes(ar2), "debian-binary");
  // A control member whose bytes are not what its name says.
  auto member = [](std::string name, std::string data) {
    std::string h = fmt::format("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, data.size());
    return h + data + (data.size() % 2 ? "\n" : "");
  };
  const std::string head = "!<arch>\n" + member("debian-binary", "2.0\n");
  for (const char* comp : {"control.tar.gz", "control.tar.xz", "control.tar.zst"}) {
    INFO(comp);
    expect(to_bytes(head + member(comp, "plain bytes, not compressed") + member("data.tar", "")),
           std::string("deb: ") + comp);
  }
}

TEST_CASE("every truncation of a valid package fails cleanly", "[store]") {
  if (!store_test::have_tool("dpkg-deb")) { WARN("dpkg-deb not installed"); return; }
  TempDir dir;
  const Bytes deb = build_deb(dir.path(), "xz", {"postinst"});
  for (std::size_t n = 0; n < deb.size(); ++n) {
    INFO(n);
    const Bytes prefix(deb.begin(), deb.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_THROWS_AS(deb_maintainer_scripts(prefix), Error);
  }
}
