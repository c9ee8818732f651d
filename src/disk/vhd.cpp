// Fixed VHD footer per Microsoft's "Virtual Hard Disk Image Format Specification" (v1.0,
// October 2006), "Hard Disk Footer Format"; all fields big-endian.
#include <tdximg/disk/vhd.hpp>

#include <algorithm>
#include <limits>

#include <tdximg/disk/gpt.hpp>
#include <tdximg/disk/image.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::disk {

namespace {
constexpr std::int64_t k_vhd_epoch = 946684800; // 2000-01-01T00:00:00Z in Unix time
constexpr std::uint32_t k_disk_type_fixed = 2;

std::uint32_t footer_checksum(ByteSpan footer) {
  // One's complement of the byte sum, with the checksum field (offset 64) taken as zero.
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < footer.size(); ++i) {
    if (i >= 64 && i < 68) continue;
    sum += footer[i];
  }
  return ~sum;
}
} // namespace

VhdGeometry vhd_chs(std::uint64_t size_bytes) noexcept {
  // Spec appendix "CHS Calculation", verbatim in structure.
  std::uint64_t total = size_bytes / 512;
  if (total > 65535ULL * 16 * 255) total = 65535ULL * 16 * 255;
  std::uint64_t spt = 0;
  std::uint64_t heads = 0;
  std::uint64_t cth = 0; // cylinders times heads
  if (total >= 65535ULL * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = total / spt;
  } else {
    spt = 17;
    cth = total / spt;
    heads = (cth + 1023) / 1024;
    if (heads < 4) heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = total / spt;
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = total / spt;
    }
  }
  VhdGeometry g;
  g.cylinders = static_cast<std::uint16_t>(cth / heads);
  g.heads = static_cast<std::uint8_t>(heads);
  g.sectors_per_track = static_cast<std::uint8_t>(spt);
  return g;
}

Bytes vhd_footer(std::uint64_t size_bytes, std::int64_t source_date_epoch, ByteSpan unique_id_seed) {
  if (size_bytes == 0 || size_bytes % k_mib != 0) {
    fail(ErrorKind::internal, "vhd_footer: size {} is not a positive multiple of 1 MiB", size_bytes);
  }
  // Seconds since 2000-01-01 UTC, clamped to what the 32-bit field holds.
  const std::int64_t ts64 = std::clamp<std::int64_t>(source_date_epoch - k_vhd_epoch, 0,
                                                     std::numeric_limits<std::uint32_t>::max());
  const VhdGeometry g = vhd_chs(size_bytes);
  const Guid id = derived_guid("vhd", unique_id_seed);
  ByteWriter w;
  w.str("conectix");
  w.u32be(2);                  // Features: reserved bit, always set
  w.u32be(0x00010000);         // File Format Version 1.0
  w.u64be(0xFFFFFFFFFFFFFFFF); // Data Offset: none for fixed disks
  w.u32be(static_cast<std::uint32_t>(ts64));
  // Creator "win " (Hyper-V): QEMU's vpc driver then uses Current Size, not CHS geometry.
  w.str("win ");
  w.u32be(0x000A0000);         // Creator Version 10.0
  w.str("Wi2k");               // Creator Host OS: Windows (Azure expects it)
  w.u64be(size_bytes);         // Original Size
  w.u64be(size_bytes);         // Current Size
  w.u16be(g.cylinders);
  w.u8(g.heads);
  w.u8(g.sectors_per_track);
  w.u32be(k_disk_type_fixed);
  w.u32be(0);                  // Checksum, patched below
  w.bytes(id);                 // Unique Id (derived from the content, not random)
  w.u8(0);                     // Saved State
  w.zeros(427);
  Bytes f = w.take();
  const std::uint32_t sum = footer_checksum(f);
  for (unsigned i = 0; i < 4; ++i) f[64 + i] = static_cast<std::uint8_t>(sum >> (24 - 8 * i));
  return f;
}

Bytes make_vhd(ByteSpan raw, std::int64_t source_date_epoch) {
  if (raw.empty()) fail(ErrorKind::input, "make_vhd: empty raw disk");
  const std::uint64_t size = align_up(raw.size(), k_mib, "VHD size");
  Hasher h(HashAlg::sha256);
  h.update(raw).update_zeros(size - raw.size());
  const Bytes seed = h.finish();
  Bytes out;
  out.reserve(size + 512);
  out.assign(raw.begin(), raw.end());
  out.resize(size, 0);
  const Bytes footer = vhd_footer(size, source_date_epoch, seed);
  out.insert(out.end(), footer.begin(), footer.end());
  return out;
}

VhdFooterInfo read_vhd_footer(ByteSpan vhd) {
  if (vhd.size() < 512) fail(ErrorKind::input, "VHD: {} bytes is too small for a footer", vhd.size());
  ByteReader r(vhd.subspan(vhd.size() - 512), "VHD footer", vhd.size() - 512);
  if (as_chars(r.bytes(8, "cookie")) != "conectix") {
    r.seek(0, "cookie");
    r.error("cookie", "not \"conectix\"");
  }
  VhdFooterInfo info;
  r.seek(24, "timestamp");
  info.timestamp = r.u32be("timestamp");
  r.seek(48, "current size");
  info.current_size = r.u64be("current size");
  info.geometry.cylinders = r.u16be("cylinders");
  info.geometry.heads = r.u8("heads");
  info.geometry.sectors_per_track = r.u8("sectors per track");
  info.disk_type = r.u32be("disk type");
  const std::uint32_t sum = r.u32be("checksum");
  info.checksum_ok = sum == footer_checksum(r.data());
  return info;
}

} // namespace tdximg::disk
