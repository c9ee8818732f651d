// initramfs reader: archives from GNU cpio and the host compressors, multi-segment streams as the
// kernel reads them, one test per kind of corruption, truncation and byte-flip sweeps.

#include <catch2/catch.hpp>
#include <cstdio>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

std::shared_ptr<const Bytes> blob(std::string_view s) {
  return std::make_shared<const Bytes>(to_bytes(s));
}

CpioEntry entry(std::string path, std::uint32_t mode, std::uint32_t ino,
                std::string_view data = {}) {
  CpioEntry e;
  e.path = std::move(path);
  e.mode = mode;
  e.ino = ino;
  e.mtime = 1735689600;
  if (!data.empty()) e.data = blob(data);
  return e;
}

std::string body(const CpioMember& m) {
  return m.entry.data ? std::string(as_chars(*m.entry.data)) : "";
}

std::string run(const std::string& command) {
  std::FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  INFO("command: " << command);
  REQUIRE(::pclose(p) == 0);
  return out;
}

// Builds a 4-segment stream: plain, gzip, zstd, xz; each holds entries named "<seg>/...".
Bytes four_segments(std::vector<std::vector<CpioEntry>>* parts = nullptr) {
  std::vector<std::vector<CpioEntry>> p = {
      {entry("s0", 0040755, 1), entry("s0/init", 0100755, 2, "#!/bin/sh\n")},
      {entry("s1", 0040755, 3), entry("s1/a", 0100644, 4, "gzip segment")},
      {entry("s2", 0040755, 5), entry("s2/link", 0120777, 6, "../s1/a")},
      {entry("s3", 0040755, 7), entry("s3/xz", 0100600, 8, "xz")},
  };
  const Compression methods[] = {Compression::none, Compression::gzip, Compression::zstd,
                                 Compression::xz};
  Bytes stream;
  for (std::size_t i = 0; i < p.size(); ++i) {
    append_initramfs_segment(stream, compress(write_cpio_newc(p[i]), methods[i], 3));
  }
  if (parts != nullptr) *parts = p;
  return stream;
}

// A valid 2-entry plain archive for corruption tests. Header of entry 0 is at offset 0, its name
// "ab" at 110, its body "data" at 116; entry 1 ("TRAILER!!!") at 120.
Bytes small_archive() {
  std::vector<CpioEntry> v{entry("ab", 0100644, 1, "data")};
  return write_cpio_newc(v);
}

void set_field(Bytes& b, std::size_t header, int field, std::string_view hex8) {
  std::copy(hex8.begin(), hex8.end(),
            b.begin() + static_cast<std::ptrdiff_t>(header + 6 + 8 * field));
}

