#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <tdximg/disk/fat.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "disk_test_util.hpp"

using namespace tdximg;
using namespace tdximg::disk;
using disk_test::have_tool;
using disk_test::payload;
using disk_test::run;

namespace {

FatSpec spec_with(std::uint64_t size, std::uint32_t spc, std::vector<FatFile> files) {
  FatSpec s;
  s.size_bytes = size;
  s.sectors_per_cluster = spc;
  s.files = std::move(files);
  s.source_date_epoch = 1735689600; // 2025-01-01T00:00:00Z
  return s;
}

// fsck.fat -n (no changes) must find nothing; returns its verbose output.
std::string fsck_clean(const fs::path& img) {
  if (!have_tool("fsck.fat")) {
    WARN("fsck.fat not installed (scripts/setup --test); skipping the check");
    return {};
  }
  const auto r = run("fsck.fat -n -v '" + img.string() + "'");
  INFO(r.output);
  CHECK(r.status == 0);
  // fsck.fat -n lists every problem it would fix; a clean volume has none of these words.
  CHECK(r.output.find("Fix") == std::string::npos);
  CHECK(r.output.find("differ") == std::string::npos);
  CHECK(r.output.find("Leaving") == std::string::npos);
  return r.output;
}

// mtype returns the file exactly (mtools is an independent FAT implementation).
void check_mtools_file(const fs::path& img, const std::string& path, const Bytes& want,
                       const fs::path& tmp) {
  if (!have_tool("mtype")) {
    WARN("mtools not installed; skipping the check");
    return;
  }
  const fs::path out = tmp / "mtype.out";
  const auto r = run("mtype -i '" + img.string() + "' '::/" + path + "' > '" + out.string() + "'");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(read_file(out) == want);
}

} // namespace

TEST_CASE("FAT files of sizes around sector and cluster boundaries pass fsck and read back with mtools", "[disk]") {
  TempDir tmp;
  const std::uint32_t spc = 4; // 2048-byte clusters, to hit cluster +-1 distinctly from sectors
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{511}, std::size_t{512},
                        std::size_t{513}, std::size_t{2047}, std::size_t{2048}, std::size_t{2049},
                        std::size_t{3} * 1024 * 1024 + 7}) {
    INFO("payload size " << n);
    const Bytes data = payload(n, static_cast<std::uint32_t>(n + 1));
    const Bytes other = payload(100, 99);
    const Bytes img = make_fat(spec_with(8 * 1024 * 1024, spc,
                                         {{"EFI/BOOT/BOOTX64.EFI", data}, {"EFI/README.TXT", other}}));
    const fs::path p = tmp.path() / "v.img";
    write_file_atomic(p, img);
    fsck_clean(p);
    check_mtools_file(p, "EFI/BOOT/BOOTX64.EFI", data, tmp.path());
    check_mtools_file(p, "EFI/README.TXT", other, tmp.path());
    CHECK(read_fat_file_in_volume(img, "EFI/BOOT/BOOTX64.EFI") == data);
    CHECK(read_fat_file_in_volume(img, "efi/boot/bootx64.efi") == data);
    const FatInfo info = inspect_fat(img);
    REQUIRE(info.entries.size() == 4);
    CHECK(info.entries[0].path == "EFI");
    CHECK(info.entries[1].path == "EFI/BOOT");
    CHECK(info.entries[2].path == "EFI/BOOT/BOOTX64.EFI");
    CHECK(info.entries[2].size_bytes == n);
    CHECK(info.entries[2].sha256 == sha256(data));
    CHECK(info.entries[3].path == "EFI/README.TXT");
  }
}

