#pragma once
// Deterministic cpio "newc" (SVR4, magic 070701) writer and a bounds-checked reader for the
// kernel's initramfs format: a concatenation of cpio archives, each possibly compressed
// (Documentation/driver-api/early-userspace/buffer-format.rst, init/initramfs.c).
//
// Writer conventions (the bytes are measured, so they never change silently):
// - header fields are 8 UPPERCASE hex digits, like usr/gen_init_cpio.c and GNU cpio write them
//   (the kernel's simple_strntoul accepts either case);
// - c_devmajor/c_devminor 0, c_check 0; header+name padded to 4, data padded to 4;
// - symlink data is the target without a trailing NUL (GNU cpio, libarchive);
// - hardlinks: regular files with nlink > 1 and the same ino form a group; every member carries
//   the group's ino and nlink, the data is stored only with the LAST member, the others have
//   c_filesize 0 (GNU cpio's newc convention; the kernel links later members to the first one
//   it saw and writes the body through the link, init/initramfs.c maybe_link());
// - the archive ends with a "TRAILER!!!" entry (nlink 1, everything else 0), padded to 4.
// Entries are written in the order given: sorting and inode numbering are the caller's job.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tdximg/recipe/recipe.hpp>
#include <tdximg/util/bytes.hpp>
#include <vector>

namespace tdximg::rootfs {

// st_mode file-type bits (Linux values, independent of the host's <sys/stat.h>).
inline constexpr std::uint32_t k_mode_type_mask = 0170000;
inline constexpr std::uint32_t k_mode_socket = 0140000;
inline constexpr std::uint32_t k_mode_symlink = 0120000;
inline constexpr std::uint32_t k_mode_regular = 0100000;
inline constexpr std::uint32_t k_mode_block = 0060000;
inline constexpr std::uint32_t k_mode_dir = 0040000;
inline constexpr std::uint32_t k_mode_char = 0020000;
inline constexpr std::uint32_t k_mode_fifo = 0010000;

// The kernel rejects names longer than PATH_MAX (including the NUL) and symlink targets longer
// than PATH_MAX (init/initramfs.c do_header()).
inline constexpr std::uint32_t k_cpio_path_max = 4096;
inline constexpr std::size_t k_newc_header_size = 110;

struct CpioEntry {
  std::string path;       // no leading "/", "." never emitted
  std::uint32_t mode = 0; // full st_mode incl. S_IFMT
  std::uint32_t uid = 0, gid = 0;
  std::uint32_t nlink = 1;
  std::uint32_t mtime = 0;
  std::uint32_t rdev_major = 0, rdev_minor = 0;
  std::uint32_t ino = 0;
  std::shared_ptr<const Bytes> data; // file content or symlink target; null = empty
};

// Writes one newc archive holding `entries` in order, followed by the trailer.
// Throws Error(input) naming the entry for: empty/absolute/"."/NUL-containing/too long path,
// unknown file type, data on a directory/device/fifo/socket, data or target > 4 GiB - 1 or a
// symlink target > PATH_MAX, a hardlink group whose size differs from its nlink or whose
// members disagree on mode/uid/gid/mtime/content.
Bytes write_cpio_newc(std::span<const CpioEntry> entries);

// Seconds since the epoch as a cpio c_mtime; throws Error(input) if outside [0, 2^32-1]
// (before 1970 or after 2106-02-07).
std::uint32_t cpio_mtime(std::int64_t seconds_since_epoch);

// Appends one segment (a compressed or plain newc archive) to an initramfs stream, first padding
// the stream with zeros to a multiple of 4: the kernel skips zero bytes between segments and
// requires a plain cpio header to start 4-aligned. Never throws except std::bad_alloc.
void append_initramfs_segment(Bytes& stream, ByteSpan segment);

// One archive member as read back. The path is exactly as stored (not normalised).
struct CpioMember {
  CpioEntry entry; // data: the member's body (empty for leading hardlinks)
  std::uint32_t dev_major = 0, dev_minor = 0;
  std::uint32_t check = 0;  // c_check (0 for 070701)
  std::size_t segment = 0;  // index into CpioStream::segments
  std::uint64_t offset = 0; // header offset within the segment's uncompressed bytes
};

struct CpioSegment {
  recipe::Compression compression = recipe::Compression::none;
  std::uint64_t offset = 0;      // where the segment starts in the stream
  std::uint64_t stored_size = 0; // bytes it occupies in the stream (padding excluded)
  std::uint64_t uncompressed_size = 0;
  std::size_t archives = 0; // TRAILER!!!-terminated archives inside (usually 1)
  std::size_t first_member = 0, member_count = 0; // range in CpioStream::members
};

struct CpioStream {
  std::vector<CpioSegment> segments;
  std::vector<CpioMember> members; // trailers are not members
};

struct CpioReadOptions {
  std::string name = "initramfs";                    // prefixes every error message
  std::uint64_t max_uncompressed_bytes = 8ULL << 30; // total over all segments (bomb guard)
  // The kernel treats TRAILER!!! as optional (an archive may just end after a complete entry);
  // tdximg always writes it, so by default a missing trailer is reported as truncation.
  bool require_trailer = true;
};

// Reads an initramfs the way the kernel's unpacker walks it: plain newc archives (070701 or
// 070702, header 4-aligned), zero padding, and gzip/zstd/xz segments (one compressed frame each,
// whose decompressed bytes are newc archives ending in a trailer). Throws Error(input) naming
// segment, entry index and offset for malformed input, Error(unsupported) for bzip2/lzma/lzo/lz4.
CpioStream read_cpio_segments(ByteSpan stream, const CpioReadOptions& options = {});

// read_cpio_segments(...).members.
std::vector<CpioMember> read_cpio_stream(ByteSpan stream, const CpioReadOptions& options = {});

} // namespace tdximg::rootfs