void expect_error(const Bytes& stream, const char* needle, ErrorKind kind = ErrorKind::input) {
  INFO("expecting: " << needle);
  try {
    read_cpio_stream(stream);
    FAIL("no error");
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK(e.kind() == kind);
    CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

} // namespace

TEST_CASE("reads an archive written by GNU cpio", "[rootfs]") {
  const Bytes gnu =
      read_file(fs::path(TDXIMG_SOURCE_DIR) / "tests/data/rootfs/cpio/gnu-cpio-reproducible.cpio");
  const CpioStream s = read_cpio_segments(gnu);
  REQUIRE(s.segments.size() == 1);
  CHECK(s.segments[0].compression == Compression::none);
  CHECK(s.segments[0].stored_size == 1820); // GNU's 512-byte block padding is not part of it
  REQUIRE(s.members.size() == 14);
  CHECK(s.members[5].entry.path == "bin/busybox");
  CHECK(body(s.members[5]) == "busybox-bytes\n");
  CHECK(s.members[6].entry.mode == 0120777);
  CHECK(body(s.members[6]) == "busybox");
  CHECK(s.members[8].entry.rdev_major == 5);
  CHECK(s.members[8].entry.rdev_minor == 1);
  CHECK(s.members[13].entry.path == "h3");
  CHECK(s.members[13].entry.nlink == 3);
  CHECK(body(s.members[13]) == "hardlinked\n");
  CHECK(body(s.members[12]).empty());
}

TEST_CASE("our writer's output reads back with every field", "[rootfs]") {
  std::vector<CpioEntry> v{entry("d", 0040711, 10), entry("d/f", 0100640, 11, "content"),
                           entry("d/l", 0120777, 12, "f"), entry("d/c", 0020620, 13)};
  v[1].uid = 1000;
  v[1].gid = 100;
  v[3].rdev_major = 4;
  v[3].rdev_minor = 64;
  const auto members = read_cpio_stream(write_cpio_newc(v));
  REQUIRE(members.size() == v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const CpioEntry& a = v[i];
    const CpioEntry& b = members[i].entry;
    CHECK(a.path == b.path);
    CHECK(a.mode == b.mode);
    CHECK(a.uid == b.uid);
    CHECK(a.gid == b.gid);
    CHECK(a.nlink == b.nlink);
    CHECK(a.mtime == b.mtime);
    CHECK(a.ino == b.ino);
    CHECK(a.rdev_major == b.rdev_major);
    CHECK(a.rdev_minor == b.rdev_minor);
    CHECK((a.data ? *a.data : Bytes{}) == *b.data);
    CHECK(members[i].segment == 0);
  }
}

TEST_CASE("reads gzip, zstd, xz and plain segments concatenated", "[rootfs]") {
  std::vector<std::vector<CpioEntry>> parts;
  const Bytes stream = four_segments(&parts);
  const CpioStream s = read_cpio_segments(stream);
  REQUIRE(s.segments.size() == 4);
  CHECK(s.segments[0].compression == Compression::none);
  CHECK(s.segments[1].compression == Compression::gzip);
  CHECK(s.segments[2].compression == Compression::zstd);
  CHECK(s.segments[3].compression == Compression::xz);
  REQUIRE(s.members.size() == 8);
  for (std::size_t i = 0; i < s.members.size(); ++i) {
    CHECK(s.members[i].segment == i / 2);
    CHECK(s.members[i].entry.path == parts[i / 2][i % 2].path);
    CHECK(*s.members[i].entry.data ==
          (parts[i / 2][i % 2].data ? *parts[i / 2][i % 2].data : Bytes{}));
  }
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(s.segments[k].offset % 4 == 0);
    CHECK(s.segments[k].first_member == 2 * k);
    CHECK(s.segments[k].member_count == 2);
    CHECK(s.segments[k].uncompressed_size == write_cpio_newc(parts[k]).size());
    CHECK(s.segments[k].offset + s.segments[k].stored_size <= stream.size());
  }
}

TEST_CASE("reads segments made by GNU cpio and the host compressors", "[rootfs]") {
  TempDir dir;
  const std::string d = dir.path().string();
  run("mkdir -p " + d + "/t/etc && printf 'hello\\n' > " + d + "/t/etc/motd && ln -s motd " + d +
      "/t/etc/issue");
  const std::string list =
      "(cd " + d +
      "/t && find . -mindepth 1 -printf '%P\\n' | LC_ALL=C sort | cpio -o -H newc --quiet)";
  run("{ " + list + "; " + list + " | gzip -n; " + list + " | zstd -q; " + list +
      " | xz --check=crc32; } > " + d + "/initrd");
  const CpioStream s = read_cpio_segments(read_file(dir.path() / "initrd"));
  REQUIRE(s.segments.size() == 4);
  CHECK(s.segments[1].compression == Compression::gzip);
  CHECK(s.segments[2].compression == Compression::zstd);
  CHECK(s.segments[3].compression == Compression::xz);
  REQUIRE(s.members.size() == 12);
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(s.members[3 * k].entry.path == "etc");
    CHECK(s.members[3 * k + 1].entry.path == "etc/issue");
    CHECK(body(s.members[3 * k + 1]) == "motd");
    CHECK(s.members[3 * k + 2].entry.path == "etc/motd");
    CHECK(body(s.members[3 * k + 2]) == "hello\n");
  }
}

TEST_CASE("a compressed segment may hold several archives, zero padding between them", "[rootfs]") {
  Bytes inner = write_cpio_newc(std::vector<CpioEntry>{entry("a", 0100644, 1, "A")});
  inner.insert(inner.end(), 8, 0);
  const Bytes second = write_cpio_newc(std::vector<CpioEntry>{entry("b", 0100644, 2, "B")});
  inner.insert(inner.end(), second.begin(), second.end());
  const CpioStream s = read_cpio_segments(compress(inner, Compression::zstd, 3));
  REQUIRE(s.segments.size() == 1);
  CHECK(s.segments[0].archives == 2);
  REQUIRE(s.members.size() == 2);
  CHECK(s.members[1].entry.path == "b");
}

TEST_CASE("zero padding between segments is skipped like the kernel does", "[rootfs]") {
  Bytes stream = compress(small_archive(), Compression::gzip, 6);
  stream.insert(stream.end(), 7, 0); // after a compressed segment any number of zeros
  append_initramfs_segment(stream, small_archive());
  stream.insert(stream.end(), 16, 0);
  const CpioStream s = read_cpio_segments(stream);
  CHECK(s.segments.size() == 2);
  CHECK(s.members.size() == 2);
}