TEST_CASE("the FAT type follows the cluster count around both thresholds and fsck.fat agrees", "[disk]") {
  TempDir tmp;
  // Sizes (in sectors, 1 sector per cluster) just below and above 4085 and 65525 clusters.
  // Sizes right at a threshold have no self-consistent layout and must be refused.
  struct Want {
    std::uint64_t sectors;
    FatType type;
  };
  int refused = 0;
  std::vector<Want> seen;
  for (std::uint64_t base : {std::uint64_t{4085 + 57}, std::uint64_t{65525 + 1092}}) {
    for (std::uint64_t s = base - 40; s <= base + 80; s += 8) {
      try {
        const FatGeometry g = fat_geometry(s * 512, 1);
        CHECK(g.type == fat_type_for_clusters(g.cluster_count));
        seen.push_back({s, g.type});
      } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::unsupported);
        ++refused;
      }
    }
  }
  CHECK(refused > 0);
  CHECK(std::count_if(seen.begin(), seen.end(), [](const Want& w) { return w.type == FatType::fat12; }) > 0);
  CHECK(std::count_if(seen.begin(), seen.end(), [](const Want& w) { return w.type == FatType::fat16; }) > 0);
  CHECK(std::count_if(seen.begin(), seen.end(), [](const Want& w) { return w.type == FatType::fat32; }) > 0);
  // The volumes nearest each side of each threshold go to fsck.fat, which derives the type
  // itself (dosfstools: FAT32 from BPB_FATSz16 == 0, else 12/16 from the cluster count).
  std::vector<Want> probe;
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
    if (seen[i].type != seen[i + 1].type) {
      probe.push_back(seen[i]);
      probe.push_back(seen[i + 1]);
    }
  }
  REQUIRE(probe.size() == 4);
  for (const Want& w : probe) {
    INFO("sectors " << w.sectors << " type " << fat_type_name(w.type));
    const Bytes data = payload(3000, 7);
    const Bytes img = make_fat(spec_with(w.sectors * 512, 1, {{"EFI/BOOT/BOOTX64.EFI", data}}));
    const fs::path p = tmp.path() / "t.img";
    write_file_atomic(p, img);
    const std::string out = fsck_clean(p);
    if (!out.empty()) {
      const std::string bits = w.type == FatType::fat12 ? "12 bit entries"
                               : w.type == FatType::fat16 ? "16 bit entries" : "32 bit entries";
      CHECK(out.find(bits) != std::string::npos);
    }
    check_mtools_file(p, "EFI/BOOT/BOOTX64.EFI", data, tmp.path());
    CHECK(inspect_fat(img).type == w.type);
  }
}

TEST_CASE("FAT timestamps are SOURCE_DATE_EPOCH in UTC, clamped to 1980..2107", "[disk]") {
  TempDir tmp;
  // Expected DOS dates/times computed by Python's datetime (an independent calendar
  // implementation) from the FAT encoding in fatgen103 §6.
  if (!have_tool("python3")) {
    WARN("python3 not installed; skipping");
    return;
  }
  const std::vector<std::int64_t> sdes = {1735733045, 0, -5, 951782400 + 86399, 9999999999};
  std::string list;
  for (std::int64_t t : sdes) list += std::to_string(t) + ",";
  const auto py = run(
      "python3 -c \"import datetime as d\n"
      "lo=d.datetime(1980,1,1,tzinfo=d.timezone.utc)\n"
      "hi=d.datetime(2107,12,31,23,59,59,tzinfo=d.timezone.utc)\n"
      "for t in [" + list + "]:\n"
      " x=lo if t<0 else min(max(d.datetime.fromtimestamp(min(t,253402300798),d.timezone.utc),lo),hi)\n"
      " print(((x.year-1980)<<9)|(x.month<<5)|x.day,(x.hour<<11)|(x.minute<<5)|(x.second//2))\"");
  REQUIRE(py.status == 0);
  std::istringstream lines(py.output);
  for (std::int64_t sde : sdes) {
    INFO("SOURCE_DATE_EPOCH " << sde);
    FatSpec s = spec_with(1024 * 1024, 1, {{"A.TXT", payload(10)}});
    s.source_date_epoch = sde;
    s.label = "";
    const Bytes img = make_fat(s);
    unsigned want_date = 0, want_time = 0;
    REQUIRE(static_cast<bool>(lines >> want_date >> want_time));
    // FAT12 root directory: reserved(1) + 2 FATs; the first entry is A.TXT (no label).
    const FatGeometry g = fat_geometry(s.size_bytes, 1);
    const std::size_t e = (g.reserved_sectors + 2 * g.fat_sectors) * 512;
    CHECK(std::string(img.begin() + e, img.begin() + e + 11) == "A       TXT");
    CHECK(load_u16le(img, e + 14, "crt time") == want_time);
    CHECK(load_u16le(img, e + 16, "crt date") == want_date);
    CHECK(load_u16le(img, e + 18, "acc date") == want_date);
    CHECK(load_u16le(img, e + 22, "wrt time") == want_time);
    CHECK(load_u16le(img, e + 24, "wrt date") == want_date);
    const fs::path p = tmp.path() / "ts.img";
    write_file_atomic(p, img);
    fsck_clean(p);
  }
}

