// Deterministic compression for initramfs segments. Every parameter that influences the output
// bytes is set explicitly here, never left to a library default that a newer version could change
// silently (the library version itself goes into manifest.json).

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <lzma.h>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/util/error.hpp>
#include <zlib.h>
#include <zstd.h>

namespace tdximg::rootfs {
namespace {

constexpr std::uint64_t k_chunk = 64ULL << 10;    // smallest output buffer / growth step
constexpr std::uint64_t k_max_hint = 64ULL << 20; // never pre-allocate more on a size claim

// Largest amount a 32-bit zlib counter (uInt) can take at once.
constexpr std::uint64_t k_zlib_max = std::numeric_limits<uInt>::max();

void check_level(Compression method, int level, int lo, int hi) {
  if (level < lo || level > hi) {
    fail(ErrorKind::input, "{} compression level {} out of range {}..{}", compression_name(method),
         level, lo, hi);
  }
}

// Output buffer that grows in steps but never beyond max_output + 1 bytes (one byte more than
// allowed lets us notice that the limit was exceeded).
class BoundedOutput {
public:
  explicit BoundedOutput(std::uint64_t max_output, std::uint64_t hint, Compression method)
      : m_max(max_output)
      , m_method(method) {
    m_cap = max_output == std::numeric_limits<std::uint64_t>::max() ? max_output : max_output + 1;
    m_buf.resize(static_cast<std::size_t>(std::min({std::max(hint, k_chunk), k_max_hint, m_cap})));
  }
  // Free space after `used` bytes, growing the buffer if needed; 0 if the cap is reached.
  std::uint64_t make_room(std::uint64_t used) {
    if (used == m_buf.size() && m_buf.size() < m_cap) {
      const std::uint64_t grow = std::max<std::uint64_t>(k_chunk, m_buf.size());
      const std::uint64_t next = m_buf.size() + std::min(grow, m_cap - m_buf.size());
      m_buf.resize(static_cast<std::size_t>(next));
    }
    return m_buf.size() - used;
  }
  std::uint8_t* at(std::uint64_t used) { return m_buf.data() + used; }
  void check(std::uint64_t used) const {
    if (used > m_max) {
      fail(ErrorKind::input, "{} data: decompressed size exceeds the limit of {} bytes",
           compression_name(m_method), m_max);
    }
  }
  Bytes finish(std::uint64_t used) {
    check(used);
    m_buf.resize(static_cast<std::size_t>(used));
    return std::move(m_buf);
  }

private:
  Bytes m_buf;
  std::uint64_t m_max;
  std::uint64_t m_cap;
  Compression m_method;
};

// ---- gzip (RFC 1952) ---------------------------------------------------------------------

Bytes gzip_compress(ByteSpan input, int level) {
  check_level(Compression::gzip, level, 0, 9);
  z_stream zs{};
  // windowBits 15 + 16: gzip wrapper; memLevel 8 and the default strategy are fixed here.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    fail(ErrorKind::internal, "gzip: deflateInit2 failed");
  }
  // Header: mtime 0, no file name, no comment, OS 3 (Unix) whatever the build host is.
  gz_header header{};
  header.time = 0;
  header.os = 3;
  if (deflateSetHeader(&zs, &header) != Z_OK) {
    deflateEnd(&zs);
    fail(ErrorKind::internal, "gzip: deflateSetHeader failed");
  }
  Bytes out;
  std::uint64_t in_pos = 0;
  int ret = Z_OK;
  std::uint8_t buf[1 << 16];
  do {
    if (zs.avail_in == 0 && in_pos < input.size()) {
      const std::uint64_t n = std::min<std::uint64_t>(input.size() - in_pos, k_zlib_max);
      // zlib's API takes a non-const pointer but never writes through next_in.
      zs.next_in = const_cast<Bytef*>(input.data() + in_pos);
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    const int flush = in_pos == input.size() ? Z_FINISH : Z_NO_FLUSH;
    zs.next_out = buf;
    zs.avail_out = sizeof buf;
    ret = deflate(&zs, flush);
    if (ret == Z_STREAM_ERROR) {
      deflateEnd(&zs);
      fail(ErrorKind::internal, "gzip: deflate failed");
    }
    out.insert(out.end(), buf, buf + (sizeof buf - zs.avail_out));
  } while (ret != Z_STREAM_END);
  deflateEnd(&zs);
  return out;
}

DecompressedFrame gzip_decompress(ByteSpan input, std::uint64_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) { // gzip only, no zlib/auto detection
    fail(ErrorKind::internal, "gzip: inflateInit2 failed");
  }
  BoundedOutput out(max_output, input.size() / 4 * 16, Compression::gzip);
  std::uint64_t in_pos = 0;
  std::uint64_t used = 0;
  try {
    for (;;) {
      if (zs.avail_in == 0 && in_pos < input.size()) {
        const std::uint64_t n = std::min<std::uint64_t>(input.size() - in_pos, k_zlib_max);
        zs.next_in = const_cast<Bytef*>(input.data() + in_pos);
        zs.avail_in = static_cast<uInt>(n);
        in_pos += n;
      }
      const std::uint64_t room = std::min(out.make_room(used), k_zlib_max);
      if (room == 0) out.check(used + 1);
      zs.next_out = out.at(used);
      zs.avail_out = static_cast<uInt>(room);
      const int ret = inflate(&zs, Z_NO_FLUSH);
      used += room - zs.avail_out;
      out.check(used);
      if (ret == Z_STREAM_END) break;
      if (ret == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == input.size()) {
        fail(ErrorKind::input, "gzip data: truncated after {} input bytes", input.size());
      }
      if (ret != Z_OK && ret != Z_BUF_ERROR) {
        fail(ErrorKind::input, "gzip data: corrupt at input offset 0x{:x}: {}",
             in_pos - zs.avail_in, zs.msg != nullptr ? zs.msg : "inflate error");
      }
    }
  } catch (...) {
    inflateEnd(&zs);
    throw;
  }
  const std::uint64_t consumed = in_pos - zs.avail_in;
  inflateEnd(&zs);
  return {out.finish(used), consumed};
}

// ---- zstd (RFC 8878) ---------------------------------------------------------------------

void zstd_set(ZSTD_CCtx* cctx, ZSTD_cParameter param, int value, const char* what) {
  const std::size_t r = ZSTD_CCtx_setParameter(cctx, param, value);
  if (ZSTD_isError(r)) {
    fail(ErrorKind::internal, "zstd: setting {} failed: {}", what, ZSTD_getErrorName(r));
  }
}

Bytes zstd_compress(ByteSpan input, int level) {
  check_level(Compression::zstd, level, 1, ZSTD_maxCLevel());
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) fail(ErrorKind::internal, "zstd: ZSTD_createCCtx failed");
  zstd_set(cctx.get(), ZSTD_c_compressionLevel, level, "compressionLevel");
  zstd_set(cctx.get(), ZSTD_c_checksumFlag, 1, "checksumFlag");
  zstd_set(cctx.get(), ZSTD_c_contentSizeFlag, 1, "contentSizeFlag");
  zstd_set(cctx.get(), ZSTD_c_dictIDFlag, 0, "dictIDFlag");
  // Always single-threaded: output with nbWorkers 0 differs from nbWorkers >= 1, so the value
  // must not follow -j. Segments are compressed in parallel instead.
  zstd_set(cctx.get(), ZSTD_c_nbWorkers, 0, "nbWorkers");
  Bytes out(ZSTD_compressBound(input.size()));
  const std::size_t n =
      ZSTD_compress2(cctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n))
    fail(ErrorKind::internal, "zstd: compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

DecompressedFrame zstd_decompress(ByteSpan input, std::uint64_t max_output) {
  const std::size_t frame = ZSTD_findFrameCompressedSize(input.data(), input.size());
  if (ZSTD_isError(frame)) {
    fail(ErrorKind::input, "zstd data: bad or truncated frame ({} input bytes): {}", input.size(),
         ZSTD_getErrorName(frame));
  }
  const unsigned long long content = ZSTD_getFrameContentSize(input.data(), frame);
  if (content == ZSTD_CONTENTSIZE_ERROR) fail(ErrorKind::input, "zstd data: bad frame header");
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > max_output) {
    fail(ErrorKind::input, "zstd data: decompressed size {} exceeds the limit of {} bytes", content,
         max_output);
  }
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) fail(ErrorKind::internal, "zstd: ZSTD_createDCtx failed");
  const std::uint64_t hint = content == ZSTD_CONTENTSIZE_UNKNOWN ? frame / 4 * 16 : content;
  BoundedOutput out(max_output, hint, Compression::zstd);
  ZSTD_inBuffer in{input.data(), frame, 0};
  std::uint64_t used = 0;
  for (;;) {
    const std::uint64_t room = out.make_room(used);
    if (room == 0) out.check(used + 1);
    ZSTD_outBuffer ob{out.at(used), static_cast<std::size_t>(room), 0};
    const std::size_t r = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(r)) {
      fail(ErrorKind::input, "zstd data: corrupt near input offset 0x{:x}: {}", in.pos,
           ZSTD_getErrorName(r));
    }
    used += ob.pos;
    out.check(used);
    if (r == 0) break; // frame complete (checksum verified)
    if (in.pos == in.size && ob.pos < ob.size) {
      fail(ErrorKind::input, "zstd data: truncated frame");
    }
  }
  return {out.finish(used), frame};
}

