#pragma once
// The bootable disk image: GPT with one EFI System Partition (FAT) holding the UKI as
// EFI/BOOT/BOOTX64.EFI (the removable-media path, so no boot entry is needed).
//
// Geometry (one decision for every output; see also gcp.hpp):
//   LBA 0 protective MBR, LBA 1 primary GPT header, LBA 2..33 128 entries,
//   ESP from LBA 2048 (1 MiB), ESP size = align_up(sum of files rounded to 4 KiB * 1.2 + 2 MiB,
//   1 MiB), at least 33 MiB so that the ESP is FAT32 (>= 65525 clusters, fatgen103); cluster
//   size from fatgen103's DskTableFAT32 (512 B up to 260 MiB, then 4 KiB up to 8 GiB, ...);
//   then 1 MiB holding the backup entries + header in its last 33 sectors.
//   disk.raw and disk.vhd share these bytes; the GCP disk is padded to a whole GiB, which
//   moves the backup GPT and changes the primary header (gcp.hpp).
// GUIDs (derived_guid("disk"/"partition", seed)) and the FAT serial are derived from the ESP
// content: seed = sha256 over each file's path, NUL, sha256(data) in path order, then
// SOURCE_DATE_EPOCH, ESP size and disk size as u64le. Timestamps from SOURCE_DATE_EPOCH.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tdximg/disk/fat.hpp>
#include <tdximg/disk/gpt.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::disk {

inline constexpr std::uint64_t k_mib = 1024 * 1024;
inline constexpr std::uint64_t k_partition_start_lba = 2048;
inline constexpr std::uint64_t k_min_esp_bytes = 33 * k_mib;

struct DiskSpec {
  std::vector<FatFile> files;          // e.g. {"EFI/BOOT/BOOTX64.EFI", uki}
  std::int64_t source_date_epoch = 0;
  std::uint64_t min_disk_bytes = 0;    // 0 = derived; otherwise the disk is at least this big
                                       // (rounded up to 1 MiB; the ESP does not grow)
  std::uint64_t min_esp_bytes = 0;     // 0 = derived; otherwise the ESP is at least this big
};

// ESP size in bytes the rule above gives for these files. Never throws for sane input.
std::uint64_t esp_size_for(const std::vector<FatFile>& files);

// Builds the whole raw disk. Throws ErrorKind::input for bad file names,
// ErrorKind::unsupported when the files do not fit.
Bytes make_esp_disk(const DiskSpec& spec);

struct DiskInfo {
  GptInfo gpt;
  std::optional<std::uint32_t> esp_index; // index into gpt.partitions of the first ESP
  std::optional<FatInfo> esp;             // its file system
};

// Reads the GPT and the first ESP's FAT file system (files with sizes and sha256).
// Throws ErrorKind::input on a malformed GPT or FAT.
DiskInfo inspect_disk(ByteSpan disk);

// The bytes of the first EFI System Partition. Throws ErrorKind::input if none/out of range.
ByteSpan esp_partition(ByteSpan disk);

// Content of `path` ("EFI/BOOT/BOOTX64.EFI") in the disk's first ESP. Throws ErrorKind::input
// when the disk or file system is malformed or the file does not exist.
Bytes read_fat_file(ByteSpan disk, std::string_view path);

} // namespace tdximg::disk
