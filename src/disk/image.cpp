// The bootable disk: protective MBR + GPT (UEFI 2.10 §5) around one FAT32 ESP.
#include <tdximg/disk/image.hpp>

#include <algorithm>

#include <zlib.h>

#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::disk {

namespace {

constexpr std::uint64_t k_sector = k_sector_bytes;
constexpr std::uint32_t k_entries = 128;
constexpr std::uint32_t k_entry_size = 128;
// Sectors per cluster for a FAT32 ESP of `sectors` 512-byte sectors: fatgen103's
// DskTableFAT32 (512-byte clusters up to 260 MiB, 4 KiB up to 8 GiB, 8 KiB up to 16 GiB,
// 16 KiB up to 32 GiB, then 32 KiB). UEFI 2.10 §13.3.1.1 asks for FAT32 on a hard disk's
// system partition; the 33 MiB minimum gives ~66,000 clusters, above the 65,525 threshold.
std::uint32_t esp_sectors_per_cluster(std::uint64_t sectors) {
  if (sectors <= 532480) return 1;
  if (sectors <= 16777216) return 8;
  if (sectors <= 33554432) return 16;
  if (sectors <= 67108864) return 32;
  return 64;
}

void put_u32(Bytes& b, std::uint64_t off, std::uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_u64(Bytes& b, std::uint64_t off, std::uint64_t v) {
  for (unsigned i = 0; i < 8; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t crc32_of(ByteSpan b) {
  return static_cast<std::uint32_t>(::crc32(0L, b.data(), static_cast<uInt>(b.size())));
}

const GptPartition* first_esp(const GptInfo& g) {
  for (const GptPartition& p : g.partitions) {
    if (p.type_guid == k_esp_type_guid) return &p;
  }
  return nullptr;
}

ByteSpan partition_bytes(ByteSpan disk, const GptPartition& p) {
  return checked_slice(disk, p.first_lba * k_sector, (p.last_lba - p.first_lba + 1) * k_sector,
                       "disk image: ESP partition");
}

} // namespace

std::uint64_t esp_size_for(const std::vector<FatFile>& files) {
  std::uint64_t payload = 0;
  for (const FatFile& f : files) payload += align_up(f.data.size(), 4096, "ESP payload");
  // payload + 20 % + 2 MiB (directories, FATs, slack), whole MiB, at least 33 MiB (FAT32).
  const std::uint64_t want = align_up(payload + payload / 5 + 2 * k_mib, k_mib, "ESP size");
  return std::max(want, k_min_esp_bytes);
}

Bytes make_esp_disk(const DiskSpec& spec) {
  const std::uint64_t esp_bytes =
      std::max(esp_size_for(spec.files), align_up(spec.min_esp_bytes, k_mib, "min_esp_bytes"));
  const std::uint64_t esp_sectors = esp_bytes / k_sector;
  // 1 MiB before the ESP (MBR, GPT, alignment), the ESP, then room for the backup GPT
  // (33 sectors), all rounded up to a whole MiB.
  const std::uint64_t derived =
      align_up((k_partition_start_lba + esp_sectors + 33) * k_sector, k_mib, "disk size");
  const std::uint64_t disk_bytes =
      std::max(derived, align_up(spec.min_disk_bytes, k_mib, "min_disk_bytes"));
  const std::uint64_t last_lba = disk_bytes / k_sector - 1;

  FatSpec fs;
  fs.files = spec.files;
  fs.size_bytes = esp_bytes;
  fs.sectors_per_cluster = esp_sectors_per_cluster(esp_sectors);
  fs.source_date_epoch = spec.source_date_epoch;
  fs.label = "ESP";
  fs.hidden_sectors = static_cast<std::uint32_t>(k_partition_start_lba);
  const Bytes esp = make_fat(fs);
  // The GUID seed covers everything the ESP is made of (cheaper than hashing the whole ESP,
  // which is at least 33 MiB): each file's path and sha256 in path order, the timestamp and
  // the sizes.
  std::vector<const FatFile*> sorted;
  for (const FatFile& f : spec.files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](const FatFile* a, const FatFile* b) { return a->path < b->path; });
  Hasher seed(HashAlg::sha256);
  for (const FatFile* f : sorted) seed.update(f->path).update(std::string_view("\0", 1)).update(sha256(f->data));
  ByteWriter sizes;
  sizes.u64le(static_cast<std::uint64_t>(spec.source_date_epoch));
  sizes.u64le(esp_bytes);
  sizes.u64le(disk_bytes);
  seed.update(sizes.data());
  const Bytes esp_digest = seed.finish();

  Bytes disk(disk_bytes, 0);
  std::copy(esp.begin(), esp.end(), disk.begin() + static_cast<std::ptrdiff_t>(k_partition_start_lba * k_sector));

  // Protective MBR (UEFI 2.10 §5.2.3, table 5.4): one record of type 0xEE from LBA 1 covering
  // the disk (capped at 0xFFFFFFFF); StartingCHS 0x000200, EndingCHS 0xFFFFFF ("not
  // representable", as most partitioners write it), boot indicator 0.
  const std::uint64_t mbr = 446;
  disk[mbr + 1] = 0x00;
  disk[mbr + 2] = 0x02;
  disk[mbr + 3] = 0x00;
  disk[mbr + 4] = 0xEE;
  disk[mbr + 5] = 0xFF;
  disk[mbr + 6] = 0xFF;
  disk[mbr + 7] = 0xFF;
  put_u32(disk, mbr + 8, 1);
  put_u32(disk, mbr + 12, static_cast<std::uint32_t>(std::min<std::uint64_t>(last_lba, 0xFFFFFFFFULL)));
  disk[510] = 0x55;
  disk[511] = 0xAA;

  // Partition entry 0 (§5.3.3, table 5.6).
  const std::uint64_t ent = 2 * k_sector;
  std::copy(k_esp_type_guid.begin(), k_esp_type_guid.end(), disk.begin() + static_cast<std::ptrdiff_t>(ent));
  const Guid part_guid = derived_guid("partition", esp_digest);
  std::copy(part_guid.begin(), part_guid.end(), disk.begin() + static_cast<std::ptrdiff_t>(ent + 16));
  put_u64(disk, ent + 32, k_partition_start_lba);
  put_u64(disk, ent + 40, k_partition_start_lba + esp_sectors - 1);
  put_u64(disk, ent + 48, 0);
  const std::u16string_view name = u"EFI System Partition";
  for (std::size_t i = 0; i < name.size(); ++i) {
    disk[ent + 56 + 2 * i] = static_cast<std::uint8_t>(name[i] & 0xFF);
    disk[ent + 56 + 2 * i + 1] = static_cast<std::uint8_t>(name[i] >> 8);
  }

  // Primary header (§5.3.2, table 5.5), revision 1.0, 92 bytes.
  Bytes hdr(k_sector, 0);
  const std::string_view sig = "EFI PART";
  std::copy(sig.begin(), sig.end(), hdr.begin());
  put_u32(hdr, 8, 0x00010000);
  put_u32(hdr, 12, 92);
  put_u64(hdr, 24, 1);
  put_u64(hdr, 32, last_lba);
  put_u64(hdr, 40, 34);
  put_u64(hdr, 48, last_lba - 33);
  const Guid disk_guid = derived_guid("disk", esp_digest);
  std::copy(disk_guid.begin(), disk_guid.end(), hdr.begin() + 56);
  put_u64(hdr, 72, 2);
  put_u32(hdr, 80, k_entries);
  put_u32(hdr, 84, k_entry_size);
  put_u32(hdr, 88, crc32_of(ByteSpan(disk).subspan(ent, std::size_t{k_entries} * k_entry_size)));
  put_u32(hdr, 16, crc32_of(ByteSpan(hdr).subspan(0, 92)));
  std::copy(hdr.begin(), hdr.end(), disk.begin() + static_cast<std::ptrdiff_t>(k_sector));

  // Backup array + header in the last 33 sectors: the same re-layout GCP uses, for this size.
  const GptRelocation r = relocate_gpt(disk, disk_bytes);
  std::copy(r.head.begin(), r.head.end(), disk.begin());
  std::copy(r.tail.begin(), r.tail.end(), disk.end() - static_cast<std::ptrdiff_t>(r.tail.size()));
  return disk;
}

DiskInfo inspect_disk(ByteSpan disk) {
  DiskInfo info;
  info.gpt = read_gpt(disk);
  const GptPartition* esp = first_esp(info.gpt);
  if (esp != nullptr) {
    const auto idx = static_cast<std::size_t>(esp - info.gpt.partitions.data());
    info.esp_index = static_cast<std::uint32_t>(idx);
    info.esp = inspect_fat(partition_bytes(disk, *esp), "disk image: ESP");
  }
  return info;
}

ByteSpan esp_partition(ByteSpan disk) {
  const GptInfo g = read_gpt(disk);
  const GptPartition* esp = first_esp(g);
  if (esp == nullptr) fail(ErrorKind::input, "disk image: no EFI System Partition in the GPT");
  return partition_bytes(disk, *esp);
}

Bytes read_fat_file(ByteSpan disk, std::string_view path) {
  return read_fat_file_in_volume(esp_partition(disk), path, "disk image: ESP");
}

} // namespace tdximg::disk