// ---- xz (.xz file format 1.x) -------------------------------------------------------------

Bytes xz_compress(ByteSpan input, int level) {
  check_level(Compression::xz, level, 0, 9);
  lzma_stream strm = LZMA_STREAM_INIT;
  // CRC32: the kernel's xz decoder (lib/xz) is built without CRC64 for the initramfs path.
  if (lzma_easy_encoder(&strm, static_cast<std::uint32_t>(level), LZMA_CHECK_CRC32) != LZMA_OK) {
    fail(ErrorKind::internal, "xz: lzma_easy_encoder failed");
  }
  Bytes out(lzma_stream_buffer_bound(input.size()));
  strm.next_in = input.data();
  strm.avail_in = input.size();
  strm.next_out = out.data();
  strm.avail_out = out.size();
  const lzma_ret ret = lzma_code(&strm, LZMA_FINISH);
  const std::uint64_t produced = strm.total_out;
  lzma_end(&strm);
  if (ret != LZMA_STREAM_END)
    fail(ErrorKind::internal, "xz: compression failed ({})", static_cast<int>(ret));
  out.resize(static_cast<std::size_t>(produced));
  return out;
}

DecompressedFrame xz_decompress(ByteSpan input, std::uint64_t max_output) {
  lzma_stream strm = LZMA_STREAM_INIT;
  // No LZMA_CONCATENATED: stop at the end of the first stream; what follows is not ours.
  if (lzma_stream_decoder(&strm, 1ULL << 30, 0) != LZMA_OK) {
    fail(ErrorKind::internal, "xz: lzma_stream_decoder failed");
  }
  BoundedOutput out(max_output, input.size() / 4 * 16, Compression::xz);
  strm.next_in = input.data();
  strm.avail_in = input.size();
  std::uint64_t used = 0;
  try {
    for (;;) {
      const std::uint64_t room = out.make_room(used);
      if (room == 0) out.check(used + 1);
      strm.next_out = out.at(used);
      strm.avail_out = static_cast<std::size_t>(room);
      const lzma_ret ret = lzma_code(&strm, LZMA_FINISH);
      used += room - strm.avail_out;
      out.check(used);
      if (ret == LZMA_STREAM_END) break;
      if (ret == LZMA_OK) continue;
      if (ret == LZMA_BUF_ERROR && strm.avail_in == 0) {
        fail(ErrorKind::input, "xz data: truncated after {} input bytes", input.size());
      }
      const char* why = ret == LZMA_FORMAT_ERROR     ? "not an xz stream"
                        : ret == LZMA_OPTIONS_ERROR  ? "unsupported options"
                        : ret == LZMA_MEMLIMIT_ERROR ? "needs more than 1 GiB of memory"
                        : ret == LZMA_DATA_ERROR     ? "corrupt data"
                                                     : "decoder error";
      fail(ErrorKind::input, "xz data: {} near input offset 0x{:x}", why,
           input.size() - strm.avail_in);
    }
  } catch (...) {
    lzma_end(&strm);
    throw;
  }
  const std::uint64_t consumed = input.size() - strm.avail_in;
  lzma_end(&strm);
  return {out.finish(used), consumed};
}

