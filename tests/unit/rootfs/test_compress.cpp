// Compression: decompressed by the host's gzip/zstd/xz, header fields checked against the format
// specifications (RFC 1952, RFC 8878, .xz 1.x), bombs and garbage rejected.

#include <catch2/catch.hpp>
#include <cstdio>
#include <regex>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;
using namespace tdximg::rootfs;

namespace {

// Compressible but not trivial: a repeating text with a counter, plus some pseudo-random bytes.
Bytes sample(std::size_t n) {
  Bytes out;
  out.reserve(n);
  std::uint32_t x = 12345;
  while (out.size() < n) {
    x = x * 1103515245U + 12345U;
    const std::string line = "line " + std::to_string(out.size() / 37) + " of the sample\n";
    out.insert(out.end(), line.begin(), line.end());
    out.push_back(static_cast<std::uint8_t>(x >> 24));
  }
  out.resize(n);
  return out;
}

std::string run(const std::string& command, int* status = nullptr) {
  std::FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  const int st = ::pclose(p);
  if (status != nullptr) {
    *status = st;
  } else {
    INFO("command: " << command);
    REQUIRE(st == 0);
  }
  return out;
}

struct Method {
  Compression method;
  int level;
  const char* tool; // host decompressor
};
const Method k_methods[] = {
    {Compression::gzip, 9, "gzip -dc"},
    {Compression::zstd, 19, "zstd -q -dc"},
    {Compression::xz, 6, "xz -dc"},
};

} // namespace

TEST_CASE("host gzip, zstd and xz decompress our output to the original bytes", "[rootfs]") {
  TempDir dir;
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{100000}}) {
    const Bytes input = sample(size);
    for (const Method& m : k_methods) {
      INFO(compression_name(m.method) << " of " << size << " bytes");
      const fs::path file = dir.path() / "c.bin";
      write_file_atomic(file, compress(input, m.method, m.level));
      const std::string out = run(std::string(m.tool) + " < " + file.string());
      CHECK(out == as_chars(input));
    }
  }
}

TEST_CASE("compressing the same input twice gives identical bytes", "[rootfs]") {
  const Bytes input = sample(100000);
  for (const Method& m : k_methods) {
    INFO(compression_name(m.method));
    const Bytes a = compress(input, m.method, m.level);
    const Bytes b = compress(Bytes(input), m.method, m.level);
    CHECK(a == b);
    CHECK(a.size() < input.size());
    CHECK(decompress(a, m.method, input.size()) == input);
  }
  CHECK(compress(input, Compression::none, 0) == input);
}

TEST_CASE("the gzip header has mtime 0, no name and OS Unix", "[rootfs]") {
  // RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS.
  const Bytes gz = compress(sample(1000), Compression::gzip, 9);
  REQUIRE(gz.size() > 18);
  CHECK(gz[0] == 0x1f);
  CHECK(gz[1] == 0x8b);
  CHECK(gz[2] == 8); // deflate
  CHECK(gz[3] == 0); // FLG: no FNAME, FCOMMENT, FEXTRA, FHCRC
  CHECK(gz[4] == 0); // MTIME
  CHECK(gz[5] == 0);
  CHECK(gz[6] == 0);
  CHECK(gz[7] == 0);
  CHECK(gz[8] == 2); // XFL 2: maximum compression (level 9)
  CHECK(gz[9] == 3); // OS: Unix
  // `gzip -lv` agrees that there is no stored name and no timestamp to restore.
  TempDir dir;
  write_file_atomic(dir.path() / "x.gz", gz);
  const std::string listing = run("gzip -lv " + (dir.path() / "x.gz").string());
  CHECK_THAT(listing, Catch::Contains("1000"));
}

TEST_CASE("xz output uses the CRC32 check the kernel's decoder supports", "[rootfs]") {
  TempDir dir;
  const fs::path file = dir.path() / "x.xz";
  write_file_atomic(file, compress(sample(5000), Compression::xz, 9));
  const std::string listing = run("xz --robot --list " + file.string());
  CHECK_THAT(listing, Catch::Contains("\tCRC32\t"));
  CHECK_THAT(listing, !Catch::Contains("CRC64"));
}