TEST_CASE("mdir shows the SOURCE_DATE_EPOCH date and the volume label", "[disk]") {
  if (!have_tool("mdir")) {
    WARN("mtools not installed; skipping");
    return;
  }
  TempDir tmp;
  const Bytes img = make_fat(spec_with(2 * 1024 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(700)}}));
  const fs::path p = tmp.path() / "m.img";
  write_file_atomic(p, img);
  const auto r = run("TZ=UTC mdir -i '" + p.string() + "' ::/EFI/BOOT");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("Volume in drive : is ESP") != std::string::npos);
  CHECK(r.output.find("BOOTX64  EFI       700 2025-01-01") != std::string::npos);
}

TEST_CASE("make_fat rejects names that are not upper-case 8.3 and conflicting paths", "[disk]") {
  for (const char* bad : {"EFI/BOOT/bootx64.efi", "EFI/BOOT/LONGFILENAME.EFI", "EFI/BOOT/A.EFIX",
                          "/EFI/A.EFI", "EFI//A.EFI", "EFI/A B.EFI", "EFI/.", "EFI/A.", "EFI/A/"}) {
    INFO(bad);
    try {
      make_fat(spec_with(1024 * 1024, 1, {{bad, payload(1)}}));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK(std::string(e.what()).find("FAT file") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(make_fat(spec_with(1024 * 1024, 1, {{"A/B.EFI", payload(1)}, {"A/B.EFI", payload(2)}})), Error);
  CHECK_THROWS_AS(make_fat(spec_with(1024 * 1024, 1, {{"A", payload(1)}, {"A/B.EFI", payload(2)}})), Error);
  // Too big for the volume.
  try {
    make_fat(spec_with(1024 * 1024, 1, {{"A.BIN", payload(2 * 1024 * 1024)}}));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
  }
}

TEST_CASE("make_fat is deterministic and the serial follows the content", "[disk]") {
  const auto a = make_fat(spec_with(1024 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(5000, 1)}}));
  const auto b = make_fat(spec_with(1024 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(5000, 1)}}));
  const auto c = make_fat(spec_with(1024 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(5000, 2)}}));
  CHECK(a == b);
  CHECK(inspect_fat(a).volume_serial == inspect_fat(b).volume_serial);
  CHECK(inspect_fat(a).volume_serial != inspect_fat(c).volume_serial);
  // Input order does not matter.
  const auto d = make_fat(spec_with(1024 * 1024, 1, {{"B.TXT", payload(3)}, {"A.TXT", payload(4)}}));
  const auto e = make_fat(spec_with(1024 * 1024, 1, {{"A.TXT", payload(4)}, {"B.TXT", payload(3)}}));
  CHECK(d == e);
}

// ---- the reader on untrusted input --------------------------------------------------------

namespace {
Bytes small_fat32() {
  // 33 MiB with 512-byte clusters is the smallest FAT32 the ESP uses.
  return make_fat(spec_with(33 * 1024 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(3000, 5)}}));
}