bool starts_with(ByteSpan data, std::initializer_list<std::uint8_t> magic) {
  return data.size() >= magic.size() && std::equal(magic.begin(), magic.end(), data.begin());
}

} // namespace

Bytes compress(ByteSpan input, Compression method, int level) {
  switch (method) {
  case Compression::none:
    return Bytes(input.begin(), input.end());
  case Compression::gzip:
    return gzip_compress(input, level);
  case Compression::zstd:
    return zstd_compress(input, level);
  case Compression::xz:
    return xz_compress(input, level);
  }
  fail(ErrorKind::internal, "compress: unknown compression {}", static_cast<int>(method));
}

DecompressedFrame decompress_frame(ByteSpan input, Compression method, std::uint64_t max_output) {
  switch (method) {
  case Compression::none:
    if (input.size() > max_output) {
      fail(ErrorKind::input, "data: size {} exceeds the limit of {} bytes", input.size(),
           max_output);
    }
    return {Bytes(input.begin(), input.end()), input.size()};
  case Compression::gzip:
    return gzip_decompress(input, max_output);
  case Compression::zstd:
    return zstd_decompress(input, max_output);
  case Compression::xz:
    return xz_decompress(input, max_output);
  }
  fail(ErrorKind::internal, "decompress: unknown compression {}", static_cast<int>(method));
}