TEST_CASE("zstd output carries a checksum and the content size", "[rootfs]") {
  TempDir dir;
  const fs::path file = dir.path() / "x.zst";
  write_file_atomic(file, compress(sample(5000), Compression::zstd, 19));
  const std::string listing = run("zstd -lv " + file.string() + " 2>&1");
  CHECK_THAT(listing, Catch::Contains("Check: XXH64"));
  CHECK_THAT(listing, Catch::Contains("5000 B"));
}

TEST_CASE("we decompress what the host tools compressed", "[rootfs]") {
  TempDir dir;
  const Bytes input = sample(100000);
  write_file_atomic(dir.path() / "in", input);
  const std::pair<Compression, const char*> tools[] = {{Compression::gzip, "gzip -n -c"},
                                                       {Compression::zstd, "zstd -q -c"},
                                                       {Compression::xz, "xz -c"},
                                                       {Compression::xz, "xz --check=crc64 -c"}};
  for (const auto& [method, tool] : tools) {
    INFO(tool);
    run(std::string(tool) + " < " + (dir.path() / "in").string() + " > " +
        (dir.path() / "out").string());
    CHECK(decompress(read_file(dir.path() / "out"), method, input.size()) == input);
  }
}

TEST_CASE("decompression stops at max_output (bomb protection)", "[rootfs]") {
  const Bytes zeros(8 << 20, 0);
  for (const Method& m : k_methods) {
    INFO(compression_name(m.method));
    const Bytes c = compress(zeros, m.method, m.level);
    CHECK(decompress(c, m.method, zeros.size()).size() == zeros.size());
    CHECK_THROWS_WITH(decompress(c, m.method, zeros.size() - 1),
                      Catch::Contains("exceeds the limit"));
    CHECK_THROWS_WITH(decompress(c, m.method, 1000), Catch::Contains("exceeds the limit"));
  }
  CHECK_THROWS_WITH(decompress(zeros, Compression::none, 10), Catch::Contains("exceeds the limit"));
}

TEST_CASE("zstd without a content size in the header is still bounded", "[rootfs]") {
  TempDir dir;
  // `zstd -c` reading a pipe does not know the size, so the frame has no content size.
  const std::string out = dir.path().string() + "/z.zst";
  run("head -c 3000000 /dev/zero | zstd -q -c --no-content-size > " + out);
  const Bytes c = read_file(out);
  CHECK(decompress(c, Compression::zstd, 3000000).size() == 3000000);
  CHECK_THROWS_WITH(decompress(c, Compression::zstd, 2999999),
                    Catch::Contains("exceeds the limit"));
}

TEST_CASE(
    "trailing bytes after the frame are rejected by decompress and reported by decompress_frame",
    "[rootfs]") {
  const Bytes input = sample(1000);
  for (const Method& m : k_methods) {
    INFO(compression_name(m.method));
    Bytes c = compress(input, m.method, m.level);
    const std::uint64_t frame_size = c.size();
    c.insert(c.end(), {'0', '7', '0', '7'});
    CHECK_THROWS_WITH(decompress(c, m.method, 1 << 20), Catch::Contains("trailing garbage"));
    const DecompressedFrame f = decompress_frame(c, m.method, 1 << 20);
    CHECK(f.consumed == frame_size);
    CHECK(f.data == input);
  }
}

TEST_CASE("every truncation of a compressed frame fails cleanly", "[rootfs]") {
  const Bytes input = sample(3000);
  for (const Method& m : k_methods) {
    INFO(compression_name(m.method));
    const Bytes c = compress(input, m.method, m.level);
    for (std::size_t n = 0; n < c.size(); ++n) {
      INFO("prefix " << n);
      CHECK_THROWS_AS(decompress(ByteSpan(c).first(n), m.method, 1 << 20), Error);
    }
  }
}

