// cpio newc writer: checked against GNU cpio (bytes and `cpio -itv`) and libarchive's reader.
// Golden data: tests/data/rootfs/cpio/PROVENANCE.md.

#include <archive.h>
#include <archive_entry.h>
#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

constexpr std::uint32_t k_epoch = 1735689600; // 2025-01-01T00:00:00Z

std::shared_ptr<const Bytes> blob(std::string_view s) {
  return std::make_shared<const Bytes>(to_bytes(s));
}

CpioEntry entry(std::string path, std::uint32_t mode, std::uint32_t ino, std::string_view data = {},
                std::uint32_t nlink = 1) {
  CpioEntry e;
  e.path = std::move(path);
  e.mode = mode;
  e.ino = ino;
  e.nlink = nlink;
  e.mtime = k_epoch;
  if (!data.empty()) e.data = blob(data);
  return e;
}

// The tree of tests/data/rootfs/cpio/make-golden.sh, in GNU cpio's archive order.
std::vector<CpioEntry> golden_entries() {
  std::vector<CpioEntry> v;
  v.push_back(entry("a", 0100644, 0, "x"));
  v.push_back(entry("ab", 0100644, 1, "xy"));
  v.push_back(entry("abc", 0100644, 2, "xyz"));
  v.push_back(entry("abcd", 0100755, 3, "wxyz"));
  v.push_back(entry("bin", 0040700, 4, {}, 2));
  v.push_back(entry("bin/busybox", 0100644, 5, "busybox-bytes\n"));
  v.push_back(entry("bin/sh", 0120777, 6, "busybox"));
  v.push_back(entry("dev", 0040755, 7, {}, 2));
  CpioEntry console = entry("dev/console", 0020600, 8);
  console.rdev_major = 5;
  console.rdev_minor = 1;
  v.push_back(console);
  v.push_back(entry("dev/fifo", 0010644, 9));
  v.push_back(entry("empty", 0100644, 10));
  // Every member of the group names the data; the writer stores it once, with the last.
  const auto hl = blob("hardlinked\n");
  for (const char* name : {"h2", "h1", "h3"}) {
    CpioEntry e = entry(name, 0100644, 11, {}, 3);
    e.data = hl;
    v.push_back(e);
  }
  return v;
}

fs::path data_dir() {
  return fs::path(TDXIMG_SOURCE_DIR) / "tests/data/rootfs/cpio";
}

// Runs a shell command, returns its stdout; REQUIREs exit status 0.
std::string run(const std::string& command) {
  std::FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  const int status = ::pclose(p);
  INFO("command: " << command);
  REQUIRE(status == 0);
  return out;
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string tok;
  while (in >> tok)
    out.push_back(tok);
  return out;
}

} // namespace

TEST_CASE("our writer matches GNU cpio --reproducible byte for byte", "[rootfs]") {
  const Bytes gnu = read_file(data_dir() / "gnu-cpio-reproducible.cpio");
  const auto entries = golden_entries();
  const Bytes ours = write_cpio_newc(entries);
  REQUIRE(ours.size() == 1820);
  REQUIRE(gnu.size() >= ours.size());
  CHECK(std::equal(ours.begin(), ours.end(), gnu.begin()));
  CHECK(std::all_of(gnu.begin() + static_cast<std::ptrdiff_t>(ours.size()), gnu.end(),
                    [](std::uint8_t b) { return b == 0; }));
}

TEST_CASE("GNU cpio -itv lists every field of our archive", "[rootfs]") {
  TempDir dir;
  const fs::path file = dir.path() / "a.cpio";
  write_file_atomic(file, write_cpio_newc(golden_entries()));
  const std::string listing =
      run("cd " + dir.path().string() + " && TZ=UTC LC_ALL=C cpio -itv --quiet < a.cpio");
  // mode string, links, owner, group, size (or "major," minor), date, name [-> target]
  const std::vector<std::vector<std::string>> expected = {
      {"-rw-r--r--", "1", "root", "root", "1", "Jan", "1", "2025", "a"},
      {"-rw-r--r--", "1", "root", "root", "2", "Jan", "1", "2025", "ab"},
      {"-rw-r--r--", "1", "root", "root", "3", "Jan", "1", "2025", "abc"},
      {"-rwxr-xr-x", "1", "root", "root", "4", "Jan", "1", "2025", "abcd"},
      {"drwx------", "2", "root", "root", "0", "Jan", "1", "2025", "bin"},
      {"-rw-r--r--", "1", "root", "root", "14", "Jan", "1", "2025", "bin/busybox"},
      {"lrwxrwxrwx", "1", "root", "root", "7", "Jan", "1", "2025", "bin/sh", "->", "busybox"},
      {"drwxr-xr-x", "2", "root", "root", "0", "Jan", "1", "2025", "dev"},
      {"crw-------", "1", "root", "root", "5,", "1", "Jan", "1", "2025", "dev/console"},
      {"prw-r--r--", "1", "root", "root", "0", "Jan", "1", "2025", "dev/fifo"},
      {"-rw-r--r--", "1", "root", "root", "0", "Jan", "1", "2025", "empty"},
      {"-rw-r--r--", "3", "root", "root", "0", "Jan", "1", "2025", "h2"},
      {"-rw-r--r--", "3", "root", "root", "0", "Jan", "1", "2025", "h1"},
      {"-rw-r--r--", "3", "root", "root", "11", "Jan", "1", "2025", "h3"},
  };
  std::istringstream in(listing);
  std::string line;
  std::size_t i = 0;
  while (std::getline(in, line)) {
    INFO("line " << i << ": " << line);
    REQUIRE(i < expected.size());
    CHECK(split_ws(line) == expected[i]);
    ++i;
  }
  CHECK(i == expected.size());
}

