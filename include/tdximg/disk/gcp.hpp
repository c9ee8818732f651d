#pragma once
// Google Compute Engine image tarball: gzip of a GNU-format tar holding one member `disk.raw`
// whose size is a whole number of GiB.
//
// Decision: disk.raw stays small (image.hpp geometry); the GCP member is that disk padded with
// zeros to the next whole GiB, with the GPT re-laid-out for the larger disk (relocate_gpt:
// backup at the new end, primary AlternateLBA/LastUsableLBA/CRC changed). So the GCP disk's
// primary GPT header differs from disk.raw's and the EV_EFI_GPT_EVENT digest differs per
// output: use gcp_gpt_event_data() for GCP, gpt_event_data(raw) for raw and VHD.
// Trade-off: a 1 GiB raw file for every build vs. one extra measurement variant; we chose the
// variant, it is computed not guessed.
//
// tar: GNU (oldgnu) header, magic "ustar  \0", mode 0000644, uid/gid 0, uname/gname "root",
// mtime = SOURCE_DATE_EPOCH clamped to 0..8^11-1, typeflag '0', size in 11 octal digits or GNU
// base-256 when >= 8 GiB; two zero blocks; padded to 10240-byte records (GNU tar's default
// blocking factor 20). gzip: RFC 1952 header with MTIME 0, no FNAME, XFL 0, OS 3 (Unix),
// deflate level 6 (zlib; zero runs of >= 1 MiB switch to level 1 + Z_RLE for speed, at
// input-determined points), written incrementally without materializing the GiB disk.

#include <cstdint>

#include <tdximg/util/bytes.hpp>

namespace tdximg::disk {

inline constexpr std::uint64_t k_gib = 1024ULL * 1024 * 1024;

// Size of the GCP disk for a raw disk of `raw_size` bytes: the next whole GiB (>= 1 GiB).
std::uint64_t gcp_disk_size(std::uint64_t raw_size) noexcept;

// EV_EFI_GPT_EVENT data of the disk inside the GCP tarball. Throws ErrorKind::input if raw
// has no valid GPT.
Bytes gcp_gpt_event_data(ByteSpan raw);

// The 512-byte GNU tar header of the `disk.raw` member (exposed for tests). Never throws.
Bytes gcp_tar_header(std::uint64_t size_bytes, std::int64_t source_date_epoch);

// The .tar.gz bytes. Throws ErrorKind::input if raw has no valid GPT or is not 512-aligned,
// ErrorKind::internal on a zlib failure.
Bytes make_gcp_tar_gz(ByteSpan raw, std::int64_t source_date_epoch);

} // namespace tdximg::disk
