#pragma once
// GUID Partition Table (UEFI 2.10 §5.3) with a protective MBR (§5.2.3), 512-byte logical
// blocks, 128 entries of 128 bytes. Reader, writer helpers and the EV_EFI_GPT_EVENT data.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>

namespace tdximg::disk {

// A GUID as the 16 bytes GPT stores on disk (mixed-endian: the first three fields little-endian).
using Guid = std::array<std::uint8_t, 16>;

// "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" <-> on-disk bytes. parse throws ErrorKind::input.
Guid parse_guid(std::string_view text);
std::string guid_to_string(const Guid& g); // upper case, canonical 8-4-4-4-12

// EFI System Partition type GUID C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
extern const Guid k_esp_type_guid;

// Deterministic RFC 4122 version-4 GUID: first 16 bytes of
// sha256("tdximg " + purpose + " guid" || seed), version nibble 4 and variant 10 set in RFC
// byte order, then stored in GPT's mixed-endian order. Never throws.
Guid derived_guid(std::string_view purpose, ByteSpan seed);

struct GptPartition {
  std::uint32_t index = 0; // 0-based slot in the entry array
  Guid type_guid{};
  Guid unique_guid{};
  std::uint64_t first_lba = 0;
  std::uint64_t last_lba = 0;
  std::uint64_t attributes = 0;
  std::string name; // UTF-16LE decoded (BMP only; others as U+FFFD)
};

struct GptHeader {
  bool valid = false;     // signature, revision, size, CRCs, LBAs all check out
  std::string problem;    // why not valid ("" when valid)
  std::uint32_t revision = 0;
  std::uint32_t header_size = 0;
  std::uint64_t my_lba = 0;
  std::uint64_t alternate_lba = 0;
  std::uint64_t first_usable_lba = 0;
  std::uint64_t last_usable_lba = 0;
  Guid disk_guid{};
  std::uint64_t partition_entry_lba = 0;
  std::uint32_t number_of_entries = 0;
  std::uint32_t entry_size = 0;
  bool header_crc_ok = false;
  bool entries_crc_ok = false;
};

struct GptInfo {
  std::uint64_t disk_bytes = 0;
  bool protective_mbr_ok = false;
  GptHeader primary;             // at LBA 1
  GptHeader backup;              // at primary.alternate_lba (or the last LBA)
  std::vector<GptPartition> partitions; // non-empty entries of the primary array
};

// Reads MBR and both GPT headers. Throws ErrorKind::input when the primary GPT is unusable
// (the backup is then only reported, never used silently).
GptInfo read_gpt(ByteSpan disk);

// UEFI_GPT_DATA as edk2 measures it for EV_EFI_GPT_EVENT (TCG PC Client PFP spec §10.4.4 /
// edk2 SecurityPkg DxeTpm2MeasureBootLib Tcg2MeasureGptTable): the 92-byte primary
// UEFI_PARTITION_TABLE_HEADER as on disk, UINT64 NumberOfPartitions, then every entry whose
// PartitionTypeGUID is non-zero, SizeOfPartitionEntry bytes each, in array order.
// Throws ErrorKind::input if the primary GPT is bad.
Bytes gpt_event_data(ByteSpan disk);

// The first 34 sectors (MBR, primary header, entry array) and the last 33 sectors (backup
// array, backup header) of `disk` re-laid-out for a disk of `new_size_bytes` (> old size,
// multiple of 512): AlternateLBA, LastUsableLBA, the backup location, the MBR size and the
// CRCs change; partitions do not. Throws ErrorKind::input if `disk` has no valid GPT.
struct GptRelocation {
  Bytes head; // 34 * 512 bytes for LBA 0..33
  Bytes tail; // 33 * 512 bytes for the last 33 LBAs of the new disk
};
GptRelocation relocate_gpt(ByteSpan disk, std::uint64_t new_size_bytes);

} // namespace tdximg::disk