Bytes decompress(ByteSpan input, Compression method, std::uint64_t max_output) {
  DecompressedFrame frame = decompress_frame(input, method, max_output);
  if (frame.consumed != input.size()) {
    fail(ErrorKind::input, "{} data: {} bytes of trailing garbage after the frame at offset 0x{:x}",
         compression_name(method), input.size() - frame.consumed, frame.consumed);
  }
  return std::move(frame.data);
}

std::optional<Compression> detect_compression(ByteSpan data) {
  if (starts_with(data, {0x1f, 0x8b})) return Compression::gzip;
  if (starts_with(data, {0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
  if (starts_with(data, {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00})) return Compression::xz;
  if (starts_with(data, {'0', '7', '0', '7'})) return Compression::none;
  return std::nullopt;
}

std::string_view detect_unsupported_compression(ByteSpan data) {
  // Magic numbers as in the kernel's lib/decompress.c compressed_formats[].
  if (starts_with(data, {0x1f, 0x9e})) return "gzip (old)";
  if (starts_with(data, {'B', 'Z', 'h'})) return "bzip2";
  if (starts_with(data, {0x5d, 0x00, 0x00})) return "lzma";
  if (starts_with(data, {0x89, 0x4c, 0x5a, 0x4f})) return "lzo";
  if (starts_with(data, {0x02, 0x21, 0x4c, 0x18})) return "lz4";
  return {};
}

std::string compression_library_versions() {
  return fmt::format("zlib {}, zstd {}, liblzma {}", zlibVersion(), ZSTD_versionString(),
                     lzma_version_string());
}

} // namespace tdximg::rootfs