TEST_CASE("GNU cpio extracts a hardlink group from our archive with shared content", "[rootfs]") {
  TempDir dir;
  std::vector<CpioEntry> entries;
  const auto data = blob("shared body\n");
  for (const char* name : {"x1", "x2"}) {
    CpioEntry e = entry(name, 0100640, 7, {}, 2);
    e.data = data;
    entries.push_back(e);
  }
  write_file_atomic(dir.path() / "h.cpio", write_cpio_newc(entries));
  fs::create_directory(dir.path() / "out");
  run("cd " + (dir.path() / "out").string() + " && cpio -id --quiet < ../h.cpio");
  CHECK(read_file(dir.path() / "out/x1") == *data);
  CHECK(read_file(dir.path() / "out/x2") == *data);
  CHECK(fs::hard_link_count(dir.path() / "out/x1") == 2);
  CHECK(fs::equivalent(dir.path() / "out/x1", dir.path() / "out/x2"));
}

TEST_CASE("libarchive reads every field of our archive", "[rootfs]") {
  const auto entries = golden_entries();
  const Bytes cpio = write_cpio_newc(entries);
  archive* a = archive_read_new();
  REQUIRE(a != nullptr);
  archive_read_support_format_cpio(a);
  REQUIRE(archive_read_open_memory(a, cpio.data(), cpio.size()) == ARCHIVE_OK);
  archive_entry* ae = nullptr;
  std::size_t i = 0;
  while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
    REQUIRE(i < entries.size());
    const CpioEntry& e = entries[i];
    INFO("entry " << i << " " << e.path);
    CHECK(archive_format(a) == ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
    CHECK(std::string(archive_entry_pathname(ae)) == e.path);
    CHECK(archive_entry_mode(ae) == e.mode);
    CHECK(archive_entry_uid(ae) == 0);
    CHECK(archive_entry_gid(ae) == 0);
    CHECK(archive_entry_nlink(ae) == e.nlink);
    CHECK(archive_entry_mtime(ae) == k_epoch);
    CHECK(archive_entry_ino64(ae) == e.ino);
    CHECK(archive_entry_dev(ae) == 0);
    CHECK(archive_entry_rdevmajor(ae) == e.rdev_major);
    CHECK(archive_entry_rdevminor(ae) == e.rdev_minor);
    Bytes body(static_cast<std::size_t>(archive_entry_size(ae)));
    if (!body.empty() && (e.mode & k_mode_type_mask) != k_mode_symlink) {
      CHECK(archive_read_data(a, body.data(), body.size()) == static_cast<la_ssize_t>(body.size()));
    }
    if ((e.mode & k_mode_type_mask) == k_mode_symlink) {
      CHECK(std::string(archive_entry_symlink(ae)) == as_chars(*e.data));
    } else if (e.path == "h1" || e.path == "h3") {
      // libarchive turns later members of a group into hardlinks to the first one (h2).
      REQUIRE(archive_entry_hardlink(ae) != nullptr);
      CHECK(std::string(archive_entry_hardlink(ae)) == "h2");
      CHECK(body == (e.path == "h3" ? *e.data : Bytes{}));
    } else if (e.path == "h2") {
      CHECK(body.empty());
    } else {
      CHECK(body == (e.data ? *e.data : Bytes{}));
    }
    ++i;
  }
  CHECK(i == entries.size());
  archive_read_free(a);
}

