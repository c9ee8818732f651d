#include <catch2/catch.hpp>

#include <sstream>

#include <tdximg/rootfs/archive.hpp>
#include <tdximg/util/error.hpp>

#include "rootfs/test_archive_fixtures.hpp"

using namespace tdximg;
using namespace tdximg::rootfs;
using namespace rootfs_test;

namespace {

// One line of `dpkg-deb -c` / `tar -tv` output.
struct Listed {
  char type;
  std::uint32_t mode;
  std::uint64_t size;
  std::string path, target;
};

std::vector<Listed> parse_listing(const std::string& text) {
  std::vector<Listed> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string perms, owner, date, time;
    Listed l{};
    ls >> perms >> owner >> l.size >> date >> time;
    std::string rest;
    std::getline(ls, rest);
    rest = rest.substr(1);
    l.type = perms[0];
    std::uint32_t m = 0;
    for (int i = 1; i <= 9; ++i) m = (m << 1) | (perms[static_cast<std::size_t>(i)] != '-' ? 1u : 0u);
    l.mode = m;
    if (const auto p = rest.find(" link to "); l.type == 'h' && p != std::string::npos) {
      l.target = rest.substr(p + 9);
      rest = rest.substr(0, p);
    } else if (const auto q = rest.find(" -> "); l.type == 'l' && q != std::string::npos) {
      l.target = rest.substr(q + 4);
      rest = rest.substr(0, q);
    }
    l.path = rest;
    out.push_back(l);
  }
  return out;
}

std::string strip(std::string p) {
  if (p.rfind("./", 0) == 0) p = p.substr(2);
  if (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

void check_against_listing(const std::vector<ArchiveEntry>& entries, const std::string& listing) {
  const auto listed = parse_listing(listing);
  std::vector<Listed> expected;
  for (const auto& l : listed)
    if (strip(l.path) != "") expected.push_back(l);
  REQUIRE(entries.size() == expected.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    INFO(expected[i].path);
    const auto& e = entries[i];
    CHECK(e.path == strip(expected[i].path));
    CHECK(e.mode == expected[i].mode);
    CHECK(e.uid == 0);
    CHECK(e.gid == 0);
    switch (expected[i].type) {
    case 'd': CHECK(e.type == EntryType::directory); break;
    case '-':
      CHECK(e.type == EntryType::regular);
      REQUIRE(e.content.data);
      CHECK(e.content.size() == expected[i].size);
      break;
    case 'l':
      CHECK(e.type == EntryType::symlink);
      CHECK(e.target == expected[i].target);
      break;
    case 'h':
      CHECK(e.type == EntryType::hardlink);
      CHECK(e.target == strip(expected[i].target));
      break;
    default: FAIL("unexpected type in listing");
    }
  }
}

void check_rejected(const Bytes& tar, const std::string& needle) {
  try {
    read_tar(tar, "bad.tar");
    FAIL("expected an error containing " << needle);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.what(), Catch::Contains(needle));
    CHECK_THAT(e.what(), Catch::Contains("bad.tar"));
  }
}

} // namespace

TEST_CASE("read_deb reads dpkg-deb built packages (xz, zstd, uncompressed) as dpkg-deb -c lists them",
          "[rootfs]") {
  const std::string listing = text(fixture("fixture.deb.list"));
  for (const char* name : {"fixture-xz.deb", "fixture-zstd.deb", "fixture-none.deb"}) {
    INFO(name);
    const Bytes deb = fixture(name);
    REQUIRE(is_deb(deb));
    const DebContents c = read_deb(deb, name);
    check_against_listing(c.entries, listing);
    CHECK(c.maintainer_scripts == std::vector<std::string>{"postinst", "prerm"});
    // Content of one file, as written into the package (PROVENANCE.md).
    for (const auto& e : c.entries)
      if (e.path == "usr/bin/hello") CHECK(text(*e.content.data) == "hello from a deb\n");
  }
}

TEST_CASE("read_tar reads a GNU tar.gz with a long name and a hardlink as tar -tv lists it",
          "[rootfs]") {
  const auto entries = read_tar(fixture("fixture-gnu.tar.gz"), "fixture-gnu.tar.gz");
  check_against_listing(entries, text(fixture("fixture-gnu.tar.gz.list")));
}