TEST_CASE("070702 archives with a correct checksum are read, a wrong one is rejected", "[rootfs]") {
  Bytes b = small_archive();
  b[5] = '2';
  // c_check = sum of the body bytes "data" = 0x64+0x61+0x74+0x61 = 0x19A.
  set_field(b, 0, 12, "0000019A");
  CHECK(read_cpio_stream(b).at(0).check == 0x19a);
  set_field(b, 0, 12, "0000019B");
  expect_error(b, "c_check");
}

// ---- one test per kind of corruption ------------------------------------------------------

TEST_CASE("bad magic is rejected with segment, entry and offset", "[rootfs]") {
  Bytes b = small_archive();
  b[120 + 5] = '7';
  expect_error(b, "segment 0 (plain cpio at offset 0x0): entry 1 at offset 0x78: bad magic");
}

TEST_CASE("a non-hex field is rejected naming the field", "[rootfs]") {
  Bytes b = small_archive();
  b[6 + 8 * 6 + 3] = 'g';
  expect_error(b, "field c_filesize: non-hex character 0x67");
}

TEST_CASE("a name without its NUL is rejected", "[rootfs]") {
  Bytes b = small_archive();
  b[112] = 'c';
  expect_error(b, "name is not NUL-terminated");
}

TEST_CASE("a name with an embedded NUL is rejected", "[rootfs]") {
  Bytes b = small_archive();
  b[110] = 0;
  expect_error(b, "name contains a NUL byte");
}

TEST_CASE("a size past the end is rejected", "[rootfs]") {
  Bytes b = small_archive();
  set_field(b, 0, 6, "00001000");
  expect_error(b,
               "entry 0 at offset 0x0: body of 4096 bytes (c_filesize) at 0x74 runs past the end");
}

TEST_CASE("a namesize of 0 is rejected", "[rootfs]") {
  Bytes b = small_archive();
  set_field(b, 0, 11, "00000000");
  expect_error(b, "c_namesize is 0");
}

TEST_CASE("a huge namesize is rejected before reading the name", "[rootfs]") {
  Bytes b = small_archive();
  set_field(b, 0, 11, "FFFFFFFF");
  expect_error(b, "c_namesize 4294967295 exceeds 4096");
}

TEST_CASE("a truncated trailer is rejected", "[rootfs]") {
  Bytes b = small_archive();
  b.resize(b.size() - 8);
  expect_error(b, "entry 1 at offset 0x78: name of 11 bytes runs past the end");
}

TEST_CASE("an archive without a trailer is rejected", "[rootfs]") {
  Bytes b = small_archive();
  b.resize(120);
  expect_error(b, "missing TRAILER!!!");
}

TEST_CASE("data on a directory is rejected", "[rootfs]") {
  Bytes b = small_archive();
  set_field(b, 0, 1, "000041ED");
  expect_error(b, "not a file or symlink");
}

TEST_CASE("an oversized symlink target is rejected", "[rootfs]") {
  std::vector<CpioEntry> v{entry("f", 0100644, 1, std::string(5000, 't'))};
  Bytes b = write_cpio_newc(v);
  set_field(b, 0, 1, "0000A1FF");
  expect_error(b, "symlink target of 5000 bytes");
}

TEST_CASE("a plain header that is not 4-aligned is rejected", "[rootfs]") {
  Bytes b = {0};
  const Bytes a = small_archive();
  b.insert(b.end(), a.begin(), a.end());
  expect_error(b, "segment 0 at offset 0x1: cpio header not 4-aligned");
}

TEST_CASE("junk between segments is rejected as invalid magic", "[rootfs]") {
  Bytes b = small_archive();
  b.insert(b.end(), {'J', 'U', 'N', 'K'});
  expect_error(b, "segment 1 at offset 0xf4: invalid magic (byte 0x4a)");
}

TEST_CASE("junk inside a compressed segment is rejected", "[rootfs]") {
  Bytes inner = small_archive();
  inner.insert(inner.end(), {'J', 'U', 'N', 'K'});
  expect_error(compress(inner, Compression::xz, 1),
               "segment 0 (xz at offset 0x0): junk byte 0x4a at offset 0xf4");
}

TEST_CASE("a compressed segment that ends without a trailer is rejected", "[rootfs]") {
  Bytes inner = small_archive();
  inner.resize(120);
  expect_error(compress(inner, Compression::gzip, 1),
               "segment 0 (gzip at offset 0x0): entry 1 at offset 0x78: missing TRAILER!!!");
}