template <typename F> void expect_input_error(F&& f, const std::string& needle) {
  try {
    f();
    FAIL("expected an error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}
} // namespace

TEST_CASE("the FAT reader rejects a cluster chain that loops", "[disk]") {
  Bytes v = small_fat32();
  const FatGeometry g = fat_geometry(v.size(), 1);
  // Root is cluster 2, EFI 3, BOOT 4, the file 5..10: make cluster 6 point back to 5.
  const std::size_t fat = g.reserved_sectors * 512;
  v[fat + 4 * 6] = 5;
  v[fat + 4 * 6 + 1] = v[fat + 4 * 6 + 2] = v[fat + 4 * 6 + 3] = 0;
  expect_input_error([&] { read_fat_file_in_volume(v, "EFI/BOOT/BOOTX64.EFI"); }, "loops");
}

TEST_CASE("the FAT reader rejects a chain that points outside the volume", "[disk]") {
  Bytes v = small_fat32();
  const FatGeometry g = fat_geometry(v.size(), 1);
  const std::size_t fat = g.reserved_sectors * 512;
  v[fat + 4 * 6 + 3] = 0x0E; // cluster 6 -> 0x0E000007, far past the last cluster
  expect_input_error([&] { inspect_fat(v); }, "invalid entry");
}

TEST_CASE("the FAT reader rejects a file larger than its chain", "[disk]") {
  Bytes v = small_fat32();
  const FatInfo before = inspect_fat(v);
  REQUIRE(before.entries.size() == 3);
  // Find the BOOTX64 EFI entry and make its size claim 10 clusters more.
  const std::string name = "BOOTX64 EFI";
  auto it = std::search(v.begin(), v.end(), name.begin(), name.end());
  REQUIRE(it != v.end());
  const std::size_t e = static_cast<std::size_t>(it - v.begin());
  v[e + 29] = static_cast<std::uint8_t>(v[e + 29] + 20); // +10240 bytes
  expect_input_error([&] { inspect_fat(v); }, "do not fit");
}

TEST_CASE("the FAT reader rejects a bad BPB", "[disk]") {
  Bytes v = small_fat32();
  Bytes a = v;
  a[11] = 0; // BPB_BytsPerSec = 0x200 -> 0x200 with low byte 0 is still 512; make it 0x300
  a[12] = 3;
  expect_input_error([&] { inspect_fat(a); }, "BPB_BytsPerSec");
  Bytes b = v;
  b[13] = 3;
  expect_input_error([&] { inspect_fat(b); }, "BPB_SecPerClus");
  Bytes c = v;
  c[44] = 0; // BPB_RootClus
  expect_input_error([&] { inspect_fat(c); }, "cluster 0");
  Bytes d = v;
  d[14] = d[15] = 0;
  expect_input_error([&] { inspect_fat(d); }, "BPB_RsvdSecCnt");
}

TEST_CASE("the FAT reader reports a missing file", "[disk]") {
  const Bytes v = small_fat32();
  expect_input_error([&] { read_fat_file_in_volume(v, "EFI/BOOT/GRUBX64.EFI"); }, "no file");
  expect_input_error([&] { read_fat_file_in_volume(v, "EFI/BOOT"); }, "no file");
}

TEST_CASE("every truncation of a FAT volume fails cleanly", "[disk]") {
  const Bytes v = make_fat(spec_with(64 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(1500, 3)}}));
  REQUIRE(inspect_fat(v).entries.size() == 3);
  for (std::size_t n = 0; n < v.size(); n += 97) {
    INFO("prefix " << n);
    CHECK_THROWS_AS(inspect_fat(ByteSpan(v).subspan(0, n)), Error);
  }
}

TEST_CASE("random corruption of FAT metadata never crashes the reader", "[disk]") {
  const Bytes v = make_fat(spec_with(64 * 1024, 1, {{"EFI/BOOT/BOOTX64.EFI", payload(1500, 3)}}));
  std::uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    Bytes c = v;
    for (int k = 0; k < 4; ++k) {
      x = x * 1103515245 + 12345;
      const std::size_t pos = (x >> 8) % 8192; // boot sector, FATs, root directory, first data
      x = x * 1103515245 + 12345;
      c[pos] = static_cast<std::uint8_t>(x >> 16);
    }
    try {
      const FatInfo fi = inspect_fat(c);
      (void)fi;
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}
