#include <catch2/catch.hpp>

#include <algorithm>

#include <tdximg/disk/gcp.hpp>
#include <tdximg/disk/image.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "disk_test_util.hpp"

using namespace tdximg;
using namespace tdximg::disk;
using disk_test::have_tool;
using disk_test::payload;
using disk_test::run;

TEST_CASE("the GCP tarball is a gzip'd GNU tar of a whole-GiB disk.raw that sgdisk accepts", "[disk]") {
  DiskSpec s;
  s.files.push_back({"EFI/BOOT/BOOTX64.EFI", payload(200000, 9)});
  s.source_date_epoch = 1735689600;
  const Bytes raw = make_esp_disk(s);
  const Bytes tgz = make_gcp_tar_gz(raw, s.source_date_epoch);
  // RFC 1952 header: no name, MTIME 0, XFL 0, OS 3 — nothing from the build host.
  REQUIRE(tgz.size() > 18);
  CHECK(Bytes(tgz.begin(), tgz.begin() + 10) == Bytes{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
  // ISIZE: 512 header + 1 GiB + 2 end blocks, padded to 10240-byte records.
  const std::uint64_t tar_size = (512 + k_gib + 1024 + 10239) / 10240 * 10240;
  CHECK(load_u32le(tgz, tgz.size() - 4, "ISIZE") == static_cast<std::uint32_t>(tar_size));

  TempDir tmp;
  const fs::path p = tmp.path() / "image.tar.gz";
  write_file_atomic(p, tgz);
  if (!have_tool("tar") || !have_tool("gzip")) {
    WARN("tar/gzip not installed; skipping");
    return;
  }
  // One decompression for everything (1 GiB is slow on a busy CI core): `tar -xzvv` lists
  // the member exactly like `tar -tv` while extracting it, and tar fails if `gzip -d` does;
  // gzip -d checks the trailer's CRC32 and ISIZE, which is what `gzip -t` checks.
  const auto list = run("TZ=UTC tar -xzvvf '" + p.string() + "' -C '" + tmp.path().string() + "'");
  INFO(list.output);
  REQUIRE(list.status == 0);
  CHECK(list.output == "-rw-r--r-- root/root 1073741824 2025-01-01 00:00 disk.raw\n");
  if (have_tool("file")) {
    const auto f = run("gzip -dc '" + p.string() + "' | head -c 10240 | file -");
    INFO(f.output);
    CHECK(f.output.find("tar archive (GNU)") != std::string::npos);
  }
  const fs::path disk_path = tmp.path() / "disk.raw";
  CHECK(fs::file_size(disk_path) == k_gib);
  if (have_tool("sgdisk")) {
    const auto v = run("sgdisk -v '" + disk_path.string() + "'");
    INFO(v.output);
    CHECK(v.status == 0);
    CHECK(v.output.find("No problems found") != std::string::npos);
  }
  {
    const Bytes gcp_disk = read_file(disk_path);
    // The partition and its file system are the raw disk's bytes; only the GPT moved.
    const std::size_t esp_begin = 2048 * 512;
    const std::size_t esp_end = raw.size() - k_mib;
    CHECK(std::equal(raw.begin() + esp_begin, raw.begin() + esp_end, gcp_disk.begin() + esp_begin));
    CHECK(read_fat_file(gcp_disk, "EFI/BOOT/BOOTX64.EFI") == s.files[0].data);
    // measure/ needs the GPT event of the disk GCP boots: it differs from the raw disk's.
    CHECK(gpt_event_data(gcp_disk) == gcp_gpt_event_data(raw));
    CHECK(gpt_event_data(gcp_disk) != gpt_event_data(raw));
    const DiskInfo info = inspect_disk(gcp_disk);
    CHECK(info.gpt.backup.valid);
    CHECK(info.gpt.primary.alternate_lba == k_gib / 512 - 1);
  }
}

TEST_CASE("the GCP tarball refuses a raw disk without a GPT", "[disk]") {
  try {
    make_gcp_tar_gz(payload(1024 * 1024), 0);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
  }
  CHECK(gcp_disk_size(1) == k_gib);
  CHECK(gcp_disk_size(k_gib) == k_gib);
  CHECK(gcp_disk_size(k_gib + 1) == 2 * k_gib);
}

TEST_CASE("GNU tar reads our member header: base-256 sizes past 8 GiB, clamped mtimes", "[disk]") {
  if (!have_tool("tar")) {
    WARN("tar not installed; skipping");
    return;
  }
  TempDir tmp;
  struct Case {
    std::uint64_t size;
    std::int64_t sde;
    std::string want;
  };
  // 8 GiB - 512 still fits 11 octal digits; 9 GiB needs GNU base-256. Negative SDE -> 0.
  for (const Case& c : {Case{(8ULL << 30) - 512, 1735689600, "-rw-r--r-- root/root 8589934080 2025-01-01 00:00 disk.raw"},
                        Case{9ULL << 30, 1735689600, "-rw-r--r-- root/root 9663676416 2025-01-01 00:00 disk.raw"},
                        Case{512, -5, "-rw-r--r-- root/root 512 1970-01-01 00:00 disk.raw"}}) {
    INFO("size " << c.size);
    // Header only (no data): tar lists the member, then reports the missing data.
    Bytes archive = gcp_tar_header(c.size, c.sde);
    if (c.size == 512) archive.resize(512 + 512 + 1024, 0);
    const fs::path p = tmp.path() / "h.tar";
    write_file_atomic(p, archive);
    const auto r = run("TZ=UTC tar -tvf '" + p.string() + "'");
    INFO(r.output);
    std::string first = r.output.substr(0, r.output.find('\n'));
    first.erase(std::unique(first.begin(), first.end(), [](char a, char b) { return a == ' ' && b == ' '; }),
                first.end()); // tar right-aligns the size column
    CHECK(first == c.want);
    CHECK(r.output.find("checksum") == std::string::npos);
  }
}