TEST_CASE("a flipped byte anywhere in a frame is detected", "[rootfs]") {
  // gzip (CRC32 + ISIZE), zstd (XXH64 checksum on) and xz (CRC32 check, header CRCs) all carry
  // integrity checks, so no single corrupted byte may decode to different data silently.
  const Bytes input = sample(2000);
  for (const Method& m : k_methods) {
    INFO(compression_name(m.method));
    const Bytes c = compress(input, m.method, m.level);
    for (std::size_t i = 0; i < c.size(); ++i) {
      Bytes bad = c;
      bad[i] ^= 0x55;
      try {
        const Bytes out = decompress(bad, m.method, 1 << 20);
        // A flip in a field that does not affect the data (gzip XFL/OS) may decode fine.
        CHECK(out == input);
      } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
      }
    }
  }
}

TEST_CASE("compression levels out of range are rejected", "[rootfs]") {
  const Bytes input = sample(10);
  CHECK_THROWS_AS(compress(input, Compression::gzip, 10), Error);
  CHECK_THROWS_AS(compress(input, Compression::gzip, -1), Error);
  CHECK_THROWS_AS(compress(input, Compression::zstd, 0), Error);
  CHECK_THROWS_AS(compress(input, Compression::zstd, 23), Error);
  CHECK_THROWS_AS(compress(input, Compression::xz, 10), Error);
}

TEST_CASE("detect_compression recognises the formats by magic", "[rootfs]") {
  const Bytes input = sample(100);
  for (const Method& m : k_methods) {
    CHECK(detect_compression(compress(input, m.method, m.level)) == m.method);
  }
  CHECK(detect_compression(as_bytes("070701000")) == Compression::none);
  CHECK(detect_compression(as_bytes("BZh91AY")) == std::nullopt);
  CHECK(detect_compression(Bytes{0x1f}) == std::nullopt);
  CHECK(detect_compression(Bytes{}) == std::nullopt);
  CHECK(detect_unsupported_compression(as_bytes("BZh91AY")) == "bzip2");
  CHECK(detect_unsupported_compression(Bytes{0x02, 0x21, 0x4c, 0x18, 0}) == "lz4");
  CHECK(detect_unsupported_compression(compress(input, Compression::zstd, 3)).empty());
}

TEST_CASE("compression_library_versions names the runtime zlib, zstd and liblzma", "[rootfs]") {
  const std::string v = compression_library_versions();
  CHECK(std::regex_match(
      v, std::regex(R"(zlib \d+\.\d+(\.\d+)*, zstd \d+\.\d+\.\d+, liblzma \d+\.\d+\.\d+)")));
  // The same versions the host's tools (built from the same Debian sources) report.
  CHECK_THAT(run("zstd --version"),
             Catch::Contains(v.substr(v.find("zstd ") + 5,
                                      v.find(',', v.find("zstd ")) - v.find("zstd ") - 5)));
  CHECK_THAT(run("xz --version"), Catch::Contains(v.substr(v.find("liblzma ") + 8)));
}

TEST_CASE("our output is byte-identical to the reference tools with the same settings",
          "[rootfs]") {
  // zstd CLI single-threaded (nbWorkers 0) with its default checksum + content size; xz CLI with
  // CRC32; python3's zlib binding with the gzip wrapper (wbits 31: zlib's own header, mtime 0,
  // OS 3). Same library, independent drivers: a parameter we set differently shows up here.
  TempDir dir;
  const fs::path in = dir.path() / "in";
  const Bytes input = sample(50000);
  write_file_atomic(in, input);
  const std::string f = in.string();
  for (const int level : {1, 3, 19}) {
    INFO("zstd " << level);
    CHECK(run("zstd -q --single-thread -" + std::to_string(level) + " -c " + f) ==
          as_chars(compress(input, Compression::zstd, level)));
  }
  for (const int level : {0, 6, 9}) {
    INFO("xz " << level);
    CHECK(run("xz --check=crc32 -" + std::to_string(level) + " -c " + f) ==
          as_chars(compress(input, Compression::xz, level)));
  }
  for (const int level : {1, 6, 9}) {
    INFO("gzip " << level);
    const std::string py = "import sys, zlib; c = zlib.compressobj(" + std::to_string(level) +
                           ", zlib.DEFLATED, 31); d = open('" + f +
                           "', 'rb').read(); sys.stdout.buffer.write(c.compress(d) + c.flush())";
    CHECK(run("python3 -c \"" + py + "\"") == as_chars(compress(input, Compression::gzip, level)));
  }
}