TEST_CASE("a corrupt compressed segment names the segment", "[rootfs]") {
  Bytes stream = small_archive();
  Bytes z = compress(small_archive(), Compression::zstd, 3);
  z[z.size() - 2] ^= 0xff; // inside the XXH64 checksum
  append_initramfs_segment(stream, z);
  expect_error(stream, "segment 1 (zstd at offset 0xf4): zstd data");
}

TEST_CASE("bzip2, lzma, lzo and lz4 segments are reported as unsupported", "[rootfs]") {
  expect_error(to_bytes("BZh91AY&SY"), "bzip2 compression is not supported",
               ErrorKind::unsupported);
}

TEST_CASE("a decompression bomb stops at max_uncompressed_bytes", "[rootfs]") {
  std::vector<CpioEntry> v{entry("zeros", 0100644, 1, std::string(1 << 20, '\0'))};
  const Bytes stream = compress(write_cpio_newc(v), Compression::zstd, 3);
  CpioReadOptions opts;
  opts.max_uncompressed_bytes = 1 << 19;
  CHECK_THROWS_WITH(read_cpio_segments(stream, opts), Catch::Contains("exceeds the limit"));
  opts.max_uncompressed_bytes = 2 << 20;
  CHECK(read_cpio_segments(stream, opts).members.size() == 1);
}

// ---- sweeps -------------------------------------------------------------------------------

TEST_CASE("every prefix of a 2-segment stream parses as a shorter stream or fails cleanly",
          "[rootfs]") {
  Bytes stream = write_cpio_newc(
      std::vector<CpioEntry>{entry("d", 0040755, 1), entry("d/f", 0100644, 2, "hello")});
  const std::size_t first_end = stream.size();
  append_initramfs_segment(
      stream, compress(write_cpio_newc(std::vector<CpioEntry>{entry("g", 0100644, 3, "zz")}),
                       Compression::zstd, 3));
  REQUIRE(read_cpio_segments(stream).segments.size() == 2);
  for (std::size_t n = 0; n <= stream.size(); ++n) {
    INFO("prefix " << n);
    try {
      const CpioStream s = read_cpio_segments(ByteSpan(stream).first(n));
      // Only the empty stream, the first segment alone, or everything is a valid stream.
      CHECK((n == 0 || n == first_end || n == stream.size()));
      CHECK(s.segments.size() == (n == 0 ? 0U : n == first_end ? 1U : 2U));
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}

TEST_CASE("a flipped byte anywhere in a multi-segment stream never crashes the reader",
          "[rootfs]") {
  const Bytes stream = four_segments();
  for (std::size_t i = 0; i < stream.size(); ++i) {
    for (const std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0xff}}) {
      Bytes bad = stream;
      bad[i] ^= mask;
      try {
        read_cpio_segments(bad);
      } catch (const Error& e) {
        CHECK((e.kind() == ErrorKind::input || e.kind() == ErrorKind::unsupported));
      }
    }
  }
}

TEST_CASE("a missing trailer is accepted like the kernel does when asked", "[rootfs]") {
  Bytes plain = small_archive();
  plain.resize(120); // entry 0 complete, no trailer
  Bytes stream = plain;
  append_initramfs_segment(stream, compress(plain, Compression::gzip, 1));
  CpioReadOptions lenient;
  lenient.require_trailer = false;
  const CpioStream s = read_cpio_segments(stream, lenient);
  REQUIRE(s.segments.size() == 2);
  CHECK(s.segments[0].stored_size == 120);
  CHECK(s.members.size() == 2);
  CHECK(body(s.members[1]) == "data");
  expect_error(stream, "missing TRAILER!!!");
  // A truncated entry is still an error.
  plain.resize(118);
  CHECK_THROWS_AS(read_cpio_segments(plain, lenient), Error);
}

TEST_CASE("a segment after a plain archive must start 4-aligned (broken padding)", "[rootfs]") {
  Bytes stream = small_archive();
  const Bytes z = compress(small_archive(), Compression::zstd, 1);
  stream.push_back(0);
  stream.insert(stream.end(), z.begin(), z.end());
  expect_error(stream, "broken padding: next segment at offset 0xf5");
  // After a compressed segment the kernel restarts its count: no alignment needed before
  // another compressed segment.
  Bytes two = compress(small_archive(), Compression::gzip, 1);
  two.push_back(0);
  two.insert(two.end(), z.begin(), z.end());
  CHECK(read_cpio_segments(two).segments.size() == 2);
}
