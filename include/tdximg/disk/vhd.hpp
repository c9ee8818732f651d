#pragma once
// Fixed VHD (Microsoft "Virtual Hard Disk Image Format Specification" v1.0, 2006; Azure
// requires a fixed VHD whose virtual size is a multiple of 1 MiB): the raw disk followed by a
// 512-byte footer.
//   creator application "win " (Hyper-V), version 0x000A0000, host OS "Wi2k": QEMU's vpc
//   driver then trusts current_size instead of the CHS geometry (block/vpc.c), as Azure does.
//   timestamp = SOURCE_DATE_EPOCH - 946684800 (VHD epoch 2000-01-01), clamped to 0..UINT32_MAX.
//   unique id = derived_guid("vhd", sha256(raw data)) bytes.

#include <cstdint>

#include <tdximg/util/bytes.hpp>

namespace tdximg::disk {

struct VhdGeometry {
  std::uint16_t cylinders = 0;
  std::uint8_t heads = 0;
  std::uint8_t sectors_per_track = 0;
};

// CHS per the VHD spec appendix "CHS Calculation". Never throws.
VhdGeometry vhd_chs(std::uint64_t size_bytes) noexcept;

// The 512-byte footer for a fixed disk of `size_bytes` (a multiple of 1 MiB) with the given
// content digest seed. Throws ErrorKind::internal if size_bytes is not 1 MiB-aligned.
Bytes vhd_footer(std::uint64_t size_bytes, std::int64_t source_date_epoch, ByteSpan unique_id_seed);

// raw (zero-padded up to a whole MiB) + footer. The unique id seed is sha256(padded raw).
// Throws ErrorKind::input if raw is empty.
Bytes make_vhd(ByteSpan raw, std::int64_t source_date_epoch);

struct VhdFooterInfo {
  std::uint64_t current_size = 0;
  std::uint32_t disk_type = 0;
  std::uint32_t timestamp = 0;
  VhdGeometry geometry;
  bool checksum_ok = false;
};
// Parses the footer at the end of `vhd`. Throws ErrorKind::input if absent or malformed.
VhdFooterInfo read_vhd_footer(ByteSpan vhd);

} // namespace tdximg::disk
