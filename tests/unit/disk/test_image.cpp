#include <catch2/catch.hpp>

#include <zlib.h>

#include <tdximg/disk/image.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

#include "disk_test_util.hpp"

using namespace tdximg;
using namespace tdximg::disk;
using disk_test::have_tool;
using disk_test::payload;
using disk_test::run;

namespace {

DiskSpec uki_spec(std::size_t n, std::uint32_t seed = 1) {
  DiskSpec s;
  s.files.push_back({"EFI/BOOT/BOOTX64.EFI", payload(n, seed)});
  s.source_date_epoch = 1735689600;
  return s;
}

// "Key: value" from sgdisk output.
std::string field(const std::string& out, const std::string& key) {
  const auto p = out.find(key);
  if (p == std::string::npos) return {};
  const auto b = p + key.size();
  return out.substr(b, out.find_first_of(" \n", b) - b);
}

} // namespace

TEST_CASE("the raw disk passes sgdisk -v and sgdisk reads back our partition and GUIDs", "[disk]") {
  if (!have_tool("sgdisk")) {
    WARN("sgdisk not installed (scripts/setup --test); skipping");
    return;
  }
  TempDir tmp;
  const Bytes disk = make_esp_disk(uki_spec(1000000));
  const fs::path p = tmp.path() / "disk.raw";
  write_file_atomic(p, disk);
  const auto v = run("sgdisk -v '" + p.string() + "'");
  INFO(v.output);
  CHECK(v.status == 0);
  CHECK(v.output.find("No problems found") != std::string::npos);

  const DiskInfo info = inspect_disk(disk);
  REQUIRE(info.gpt.partitions.size() == 1);
  const GptPartition& part = info.gpt.partitions[0];
  const auto i = run("sgdisk -i 1 '" + p.string() + "'");
  INFO(i.output);
  REQUIRE(i.status == 0);
  CHECK(field(i.output, "Partition GUID code: ") == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  CHECK(field(i.output, "Partition unique GUID: ") == guid_to_string(part.unique_guid));
  CHECK(field(i.output, "First sector: ") == "2048");
  CHECK(field(i.output, "Last sector: ") == std::to_string(part.last_lba));
  CHECK(field(i.output, "Attribute flags: ") == "0000000000000000");
  CHECK(i.output.find("Partition name: 'EFI System Partition'") != std::string::npos);
  const auto pr = run("sgdisk -p '" + p.string() + "'");
  const std::string disk_guid = field(pr.output, "Disk identifier (GUID): ");
  CHECK(disk_guid == guid_to_string(info.gpt.primary.disk_guid));
  // RFC 4122 version 4, variant 10, as sgdisk prints them.
  for (const std::string& g : {disk_guid, field(i.output, "Partition unique GUID: ")}) {
    REQUIRE(g.size() == 36);
    CHECK(g[14] == '4');
    CHECK(std::string("89AB").find(g[19]) != std::string::npos);
  }
  // Disk size: a whole MiB, 1 MiB before the ESP and room for the backup GPT after it.
  CHECK(disk.size() % k_mib == 0);
  CHECK((part.last_lba + 1 + 33) * 512 <= disk.size());
  CHECK(info.gpt.primary.valid);
  CHECK(info.gpt.backup.valid);
  CHECK(info.gpt.protective_mbr_ok);
}

TEST_CASE("the ESP inside the disk passes fsck.fat and mtools returns the UKI bytes", "[disk]") {
  TempDir tmp;
  for (std::size_t n : {std::size_t{0}, std::size_t{513}, std::size_t{5} * 1024 * 1024 + 1}) {
    INFO("payload " << n);
    const DiskSpec s = uki_spec(n, static_cast<std::uint32_t>(n));
    const Bytes disk = make_esp_disk(s);
    const fs::path raw = tmp.path() / "disk.raw";
    const fs::path esp = tmp.path() / "esp.img";
    write_file_atomic(raw, disk);
    // Extract the partition with dd (not our own code) at the offset sgdisk would report.
    REQUIRE(run("dd if='" + raw.string() + "' of='" + esp.string() +
                "' bs=1M skip=1 count=" + std::to_string(esp_size_for(s.files) / k_mib) + " status=none")
                .status == 0);
    CHECK(read_file(esp) == Bytes(esp_partition(disk).begin(), esp_partition(disk).end()));
    if (have_tool("fsck.fat")) {
      const auto f = run("fsck.fat -n -v '" + esp.string() + "'");
      INFO(f.output);
      CHECK(f.status == 0);
      CHECK(f.output.find("32 bit entries") != std::string::npos); // the ESP is FAT32
      CHECK(f.output.find("2048 hidden sectors") != std::string::npos);
    }
    if (have_tool("mtype")) {
      const fs::path out = tmp.path() / "uki.out";
      // mtools reads the partition straight out of the disk image (@@offset).
      REQUIRE(run("mtype -i '" + raw.string() + "@@1048576' ::/EFI/BOOT/BOOTX64.EFI > '" + out.string() + "'").status == 0);
      CHECK(read_file(out) == s.files[0].data);
    }
    CHECK(read_fat_file(disk, "EFI/BOOT/BOOTX64.EFI") == s.files[0].data);
    const DiskInfo info = inspect_disk(disk);
    REQUIRE(info.esp);
    CHECK(info.esp->type == FatType::fat32);
    CHECK(info.esp->label == "ESP");
  }
}

TEST_CASE("make_esp_disk is deterministic and GUIDs change with the payload", "[disk]") {
  const Bytes a = make_esp_disk(uki_spec(4096, 1));
  const Bytes b = make_esp_disk(uki_spec(4096, 1));
  const Bytes c = make_esp_disk(uki_spec(4096, 2));
  CHECK(a == b);
  const DiskInfo ia = inspect_disk(a);
  const DiskInfo ic = inspect_disk(c);
  CHECK(ia.gpt.primary.disk_guid != ic.gpt.primary.disk_guid);
  CHECK(ia.gpt.partitions[0].unique_guid != ic.gpt.partitions[0].unique_guid);
  CHECK(ia.gpt.primary.disk_guid != ia.gpt.partitions[0].unique_guid);
  CHECK(ia.esp->volume_serial != ic.esp->volume_serial);
  // A different SOURCE_DATE_EPOCH changes the FAT timestamps, hence the disk.
  DiskSpec later = uki_spec(4096, 1);
  later.source_date_epoch += 86400;
  CHECK(make_esp_disk(later) != a);
}

TEST_CASE("the ESP size follows the documented rule and min_disk_bytes only grows the disk", "[disk]") {
  CHECK(esp_size_for({}) == 33 * k_mib);
  CHECK(esp_size_for({{"A.EFI", payload(40 * k_mib)}}) == 50 * k_mib); // 40 * 1.2 + 2
  CHECK(esp_size_for({{"A.EFI", payload(40 * k_mib + 1)}}) == 51 * k_mib); // rounded up
  DiskSpec s = uki_spec(1000);
  CHECK(make_esp_disk(s).size() == 35 * k_mib);
  s.min_disk_bytes = 100 * k_mib + 1;
  const Bytes big = make_esp_disk(s);
  CHECK(big.size() == 101 * k_mib);
  const DiskInfo info = inspect_disk(big);
  CHECK(info.gpt.backup.valid);
  CHECK(info.gpt.partitions[0].last_lba == 2048 + 33 * 2048 - 1);
  CHECK(info.esp->sectors_per_cluster == 1);
}

TEST_CASE("an ESP above 260 MiB uses 4 KiB clusters and still passes fsck.fat", "[disk]") {
  DiskSpec s = uki_spec(5000);
  s.min_esp_bytes = 261 * k_mib;
  const Bytes disk = make_esp_disk(s);
  const DiskInfo info = inspect_disk(disk);
  REQUIRE(info.esp);
  CHECK(info.esp->sectors_per_cluster == 8);
  CHECK(info.esp->type == FatType::fat32);
  if (have_tool("fsck.fat")) {
    TempDir tmp;
    const fs::path esp = tmp.path() / "esp.img";
    write_file_atomic(esp, esp_partition(disk));
    const auto f = run("fsck.fat -n -v '" + esp.string() + "'");
    INFO(f.output);
    CHECK(f.status == 0);
    CHECK(f.output.find("4096 bytes per cluster") != std::string::npos);
  }
}

// ---- EV_EFI_GPT_EVENT -------------------------------------------------------------------

TEST_CASE("gpt_event_data of an sgdisk-made disk is header, count and the non-empty entries", "[disk]") {
  if (!have_tool("sgdisk")) {
    WARN("sgdisk not installed; skipping");
    return;
  }
  TempDir tmp;
  const fs::path p = tmp.path() / "sg.raw";
  // sgdisk builds the table: partitions in slots 1 and 3, slot 2 empty.
  REQUIRE(run("truncate -s 8M '" + p.string() + "' && sgdisk -o -n 1:2048:+1M -t 1:EF00 -n 3:0:+2M -t 3:8300 -c 3:root '" +
              p.string() + "'").status == 0);
  const Bytes disk = read_file(p);
  const Bytes ev = gpt_event_data(disk);
  // UEFI_GPT_DATA: the 92-byte header from LBA 1 as on disk, UINT64 count, entries 0 and 2.
  REQUIRE(ev.size() == 92 + 8 + 2 * 128);
  CHECK(Bytes(ev.begin(), ev.begin() + 92) == Bytes(disk.begin() + 512, disk.begin() + 512 + 92));
  CHECK(load_u64le(ev, 92, "count") == 2);
  CHECK(Bytes(ev.begin() + 100, ev.begin() + 228) == Bytes(disk.begin() + 1024, disk.begin() + 1024 + 128));
  CHECK(Bytes(ev.begin() + 228, ev.end()) == Bytes(disk.begin() + 1024 + 256, disk.begin() + 1024 + 384));
  const GptInfo g = read_gpt(disk);
  REQUIRE(g.partitions.size() == 2);
  CHECK(g.partitions[1].index == 2);
  CHECK(g.partitions[1].name == "root");
  CHECK(g.backup.valid);
}

TEST_CASE("gpt_event_data of our disk has one partition entry", "[disk]") {
  const Bytes disk = make_esp_disk(uki_spec(100));
  const Bytes ev = gpt_event_data(disk);
  REQUIRE(ev.size() == 92 + 8 + 128);
  CHECK(load_u64le(ev, 92, "count") == 1);
  CHECK(Bytes(ev.begin(), ev.begin() + 92) == Bytes(disk.begin() + 512, disk.begin() + 604));
}

// ---- the reader on untrusted input --------------------------------------------------------

namespace {
// Recomputes a GPT header's CRC32 with zlib, so a test can corrupt one field and keep the
// header otherwise valid.
void refix_header_crc(Bytes& d, std::size_t off) {
  for (int i = 0; i < 4; ++i) d[off + 16 + i] = 0;
  const uLong crc = ::crc32(0L, d.data() + off, 92);
  for (int i = 0; i < 4; ++i) d[off + 16 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
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

TEST_CASE("a corrupt primary GPT header is an error naming the field", "[disk]") {
  const Bytes disk = make_esp_disk(uki_spec(100));
  Bytes a = disk;
  a[512 + 40] ^= 1; // FirstUsableLBA, CRC now wrong
  expect_input_error([&] { inspect_disk(a); }, "HeaderCRC32");
  Bytes b = disk;
  b[512] = 'X';
  expect_input_error([&] { inspect_disk(b); }, "EFI PART");
  Bytes c = disk;
  c[1024 + 100] ^= 1; // partition name: array CRC
  expect_input_error([&] { inspect_disk(c); }, "PartitionEntryArrayCRC32");
  {
    Bytes d = disk;
    d[512 + 84] = 0x10; // SizeOfPartitionEntry 16
    refix_header_crc(d, 512);
    expect_input_error([&] { inspect_disk(d); }, "SizeOfPartitionEntry");
    Bytes e = disk;
    e[512 + 80] = 0xFF;
    e[512 + 81] = 0xFF;
    e[512 + 82] = 0xFF; // 16M entries
    refix_header_crc(e, 512);
    expect_input_error([&] { inspect_disk(e); }, "NumberOfPartitionEntries");
    Bytes f = disk;
    f[1024 + 40] = 0xFF; // EndingLBA past LastUsableLBA; fix the array CRC too
    f[1024 + 41] = 0xFF;
    f[1024 + 42] = 0xFF;
    const uLong crc = ::crc32(0L, f.data() + 1024, 16384);
    for (int i = 0; i < 4; ++i) f[512 + 88 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    refix_header_crc(f, 512);
    expect_input_error([&] { inspect_disk(f); }, "outside usable");
  }
}

TEST_CASE("a corrupt backup GPT is reported, not fatal", "[disk]") {
  Bytes disk = make_esp_disk(uki_spec(100));
  disk[disk.size() - 512 + 30] ^= 1;
  const DiskInfo info = inspect_disk(disk);
  CHECK(info.gpt.primary.valid);
  CHECK_FALSE(info.gpt.backup.valid);
  CHECK(info.gpt.backup.problem.find("backup") != std::string::npos);
  CHECK(read_fat_file(disk, "EFI/BOOT/BOOTX64.EFI") == payload(100, 1));
}

TEST_CASE("a disk without an ESP has no FAT to read", "[disk]") {
  if (!have_tool("sgdisk")) {
    WARN("sgdisk not installed; skipping");
    return;
  }
  TempDir tmp;
  const fs::path p = tmp.path() / "noesp.raw";
  REQUIRE(run("truncate -s 4M '" + p.string() + "' && sgdisk -o -n 1:2048:+1M -t 1:8300 '" + p.string() + "'").status == 0);
  const Bytes disk = read_file(p);
  const DiskInfo info = inspect_disk(disk);
  CHECK_FALSE(info.esp);
  expect_input_error([&] { read_fat_file(disk, "EFI/BOOT/BOOTX64.EFI"); }, "no EFI System Partition");
}

TEST_CASE("every truncation of a disk image fails cleanly", "[disk]") {
  const Bytes disk = make_esp_disk(uki_spec(3000));
  for (std::size_t n = 0; n < disk.size(); n += (n < 64 * 1024 ? 509 : 65537)) {
    INFO("prefix " << n);
    CHECK_THROWS_AS(read_fat_file(ByteSpan(disk).subspan(0, n), "EFI/BOOT/BOOTX64.EFI"), Error);
    CHECK_THROWS_AS(gpt_event_data(ByteSpan(disk).subspan(0, n)), Error);
  }
}

TEST_CASE("inspect_disk reads disks made by sgdisk, mkfs.fat and mtools, skipping long names", "[disk]") {
  if (!have_tool("sgdisk") || !have_tool("mkfs.fat") || !have_tool("mcopy")) {
    WARN("sgdisk/mkfs.fat/mtools not installed; skipping");
    return;
  }
  TempDir tmp;
  const Bytes uki = payload(300000, 77);
  const Bytes small = payload(10, 78);
  write_file_atomic(tmp.path() / "uki", uki);
  write_file_atomic(tmp.path() / "small", small);
  for (const char* fat : {"12", "16", "32"}) {
    INFO("mkfs.fat -F " << fat);
    const std::string p = (tmp.path() / "other.raw").string();
    fs::remove(p);
    // A 40 MiB disk, ESP from LBA 2048 to the end, formatted in place by mkfs.fat.
    // Sectors per cluster that put 79,838 sectors in each type's cluster-count range.
    const std::string sc = fat == std::string("32") ? " -s 1" : fat == std::string("16") ? " -s 16" : " -s 32";
    const std::string cmd =
        "truncate -s 40M '" + p + "' && sgdisk -o -n 1:2048:0 -t 1:EF00 '" + p + "' >/dev/null" +
        " && mkfs.fat -F " + fat + sc + " --offset=2048 -n TESTESP '" + p + "' $(( (40*2048 - 2048 - 33) / 2 )) >/dev/null 2>&1" +
        " && mmd -i '" + p + "@@1048576' ::/EFI ::/EFI/BOOT ::/EFI/Linux" +
        " && mcopy -i '" + p + "@@1048576' '" + (tmp.path() / "uki").string() + "' ::/EFI/BOOT/BOOTX64.EFI" +
        " && mcopy -i '" + p + "@@1048576' '" + (tmp.path() / "small").string() + "' ::/EFI/Linux/a-long-name.efi";
    const auto r = run(cmd);
    INFO(r.output);
    REQUIRE(r.status == 0);
    const Bytes disk = read_file(p);
    CHECK(read_fat_file(disk, "EFI/BOOT/BOOTX64.EFI") == uki);
    const DiskInfo info = inspect_disk(disk);
    REQUIRE(info.esp);
    CHECK(fat_type_name(info.esp->type) == std::string("FAT") + fat);
    CHECK(info.esp->label == "TESTESP");
    bool saw_uki = false;
    bool saw_long = false;
    for (const FatEntryInfo& e : info.esp->entries) {
      if (e.path == "EFI/BOOT/BOOTX64.EFI") {
        saw_uki = true;
        CHECK(e.sha256 == sha256(uki));
      }
      // The long name is listed by its generated 8.3 alias ("A-LONG~1.EFI").
      if (e.path.rfind("EFI/LINUX/", 0) == 0 && e.size_bytes == small.size()) saw_long = true;
    }
    CHECK(saw_uki);
    CHECK(saw_long);
  }
}

TEST_CASE("random corruption of the GPT area never crashes the disk reader", "[disk]") {
  DiskSpec s;
  s.files.push_back({"EFI/BOOT/BOOTX64.EFI", payload(2000, 4)});
  const Bytes disk = make_esp_disk(s);
  std::uint32_t x = 777;
  for (int round = 0; round < 300; ++round) {
    Bytes c = disk;
    for (int k = 0; k < 3; ++k) {
      x = x * 1103515245 + 12345;
      const std::size_t pos = (x >> 4) % (34 * 512); // MBR, primary header, entries
      x = x * 1103515245 + 12345;
      c[pos] = static_cast<std::uint8_t>(x >> 16);
    }
    try {
      (void)inspect_disk(c);
      (void)gpt_event_data(c);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}

TEST_CASE("a backup GPT whose entries differ from the primary's is reported", "[disk]") {
  Bytes disk = make_esp_disk(uki_spec(100));
  const std::size_t hdr = disk.size() - 512;
  const std::size_t arr = disk.size() - 33 * 512;
  disk[arr + 60] ^= 1; // partition name in the backup entry array
  const uLong acrc = ::crc32(0L, disk.data() + arr, 16384);
  for (int i = 0; i < 4; ++i) disk[hdr + 88 + i] = static_cast<std::uint8_t>(acrc >> (8 * i));
  refix_header_crc(disk, hdr);
  const DiskInfo info = inspect_disk(disk);
  CHECK(info.gpt.primary.valid);
  CHECK_FALSE(info.gpt.backup.valid);
  CHECK(info.gpt.backup.problem.find("does not match") != std::string::npos);
}