TEST_CASE("header and name padding is correct for every name length residue", "[rootfs]") {
  // Independent check: each header starts 4-aligned with the magic, and bodies follow the
  // NUL-terminated name at the next multiple of 4 (buffer-format.rst).
  for (std::size_t len = 1; len <= 8; ++len) {
    for (std::size_t body = 0; body <= 4; ++body) {
      std::vector<CpioEntry> v{entry(std::string(len, 'n'), 0100644, 1, std::string(body, 'B')),
                               entry("z", 0100644, 2, "Z")};
      const Bytes out = write_cpio_newc(v);
      const std::size_t data_at = (110 + len + 1 + 3) / 4 * 4;
      const std::size_t next = (data_at + body + 3) / 4 * 4;
      INFO("name length " << len << ", body " << body);
      CHECK(out.size() % 4 == 0);
      CHECK(as_chars(ByteSpan(out).subspan(110, len + 1)) == std::string(len, 'n') + '\0');
      CHECK(as_chars(ByteSpan(out).subspan(data_at, body)) == std::string(body, 'B'));
      CHECK(as_chars(ByteSpan(out).subspan(next, 6)) == "070701");
    }
  }
}

TEST_CASE("the writer is deterministic and keeps the caller's order", "[rootfs]") {
  auto v = golden_entries();
  CHECK(write_cpio_newc(v) == write_cpio_newc(golden_entries()));
  std::swap(v[0], v[1]);
  const Bytes swapped = write_cpio_newc(v);
  CHECK(as_chars(ByteSpan(swapped).subspan(110, 3)) == std::string_view("ab\0", 3));
}

TEST_CASE("an empty entry list gives just the trailer", "[rootfs]") {
  const Bytes out = write_cpio_newc({});
  CHECK(out.size() == 124);
  CHECK(as_chars(ByteSpan(out).first(6)) == "070701");
  CHECK(as_chars(ByteSpan(out).subspan(110, 11)) == std::string_view("TRAILER!!!\0", 11));
}

TEST_CASE("the writer rejects entries the kernel or cpio cannot represent", "[rootfs]") {
  auto reject = [](std::vector<CpioEntry> v, const char* needle) {
    INFO(needle);
    try {
      write_cpio_newc(v);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  reject({entry("", 0100644, 1)}, "empty path");
  reject({entry("/etc", 0040755, 1)}, "must not start with '/'");
  reject({entry(".", 0040755, 1)}, "reserved path");
  reject({entry("TRAILER!!!", 0100644, 1)}, "reserved path");
  reject({entry(std::string("a\0b", 3), 0100644, 1)}, "NUL");
  reject({entry(std::string(4096, 'p'), 0100644, 1)}, "path longer than 4095");
  reject({entry("x", 0170644, 1)}, "unknown file type");
  reject({entry("d", 0040755, 1, "data")}, "only regular files and symlinks carry data");
  reject({entry("l", 0120777, 1)}, "symlink target");
  reject({entry("l", 0120777, 1, std::string(4097, 't'))}, "symlink target");
  reject({entry("f", 0100644, 1, {}, 0)}, "nlink 0");
  // Hardlink groups: size must equal nlink, metadata and content must agree.
  reject({entry("h1", 0100644, 5, "x", 3), entry("h2", 0100644, 5, "x", 3)},
         "has 2 members but nlink 3");
  reject({entry("h1", 0100644, 5, "x", 2), entry("h2", 0100600, 5, "x", 2)}, "different metadata");
  reject({entry("h1", 0100644, 5, "x", 2), entry("h2", 0100644, 5, "y", 2)}, "different content");
  // The error names the entry index and path.
  reject({entry("ok", 0100644, 1), entry("/bad", 0100644, 2)}, "cpio entry 1 (\"/bad\")");
}

// Hidden (needs 4 GiB of RAM and several seconds): run with `unit_rootfs "[.slow]"`.
TEST_CASE("a file of 4 GiB or more is rejected because c_filesize is 32-bit", "[rootfs][.slow]") {
  CpioEntry big = entry("big", 0100644, 1);
  big.data = std::make_shared<const Bytes>(std::size_t{1} << 32); // 4 GiB of zeros
  std::vector<CpioEntry> v{big};
  CHECK_THROWS_WITH(write_cpio_newc(v), Catch::Contains("4 GiB"));
}

TEST_CASE("cpio_mtime accepts 1970..2106 and rejects the rest", "[rootfs]") {
  CHECK(cpio_mtime(0) == 0);
  CHECK(cpio_mtime(1735689600) == 1735689600U);
  CHECK(cpio_mtime(4294967295LL) == 4294967295U); // 2106-02-07T06:28:15Z
  CHECK_THROWS_AS(cpio_mtime(4294967296LL), Error);
  CHECK_THROWS_AS(cpio_mtime(-1), Error);
}

TEST_CASE("append_initramfs_segment pads the stream to 4 with zeros before a segment", "[rootfs]") {
  Bytes stream = {1, 2, 3, 4, 5};
  const Bytes seg = {9, 9};
  append_initramfs_segment(stream, seg);
  CHECK(stream == Bytes{1, 2, 3, 4, 5, 0, 0, 0, 9, 9});
  append_initramfs_segment(stream, seg);
  CHECK(stream == Bytes{1, 2, 3, 4, 5, 0, 0, 0, 9, 9, 0, 0, 9, 9});
}
