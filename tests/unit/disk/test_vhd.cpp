#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include <tdximg/disk/image.hpp>
#include <tdximg/disk/vhd.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "disk_test_util.hpp"

using namespace tdximg;
using namespace tdximg::disk;
using disk_test::have_tool;
using disk_test::payload;
using disk_test::run;

TEST_CASE("a fixed VHD has qemu-img's exact virtual size and the raw disk's bytes", "[disk]") {
  DiskSpec s;
  s.files.push_back({"EFI/BOOT/BOOTX64.EFI", payload(70000)});
  s.source_date_epoch = 1735689600;
  const Bytes raw = make_esp_disk(s);
  const Bytes vhd = make_vhd(raw, s.source_date_epoch);
  REQUIRE(vhd.size() == raw.size() + 512);
  CHECK(Bytes(vhd.begin(), vhd.end() - 512) == raw);
  const VhdFooterInfo f = read_vhd_footer(vhd);
  CHECK(f.checksum_ok);
  CHECK(f.current_size == raw.size());
  CHECK(f.disk_type == 2);
  CHECK(f.timestamp == 1735689600 - 946684800);
  if (!have_tool("qemu-img")) {
    WARN("qemu-img not installed (scripts/setup --test); skipping");
    return;
  }
  TempDir tmp;
  const fs::path pv = tmp.path() / "disk.vhd";
  const fs::path pr = tmp.path() / "disk.raw";
  write_file_atomic(pv, vhd);
  write_file_atomic(pr, raw);
  const auto info = run("qemu-img info -f vpc --output=json '" + pv.string() + "'");
  INFO(info.output);
  REQUIRE(info.status == 0);
  CHECK(info.output.find("\"virtual-size\": " + std::to_string(raw.size()) + ",") != std::string::npos);
  const auto cmp = run("qemu-img compare -f vpc -F raw '" + pv.string() + "' '" + pr.string() + "'");
  INFO(cmp.output);
  CHECK(cmp.status == 0);
  CHECK(cmp.output.find("Images are identical") != std::string::npos);
  // qemu-img check does not support vpc ("This image format does not support checks"),
  // so it proves nothing and is not run.
}

TEST_CASE("a raw size that is not a whole MiB is padded with zeros in the VHD", "[disk]") {
  const Bytes raw = payload(3 * 512 + 7);
  const Bytes vhd = make_vhd(raw, 0);
  REQUIRE(vhd.size() == k_mib + 512);
  CHECK(Bytes(vhd.begin(), vhd.begin() + static_cast<std::ptrdiff_t>(raw.size())) == raw);
  CHECK(std::all_of(vhd.begin() + static_cast<std::ptrdiff_t>(raw.size()), vhd.end() - 512,
                    [](std::uint8_t b) { return b == 0; }));
  CHECK(read_vhd_footer(vhd).current_size == k_mib);
  CHECK(read_vhd_footer(vhd).timestamp == 0); // 1970 clamps to the VHD epoch 2000
  CHECK(read_vhd_footer(make_vhd(raw, 99999999999)).timestamp == 0xFFFFFFFFU);
}

TEST_CASE("VHD CHS geometry matches the footers qemu-img writes", "[disk]") {
  if (!have_tool("qemu-img")) {
    WARN("qemu-img not installed; skipping");
    return;
  }
  TempDir tmp;
  // Sizes whose CHS product is exact, so qemu keeps the size and writes the geometry of the
  // VHD spec's algorithm unchanged (block/vpc.c calculate_geometry): one per branch
  // (17, 31, 63 and 255 sectors per track).
  for (std::uint64_t sectors : {std::uint64_t{17} * 4 * 1000, std::uint64_t{31} * 16 * 1000,
                                std::uint64_t{63} * 16 * 2000, std::uint64_t{255} * 16 * 20000}) {
    INFO("sectors " << sectors);
    const fs::path p = tmp.path() / "q.vhd";
    fs::remove(p);
    const auto r = run("qemu-img create -q -f vpc -o subformat=fixed '" + p.string() + "' " +
                       std::to_string(sectors * 512));
    INFO(r.output);
    REQUIRE(r.status == 0);
    // Read only the footer (the file is sparse and may be large).
    const auto tail = run("tail -c 512 '" + p.string() + "' | od -An -tx1 -v -j48 -N12");
    std::istringstream hex(tail.output);
    std::vector<unsigned> b;
    unsigned x = 0;
    while (hex >> std::hex >> x) b.push_back(x);
    REQUIRE(b.size() == 12);
    std::uint64_t current = 0;
    for (int i = 0; i < 8; ++i) current = (current << 8) | b[i];
    REQUIRE(current == sectors * 512);
    const VhdGeometry g = vhd_chs(sectors * 512);
    CHECK(g.cylinders == ((b[8] << 8) | b[9]));
    CHECK(g.heads == b[10]);
    CHECK(g.sectors_per_track == b[11]);
    fs::remove(p);
  }
}

TEST_CASE("the VHD footer reader rejects a missing cookie and reports a bad checksum", "[disk]") {
  Bytes vhd = make_vhd(payload(1000), 1735689600);
  Bytes a = vhd;
  a[a.size() - 512] = 'X';
  try {
    read_vhd_footer(a);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find("cookie") != std::string::npos);
  }
  vhd[vhd.size() - 512 + 50] ^= 1;
  CHECK_FALSE(read_vhd_footer(vhd).checksum_ok);
  CHECK_THROWS_AS(read_vhd_footer(ByteSpan(vhd).subspan(0, 511)), Error);
  CHECK(make_vhd(payload(1000), 5) == make_vhd(payload(1000), 5));
}
