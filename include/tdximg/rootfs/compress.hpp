#pragma once
// Deterministic compression of initramfs segments (gzip, zstd, xz) and bounded decompression.
// The output bytes depend on the compression library's version: compression_library_versions()
// goes into manifest.json and into segment cache keys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/recipe/recipe.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::rootfs {

using recipe::Compression;

// Compresses `input` with fixed settings: gzip = zlib deflate, memLevel 8, default strategy, gzip
// header with mtime 0, no name, OS 3 (Unix); zstd = level, checksum on, content size on,
// nbWorkers 0 (single-threaded, independent of -j); xz = preset `level`, CRC32 check (the
// kernel's xz decoder does not take CRC64). none = copy. Levels: gzip 0-9, zstd 1-22, xz 0-9.
// Throws Error(input) for a level out of range, Error(internal) if the library fails.
Bytes compress(ByteSpan input, Compression method, int level);

// Result of decompressing the first frame (gzip member, zstd frame, xz stream) of `input`.
struct DecompressedFrame {
  Bytes data;
  std::uint64_t consumed = 0; // compressed bytes the frame occupies at the start of input
};

// Decompresses exactly one frame from the start of `input`; bytes after it are left alone.
// Throws Error(input) if the frame is corrupt or truncated or its output exceeds max_output.
DecompressedFrame decompress_frame(ByteSpan input, Compression method, std::uint64_t max_output);

// Decompresses `input`, which must be exactly one frame (trailing bytes → Error(input)).
// Throws Error(input) for corrupt/truncated data or output larger than max_output.
Bytes decompress(ByteSpan input, Compression method, std::uint64_t max_output);

// Compression from magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, xz fd 37 7a 58 5a 00, none for a
// cpio header ("0707"); nullopt for anything else. Never throws.
std::optional<Compression> detect_compression(ByteSpan data);

// Name of a format the kernel knows but tdximg does not handle ("bzip2", "lzma", "lzo", "lz4"),
// recognised by magic; empty if none. Never throws.
std::string_view detect_unsupported_compression(ByteSpan data);

// "gzip", "zstd", "xz", "none" (the recipe's names). Never throws.
using recipe::compression_name;

// Runtime library versions, e.g. "zlib 1.2.13, zstd 1.5.4, liblzma 5.4.1". Never throws.
std::string compression_library_versions();

} // namespace tdximg::rootfs
