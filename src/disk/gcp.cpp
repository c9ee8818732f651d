// GCE image tarball: gzip (RFC 1952) of a GNU tar holding `disk.raw` padded to a whole GiB.
// Written incrementally: the GiB-sized disk never exists in memory.
#include <tdximg/disk/gcp.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include <tdximg/disk/gpt.hpp>
#include <tdximg/disk/image.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::disk {

namespace {

constexpr std::uint64_t k_block = 512;
constexpr std::uint64_t k_record = 10240; // GNU tar default: blocking factor 20

// Raw deflate into an RFC 1952 member with a fixed header; CRC32 and ISIZE tracked here.
class GzipWriter {
public:
  GzipWriter() {
    if (deflateInit2(&m_z, k_level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      fail(ErrorKind::internal, "gzip: deflateInit2 failed");
    }
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 (Unix): no name, no time, always the same.
    const std::uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    m_out.insert(m_out.end(), hdr, hdr + 10);
    m_crc = ::crc32(0L, Z_NULL, 0);
  }
  ~GzipWriter() { deflateEnd(&m_z); }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  void write(ByteSpan b, bool zeros = false) {
    static const uLong zero_crc = ::crc32(0L, Bytes(1U << 20, 0).data(), 1U << 20);
    while (!b.empty()) {
      const std::size_t n = std::min<std::size_t>(b.size(), 1U << 20);
      // CRC of a full zero chunk by combination (O(log n)) instead of rehashing zeros.
      m_crc = zeros && n == (1U << 20) ? ::crc32_combine(m_crc, zero_crc, static_cast<z_off_t>(n))
                                       : ::crc32(m_crc, b.data(), static_cast<uInt>(n));
      m_size += n;
      m_z.next_in = const_cast<Bytef*>(b.data()); // zlib's API is not const-correct
      m_z.avail_in = static_cast<uInt>(n);
      pump(Z_NO_FLUSH);
      b = b.subspan(n);
    }
  }
  // Long zero runs (the GiB padding) are compressed with level 1 + Z_RLE, which is several
  // times faster on zeros than level 6 and produces nearly the same size; the switch points
  // depend only on the input, so the output stays deterministic for a given zlib.
  void write_zeros(std::uint64_t n) {
    static const Bytes zeros(1U << 20, 0);
    const bool fast = n >= zeros.size();
    if (fast) set_params(1, Z_RLE);
    write_zeros_with_current_params(n, zeros);
    if (fast) set_params(k_level, Z_DEFAULT_STRATEGY);
  }
  void write_zeros_with_current_params(std::uint64_t n, const Bytes& zeros) {
    while (n > 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, zeros.size()));
      write(ByteSpan(zeros).subspan(0, k), true);
      n -= k;
    }
  }
  Bytes finish() {
    m_z.next_in = nullptr;
    m_z.avail_in = 0;
    pump(Z_FINISH);
    for (unsigned i = 0; i < 4; ++i) m_out.push_back(static_cast<std::uint8_t>(m_crc >> (8 * i)));
    for (unsigned i = 0; i < 4; ++i) m_out.push_back(static_cast<std::uint8_t>(m_size >> (8 * i)));
    return std::move(m_out);
  }

private:
  void set_params(int level, int strategy) {
    std::uint8_t buf[1 << 16];
    while (true) {
      m_z.next_in = nullptr;
      m_z.avail_in = 0;
      m_z.next_out = buf;
      m_z.avail_out = sizeof buf;
      const int rc = deflateParams(&m_z, level, strategy);
      m_out.insert(m_out.end(), buf, buf + (sizeof buf - m_z.avail_out));
      if (rc == Z_OK) return;
      if (rc != Z_BUF_ERROR) fail(ErrorKind::internal, "gzip: deflateParams failed");
    }
  }
  void pump(int flush) {
    std::uint8_t buf[1 << 16];
    while (true) {
      m_z.next_out = buf;
      m_z.avail_out = sizeof buf;
      const int rc = deflate(&m_z, flush);
      if (rc == Z_STREAM_ERROR) fail(ErrorKind::internal, "gzip: deflate failed");
      m_out.insert(m_out.end(), buf, buf + (sizeof buf - m_z.avail_out));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (m_z.avail_in == 0 && m_z.avail_out != 0)) break;
    }
  }
  static constexpr int k_level = 6;
  z_stream m_z{};
  Bytes m_out;
  uLong m_crc = 0;
  std::uint64_t m_size = 0;
};