TEST_CASE("read_tar reads every supported compression filter", "[rootfs]") {
  const std::vector<TarItem> items{{"a", 'd', "", 0755}, {"a/b", 'f', "payload", 0600}};
  for (const char* filter : {"none", "gzip", "xz", "zstd", "bzip2"}) {
    INFO(filter);
    const auto entries = read_tar(make_tar(items, filter), "t");
    REQUIRE(entries.size() == 2);
    CHECK(entries[1].path == "a/b");
    CHECK(entries[1].mode == 0600);
    CHECK(text(*entries[1].content.data) == "payload");
  }
}

TEST_CASE("read_tar keeps data only for the paths the caller asks for", "[rootfs]") {
  const auto tar = make_tar({{"a", 'f', "AAA"}, {"b", 'f', "BBB"}});
  const auto entries = read_tar(tar, "t", {}, [](const std::string& p) { return p == "b"; });
  REQUIRE(entries.size() == 2);
  CHECK_FALSE(entries[0].content.data);
  REQUIRE(entries[1].content.data);
  CHECK(entries[1].content.digest == sha256(std::string_view("BBB")));
}

TEST_CASE("archive paths are normalized and bad ones rejected", "[rootfs]") {
  CHECK(normalize_archive_path("./usr/bin/x", "t") == "usr/bin/x");
  CHECK(normalize_archive_path("usr//bin/./x/", "t") == "usr/bin/x");
  CHECK(normalize_archive_path("./", "t") == "");
  CHECK(normalize_archive_path(".", "t") == "");
  CHECK_THROWS_AS(normalize_archive_path("", "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path("/etc/x", "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path("//etc/x", "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path("a/../../x", "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path(std::string_view("a\0b", 3), "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path("a\nb", "t"), Error);
  CHECK_THROWS_AS(normalize_archive_path("a\x1b[31mb", "t"), Error);
  CHECK(normalize_archive_path("a\\b", "t") == "a\\b"); // a backslash is an ordinary byte
}

TEST_CASE("a tar entry climbing out with .. is rejected", "[rootfs]") {
  check_rejected(make_tar({{"../../etc/passwd", 'f', "x"}}), "..");
  check_rejected(make_tar({{"./../x", 'f', "x"}}), "..");
  check_rejected(make_tar({{"a/../../x", 'f', "x"}}), "..");
}

TEST_CASE("a tar entry with an absolute name is rejected", "[rootfs]") {
  check_rejected(concat({raw_ustar("/etc/x", '0', "x"), end_of_tar()}), "absolute");
  check_rejected(concat({raw_ustar("//etc/x", '0', "x"), end_of_tar()}), "absolute");
}

TEST_CASE("a tar entry with a control byte in its name is rejected", "[rootfs]") {
  check_rejected(make_tar({{"evil\nname", 'f', "x"}}), "control");
  check_rejected(make_tar({{"evil\x1b]0;x", 'f', "x"}}), "control");
}

TEST_CASE("a tar hardlink that carries data is rejected", "[rootfs]") {
  // ustar: libarchive takes a hardlink's size as 0, so the data block is read as a header.
  const Bytes tar = concat({raw_ustar("a", '0', "hello"), raw_ustar("b", '1', "DATA!", "a"),
                            end_of_tar()});
  CHECK_THROWS_AS(read_tar(tar, "bad.tar"), Error);
  // pax: a size record makes the data part of the hardlink entry (libarchive#746 shape).
  const std::string pax_rec = "13 size=5000\n";
  const Bytes pax = concat({raw_ustar("a", '0', "hello"), raw_ustar("PaxHeader/b", 'x', pax_rec),
                            raw_ustar("b", '1', std::string(5000, 'D'), "a", 0), end_of_tar()});
  check_rejected(pax, "hardlink");
}

TEST_CASE("a symlink entry without a target is rejected", "[rootfs]") {
  check_rejected(concat({raw_ustar("s", '2', ""), end_of_tar()}), "symlink");
}

TEST_CASE("over-long names and components are rejected", "[rootfs]") {
  std::string deep;
  for (int i = 0; i < 30; ++i) deep += std::string(200, 'a') + "/";
  deep += "x";
  check_rejected(make_tar({{deep, 'f', "x"}}), "exceeds");
  check_rejected(make_tar({{std::string(300, 'b'), 'f', "x"}}), "exceeds");
}

TEST_CASE("every truncation of a tar.gz fails cleanly", "[rootfs]") {
  const Bytes tar = make_tar({{"a", 'd', "", 0755}, {"a/f", 'f', std::string(3000, 'z')}}, "gzip");
  const auto full = read_tar(tar, "t");
  REQUIRE(full.size() == 2);
  for (std::size_t n = 0; n < tar.size(); n += 7) {
    INFO(n);
    Bytes cut(tar.begin(), tar.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      const auto got = read_tar(cut, "t");
      // A prefix may only parse when it still holds complete entries (never partial data).
      for (const auto& e : got)
        if (e.path == "a/f") CHECK(e.content.size() == 3000);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}

TEST_CASE("the byte limit counts decompressed bytes, not header sizes", "[rootfs]") {
  // 32 MiB of zeros compresses to a few KiB of zstd: a small bomb.
  const Bytes bomb = make_tar({{"zeros", 'f', std::string(32u << 20, '\0')}}, "zstd");
  REQUIRE(bomb.size() < (1u << 20));
  ArchiveLimits limits;
  limits.max_total_bytes = 8u << 20;
  try {
    read_tar(bomb, "bomb.tar.zst", limits, [](const std::string&) { return false; });
    FAIL("expected the limit to trip");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("limit"));
  }
  limits.max_total_bytes = 33u << 20;
  CHECK(read_tar(bomb, "bomb.tar.zst", limits, [](const std::string&) { return false; }).size() ==
        1);
}

TEST_CASE("the entry limit stops archives with too many entries", "[rootfs]") {
  std::vector<TarItem> items;
  for (int i = 0; i < 50; ++i) items.push_back({"e" + std::to_string(i), 'f', ""});
  ArchiveLimits limits;
  limits.max_entries = 20;
  CHECK_THROWS_WITH(read_tar(make_tar(items), "many.tar", limits), Catch::Contains("entries"));
  limits.max_entries = 50;
  CHECK(read_tar(make_tar(items), "many.tar", limits).size() == 50);
}

TEST_CASE("non-archives and formats we do not enable are rejected", "[rootfs]") {
  CHECK_THROWS_AS(read_tar(to_bytes("this is not an archive at all, just text......"), "t"), Error);
  // A cpio archive is a format libarchive knows, but read_tar enables tar only.
  const Bytes cpio = fixture("fixture-none.deb"); // an ar archive is not a tar either
  CHECK_THROWS_AS(read_tar(cpio, "t"), Error);
}

TEST_CASE("read_deb rejects a malformed package", "[rootfs]") {
  const Bytes data = make_tar({{"./x", 'f', "x"}}, "xz");
  CHECK(read_deb(make_deb(data, "data.tar.xz"), "ok.deb").entries.size() == 1);
  CHECK_THROWS_WITH(read_deb(make_deb(data, "data.tar.xz", {}, "3.0\n"), "v3.deb"),
                    Catch::Contains("format version"));
  CHECK_THROWS_WITH(read_deb(make_deb(data, "data.tar.lzma"), "lz.deb"),
                    Catch::Contains("unsupported compression"));
  CHECK_THROWS_WITH(read_deb(make_ar({{"debian-binary", to_bytes("2.0\n")}}), "short.deb"),
                    Catch::Contains("truncated"));
  CHECK_THROWS_AS(read_deb(to_bytes("!<arch>\nnot a deb"), "x.deb"), Error);
  const Bytes deb = fixture("fixture-xz.deb");
  for (std::size_t n = 0; n < deb.size(); n += 13) {
    Bytes cut(deb.begin(), deb.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_THROWS_AS(read_deb(cut, "cut.deb"), Error);
  }
}

TEST_CASE("read_archive_input reports a .deb's maintainer scripts and none for a tar", "[rootfs]") {
  std::vector<std::string> scripts{"stale"};
  read_archive_input(make_deb(make_tar({{"./x", 'f', "x"}}), "data.tar", {"postinst", "config"}),
                     "p.deb", {}, {}, &scripts);
  CHECK(scripts == std::vector<std::string>{"config", "postinst"});
  read_archive_input(make_tar({{"x", 'f', "x"}}), "p.tar", {}, {}, &scripts);
  CHECK(scripts.empty());
}
