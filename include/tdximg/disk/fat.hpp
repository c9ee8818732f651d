#pragma once
// FAT12/16/32 file systems written and read by our own code (Microsoft "FAT: General Overview
// of On-Disk Format", fatgen103, v1.03). 512-byte sectors, two FATs. The FAT type is never
// chosen by us directly: it follows from the cluster count exactly as fatgen103 says
// (< 4085 clusters FAT12, < 65525 FAT16, else FAT32); make_fat() lays out the volume for the
// requested size and sectors-per-cluster and fails if the result would be ambiguous.

#include <cstdint>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::disk {

inline constexpr std::uint32_t k_sector_bytes = 512;

enum class FatType { fat12, fat16, fat32 };
std::string_view fat_type_name(FatType t) noexcept; // "FAT12", "FAT16", "FAT32"

// fatgen103 §3.5: the type is determined by the count of data clusters, nothing else.
FatType fat_type_for_clusters(std::uint64_t cluster_count) noexcept;

// One regular file. `path` is relative, '/'-separated, every component an upper-case 8.3 name
// ("EFI/BOOT/BOOTX64.EFI"); parent directories are created implicitly.
struct FatFile {
  std::string path;
  Bytes data;
};

struct FatSpec {
  std::vector<FatFile> files;
  std::uint64_t size_bytes = 0;          // volume size, a multiple of 512
  std::uint32_t sectors_per_cluster = 1; // 1, 2, 4, ..., 128
  std::int64_t source_date_epoch = 0;    // every timestamp; clamped to 1980-01-01..2107-12-31 UTC
  std::string label = "ESP";             // <= 11 chars of [A-Z0-9 _-]; "" means "NO NAME" (no label entry)
  std::uint32_t hidden_sectors = 0;      // BPB_HiddSec: LBA of the partition on its disk
};

// Writes a complete FAT volume of spec.size_bytes holding spec.files. Deterministic: the volume
// serial is derived from the content, clusters are allocated in path order.
// Throws ErrorKind::input for a bad path/name (non-8.3, duplicate, file over a directory),
// ErrorKind::unsupported when the files do not fit or the geometry gives no valid FAT.
Bytes make_fat(const FatSpec& spec);

// The smallest layout facts make_fat() would use (for choosing sizes). Throws like make_fat().
struct FatGeometry {
  FatType type = FatType::fat32;
  std::uint32_t reserved_sectors = 0;
  std::uint32_t fat_sectors = 0; // per FAT
  std::uint32_t root_dir_sectors = 0; // FAT12/16 fixed root directory; 0 for FAT32
  std::uint64_t cluster_count = 0;
  std::uint64_t total_sectors = 0;
};
FatGeometry fat_geometry(std::uint64_t size_bytes, std::uint32_t sectors_per_cluster);

// ---- Reading (untrusted input) ------------------------------------------------------------

struct FatEntryInfo {
  std::string path;         // "EFI/BOOT/BOOTX64.EFI" (8.3 short names; LFN entries are skipped)
  bool is_directory = false;
  std::uint64_t size_bytes = 0;
  Sha256 sha256{};          // of the file content (zero for directories)
};

struct FatInfo {
  FatType type = FatType::fat32;
  std::uint32_t bytes_per_sector = 0;
  std::uint32_t sectors_per_cluster = 0;
  std::uint64_t cluster_count = 0;
  std::uint32_t volume_serial = 0;
  std::string label;                  // from the BPB, trailing spaces removed
  std::vector<FatEntryInfo> entries;  // depth-first, in directory order
};

// Parses a FAT volume, walks every directory and hashes every file. `name` prefixes errors.
// Throws ErrorKind::input on anything malformed (bad BPB, chain loops, out-of-range clusters).
FatInfo inspect_fat(ByteSpan volume, const std::string& name = "FAT volume");

// Content of the file at `path` (case-insensitive 8.3 components, '/'-separated).
// Throws ErrorKind::input if malformed or if the file does not exist.
Bytes read_fat_file_in_volume(ByteSpan volume, std::string_view path,
                              const std::string& name = "FAT volume");

} // namespace tdximg::disk