void octal(Bytes& h, std::size_t off, std::size_t width, std::uint64_t v) {
  // width-1 octal digits, zero-padded, then NUL.
  for (std::size_t i = width - 1; i-- > 0;) {
    h[off + i] = static_cast<std::uint8_t>('0' + (v & 7));
    v >>= 3;
  }
  h[off + width - 1] = 0;
}

// GNU tar header (tar.h "struct posix_header" with the GNU magic "ustar  \0").
Bytes tar_header_impl(std::uint64_t size, std::int64_t sde) {
  Bytes h(k_block, 0);
  const std::string_view name = "disk.raw";
  std::copy(name.begin(), name.end(), h.begin());
  octal(h, 100, 8, 0644); // mode
  octal(h, 108, 8, 0);    // uid
  octal(h, 116, 8, 0);    // gid
  if (size < (1ULL << 33)) {
    octal(h, 124, 12, size); // 11 octal digits hold < 8 GiB
  } else {
    // GNU base-256: high bit of the first byte set, big-endian value in the rest.
    h[124] = 0x80;
    for (std::size_t i = 0; i < 8; ++i) h[135 - i] = static_cast<std::uint8_t>(size >> (8 * i));
  }
  const std::uint64_t max_mtime = (1ULL << 33) - 1;
  const std::uint64_t mtime = sde <= 0 ? 0 : std::min<std::uint64_t>(static_cast<std::uint64_t>(sde), max_mtime);
  octal(h, 136, 12, mtime);
  h[156] = '0'; // regular file
  const std::string_view magic("ustar  \0", 8);
  std::copy(magic.begin(), magic.end(), h.begin() + 257);
  const std::string_view root = "root";
  std::copy(root.begin(), root.end(), h.begin() + 265); // uname
  std::copy(root.begin(), root.end(), h.begin() + 297); // gname
  // Checksum: byte sum with the field as 8 spaces, written as 6 octal digits, NUL, space.
  std::fill_n(h.begin() + 148, 8, ' ');
  std::uint64_t sum = 0;
  for (std::uint8_t c : h) sum += c;
  octal(h, 148, 7, sum);
  h[155] = ' ';
  return h;
}

} // namespace

Bytes gcp_tar_header(std::uint64_t size_bytes, std::int64_t source_date_epoch) {
  return tar_header_impl(size_bytes, source_date_epoch);
}

std::uint64_t gcp_disk_size(std::uint64_t raw_size) noexcept {
  const std::uint64_t n = (raw_size + k_gib - 1) / k_gib;
  return std::max<std::uint64_t>(n, 1) * k_gib;
}

Bytes make_gcp_tar_gz(ByteSpan raw, std::int64_t source_date_epoch) {
  if (raw.size() % k_block != 0 || raw.size() < 67 * k_block) {
    fail(ErrorKind::input, "GCP image: raw disk of {} bytes is not a GPT disk of whole sectors", raw.size());
  }
  const GptInfo g = read_gpt(raw);
  if (!g.backup.valid) {
    fail(ErrorKind::input, "GCP image: raw disk's backup GPT is not at its end ({})", g.backup.problem);
  }
  const std::uint64_t size = gcp_disk_size(raw.size());
  const GptRelocation r = relocate_gpt(raw, size);
  GzipWriter gz;
  gz.write(tar_header_impl(size, source_date_epoch));
  // disk.raw: new head, the raw disk between the primary and its backup GPT, zeros over the
  // old backup and up to the new one, then the new backup array + header.
  gz.write(r.head);
  const std::uint64_t mid_end = raw.size() - 33 * k_block;
  gz.write(raw.subspan(r.head.size(), static_cast<std::size_t>(mid_end - r.head.size())));
  gz.write_zeros(size - r.tail.size() - mid_end);
  gz.write(r.tail);
  // End of archive: two zero blocks, then pad the archive to whole 10240-byte records.
  const std::uint64_t used = k_block + size + 2 * k_block;
  gz.write_zeros(2 * k_block + (k_record - used % k_record) % k_record);
  return gz.finish();
}

} // namespace tdximg::disk
