// FAT12/16/32 writer and reader per Microsoft's "FAT: General Overview of On-Disk Format"
// (fatgen103, version 1.03, 2000). Section numbers below refer to that document.
#include <tdximg/disk/fat.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <tdximg/util/error.hpp>

namespace tdximg::disk {

namespace {

constexpr std::uint32_t k_fat12_max_clusters = 4084;  // fatgen103 "FAT Type Determination"
constexpr std::uint32_t k_fat16_max_clusters = 65524;
constexpr std::uint64_t k_fat32_max_clusters = 0x0FFFFFF5 - 2; // cluster numbers < 0x0FFFFFF7
constexpr std::uint32_t k_root_entries_fat16 = 512;            // fatgen103 recommends 512
constexpr std::uint8_t k_attr_read_only = 0x01;
constexpr std::uint8_t k_attr_hidden = 0x02;
constexpr std::uint8_t k_attr_system = 0x04;
constexpr std::uint8_t k_attr_volume_id = 0x08;
constexpr std::uint8_t k_attr_directory = 0x10;
constexpr std::uint8_t k_attr_archive = 0x20;
constexpr std::uint8_t k_attr_long_name =
    k_attr_read_only | k_attr_hidden | k_attr_system | k_attr_volume_id;
constexpr int k_max_depth = 64;

unsigned fat_bits(FatType t) { return t == FatType::fat12 ? 12 : t == FatType::fat16 ? 16 : 32; }

// ---- time ---------------------------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct FatTime {
  std::uint16_t date = 0;
  std::uint16_t time = 0;
};

// SOURCE_DATE_EPOCH -> FAT date/time in UTC (§6 "Date and Time Formats": 2-second
// resolution, years 1980..2107), clamped to 1980-01-01 00:00:00 .. 2107-12-31 23:59:58.
FatTime fat_time(std::int64_t sde) {
  const std::int64_t lo = days_from_civil(1980, 1, 1) * 86400;
  const std::int64_t hi = days_from_civil(2107, 12, 31) * 86400 + 86399;
  const std::int64_t t = std::clamp(sde, lo, hi);
  std::int64_t days = t / 86400;
  const std::int64_t secs = t % 86400;
  // civil_from_days
  days += 719468;
  const std::int64_t era = days / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2);
  FatTime ft;
  ft.date = static_cast<std::uint16_t>(((year - 1980) << 9) | (month << 5) | day);
  ft.time = static_cast<std::uint16_t>(((secs / 3600) << 11) | (((secs / 60) % 60) << 5) |
                                       ((secs % 60) / 2));
  return ft;
}

// ---- names --------------------------------------------------------------------------------

bool valid_83_char(char c) {
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'()-@^_`{}~").find(c) != std::string_view::npos;
}

// "BOOTX64.EFI" -> "BOOTX64 EFI" (11 bytes, §6.1). Throws ErrorKind::input for non-8.3 names.
std::string to_83(std::string_view name, std::string_view path) {
  const auto dot = name.find('.');
  const std::string_view base = name.substr(0, dot);
  const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  const bool ok = !base.empty() && base.size() <= 8 && ext.size() <= 3 &&
                  (dot == std::string_view::npos || !ext.empty()) &&
                  std::all_of(base.begin(), base.end(), valid_83_char) &&
                  std::all_of(ext.begin(), ext.end(), valid_83_char);
  if (!ok) {
    fail(ErrorKind::input,
         "FAT file \"{}\": component \"{}\" is not an upper-case 8.3 name (long names are not "
         "supported)",
         path, name);
  }
  std::string out(11, ' ');
  std::copy(base.begin(), base.end(), out.begin());
  std::copy(ext.begin(), ext.end(), out.begin() + 8);
  return out;
}

std::string label_field(std::string_view label) {
  if (label.empty()) return "NO NAME    ";
  if (label.size() > 11 ||
      !std::all_of(label.begin(), label.end(), [](char c) { return valid_83_char(c) || c == ' '; })) {
    fail(ErrorKind::input, "FAT volume label \"{}\": at most 11 characters of A-Z 0-9 and 8.3 symbols",
         label);
  }
  std::string out(label);
  out.resize(11, ' ');
  return out;
}

// ---- writer -------------------------------------------------------------------------------

struct Node {
  std::string name83;
  bool is_dir = false;
  const Bytes* data = nullptr;
  std::map<std::string, std::unique_ptr<Node>> children; // sorted by 8.3 name bytes
  std::uint32_t first_cluster = 0;
  std::uint32_t clusters = 0;
};

void put16(Bytes& b, std::uint64_t off, std::uint16_t v) {
  b[off] = static_cast<std::uint8_t>(v);
  b[off + 1] = static_cast<std::uint8_t>(v >> 8);
}
void put32(Bytes& b, std::uint64_t off, std::uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

class Writer {
public:
  Writer(const FatSpec& spec, const FatGeometry& g) : m_spec(spec), m_g(g) {
    m_cluster_bytes = std::uint64_t{spec.sectors_per_cluster} * k_sector_bytes;
    m_data_start = g.reserved_sectors + 2ULL * g.fat_sectors + g.root_dir_sectors;
    m_ft = fat_time(spec.source_date_epoch);
  }

  Bytes build(Node& root) {
    m_out.assign(m_g.total_sectors * k_sector_bytes, 0);
    allocate(root, true);
    write_dir(root, nullptr, true);
    write_fats();
    write_boot();
    return std::move(m_out);
  }

private:
  std::uint32_t alloc(std::uint64_t n, std::string_view what) {
    if (n == 0) return 0;
    if (n > m_g.cluster_count - (m_next - 2)) {
      fail(ErrorKind::unsupported, "FAT volume of {} bytes: no room for {} ({} clusters needed)",
           m_g.total_sectors * k_sector_bytes, what, n);
    }
    const std::uint32_t first = m_next;
    for (std::uint64_t i = 0; i + 1 < n; ++i) m_fat.push_back(m_next + static_cast<std::uint32_t>(i) + 1);
    m_fat.push_back(0xFFFFFFFF); // end of chain marker, masked per type when written
    m_next += static_cast<std::uint32_t>(n);
    return first;
  }

  std::uint64_t dir_entries(const Node& n, bool is_root) const {
    std::uint64_t e = n.children.size();
    if (!is_root) e += 2;                  // "." and ".."
    if (is_root && !m_spec.label.empty()) e += 1; // volume label entry
    return e;
  }

  void allocate(Node& n, bool is_root) {
    if (n.is_dir) {
      const std::uint64_t bytes = dir_entries(n, is_root) * 32;
      if (is_root && m_g.type != FatType::fat32) {
        if (dir_entries(n, true) > k_root_entries_fat16) {
          fail(ErrorKind::unsupported, "FAT root directory: more than {} entries", k_root_entries_fat16);
        }
      } else {
        const std::uint64_t c = std::max<std::uint64_t>(1, (bytes + m_cluster_bytes - 1) / m_cluster_bytes);
        n.first_cluster = alloc(c, "a directory");
        n.clusters = static_cast<std::uint32_t>(c);
      }
      for (auto& [name, child] : n.children) allocate(*child, false);
    } else {
      const std::uint64_t c = (n.data->size() + m_cluster_bytes - 1) / m_cluster_bytes;
      n.first_cluster = alloc(c, "a file");
      n.clusters = static_cast<std::uint32_t>(c);
      if (c != 0) {
        std::copy(n.data->begin(), n.data->end(), m_out.begin() + static_cast<std::ptrdiff_t>(cluster_offset(n.first_cluster)));
      }
    }
  }

  std::uint64_t cluster_offset(std::uint32_t c) const {
    return (m_data_start + std::uint64_t{c - 2} * m_spec.sectors_per_cluster) * k_sector_bytes;
  }

  // §6 directory entry, all three timestamps the same.
  void entry(Bytes& d, std::string_view name11, std::uint8_t attr, std::uint32_t cluster,
             std::uint32_t size) {
    const std::uint64_t o = d.size();
    d.resize(o + 32, 0);
    std::copy(name11.begin(), name11.end(), d.begin() + static_cast<std::ptrdiff_t>(o));
    d[o + 11] = attr;
    // DIR_CrtTimeTenth (13) stays 0: SOURCE_DATE_EPOCH has whole seconds, even ones below.
    put16(d, o + 14, m_ft.time);
    put16(d, o + 16, m_ft.date);
    put16(d, o + 18, m_ft.date);
    put16(d, o + 20, static_cast<std::uint16_t>(cluster >> 16));
    put16(d, o + 22, m_ft.time);
    put16(d, o + 24, m_ft.date);
    put16(d, o + 26, static_cast<std::uint16_t>(cluster));
    put32(d, o + 28, size);
  }

  void write_dir(const Node& n, const Node* parent, bool is_root) {
    Bytes d;
    if (is_root && !m_spec.label.empty()) entry(d, label_field(m_spec.label), k_attr_volume_id, 0, 0);
    if (!is_root) {
      entry(d, ".          ", k_attr_directory, n.first_cluster, 0);
      // ".." of a directory in the root points at cluster 0, also on FAT32 (§6.1).
      const std::uint32_t up = (parent == nullptr || parent == m_root) ? 0 : parent->first_cluster;
      entry(d, "..         ", k_attr_directory, up, 0);
    }
    for (const auto& [name, child] : n.children) {
      if (child->is_dir) {
        entry(d, child->name83, k_attr_directory, child->first_cluster, 0);
      } else {
        entry(d, child->name83, k_attr_archive, child->first_cluster,
              static_cast<std::uint32_t>(child->data->size()));
      }
    }
    const std::uint64_t off = (is_root && m_g.type != FatType::fat32)
                                  ? (m_g.reserved_sectors + 2ULL * m_g.fat_sectors) * k_sector_bytes
                                  : cluster_offset(n.first_cluster);
    std::copy(d.begin(), d.end(), m_out.begin() + static_cast<std::ptrdiff_t>(off));
    for (const auto& [name, child] : n.children) {
      if (child->is_dir) write_dir(*child, &n, false);
    }
  }

  void set_fat_entry(std::uint64_t fat_off, std::uint32_t n, std::uint32_t v) {
    switch (m_g.type) {
    case FatType::fat12: {
      const std::uint64_t o = fat_off + n + n / 2;
      v &= 0xFFF;
      if (n % 2 == 0) {
        m_out[o] = static_cast<std::uint8_t>(v);
        m_out[o + 1] = static_cast<std::uint8_t>((m_out[o + 1] & 0xF0) | (v >> 8));
      } else {
        m_out[o] = static_cast<std::uint8_t>((m_out[o] & 0x0F) | ((v & 0x0F) << 4));
        m_out[o + 1] = static_cast<std::uint8_t>(v >> 4);
      }
      break;
    }
    case FatType::fat16: put16(m_out, fat_off + 2ULL * n, static_cast<std::uint16_t>(v)); break;
    case FatType::fat32: put32(m_out, fat_off + 4ULL * n, v & 0x0FFFFFFF); break;
    }
  }

  void write_fats() {
    const std::uint32_t eoc = m_g.type == FatType::fat12 ? 0xFFF : m_g.type == FatType::fat16 ? 0xFFFF : 0x0FFFFFFF;
    for (unsigned f = 0; f < 2; ++f) {
      const std::uint64_t fat_off = (m_g.reserved_sectors + std::uint64_t{f} * m_g.fat_sectors) * k_sector_bytes;
      // §4: FAT[0] = media byte in the low 8 bits, all other bits set; FAT[1] = EOC with the
      // "clean shutdown" and "no hard error" bits set.
      set_fat_entry(fat_off, 0, 0x0FFFFF00 | 0xF8);
      set_fat_entry(fat_off, 1, eoc);
      for (std::size_t i = 0; i < m_fat.size(); ++i) {
        const std::uint32_t v = m_fat[i] == 0xFFFFFFFF ? eoc : m_fat[i];
        set_fat_entry(fat_off, static_cast<std::uint32_t>(i + 2), v);
      }
    }
  }

  void write_boot() {
    Bytes& b = m_out;
    const bool f32 = m_g.type == FatType::fat32;
    b[0] = 0xEB; // jmp short over the BPB; no boot code (this volume is for UEFI, not BIOS)
    b[1] = f32 ? 0x58 : 0x3C;
    b[2] = 0x90;
    const std::string_view oem = "MSWIN4.1"; // §3.1: the most compatible BS_OEMName
    std::copy(oem.begin(), oem.end(), b.begin() + 3);
    put16(b, 11, static_cast<std::uint16_t>(k_sector_bytes));
    b[13] = static_cast<std::uint8_t>(m_spec.sectors_per_cluster);
    put16(b, 14, static_cast<std::uint16_t>(m_g.reserved_sectors));
    b[16] = 2;
    put16(b, 17, static_cast<std::uint16_t>(f32 ? 0 : k_root_entries_fat16));
    const bool small = !f32 && m_g.total_sectors < 0x10000;
    put16(b, 19, small ? static_cast<std::uint16_t>(m_g.total_sectors) : 0);
    b[21] = 0xF8; // fixed media
    put16(b, 22, f32 ? 0 : static_cast<std::uint16_t>(m_g.fat_sectors));
    put16(b, 24, 63);  // BPB_SecPerTrk, BPB_NumHeads: only for INT 13h; conventional values
    put16(b, 26, 255);
    put32(b, 28, m_spec.hidden_sectors);
    put32(b, 32, small ? 0 : static_cast<std::uint32_t>(m_g.total_sectors));
    std::uint64_t ext = 36;
    if (f32) {
      put32(b, 36, m_g.fat_sectors);
      put16(b, 40, 0); // BPB_ExtFlags: FATs mirrored
      put16(b, 42, 0); // BPB_FSVer 0.0
      put32(b, 44, 2); // BPB_RootClus: the root directory is allocated first
      put16(b, 48, 1); // BPB_FSInfo
      put16(b, 50, 6); // BPB_BkBootSec (§3.3 recommends 6)
      ext = 64;
    }
    b[ext] = 0x80;     // BS_DrvNum
    b[ext + 2] = 0x29; // BS_BootSig: the next three fields are present
    put32(b, ext + 3, m_serial);
    const std::string lab = label_field(m_spec.label);
    std::copy(lab.begin(), lab.end(), b.begin() + static_cast<std::ptrdiff_t>(ext + 7));
    const std::string_view fst = f32 ? "FAT32   " : m_g.type == FatType::fat16 ? "FAT16   " : "FAT12   ";
    std::copy(fst.begin(), fst.end(), b.begin() + static_cast<std::ptrdiff_t>(ext + 18));
    b[510] = 0x55;
    b[511] = 0xAA;
    if (f32) {
      // §5 FSInfo at sector 1, backup boot sector at 6 and backup FSInfo at 7.
      const std::uint64_t fsi = k_sector_bytes;
      put32(b, fsi + 0, 0x41615252);
      put32(b, fsi + 484, 0x61417272);
      const std::uint64_t used = m_next - 2;
      put32(b, fsi + 488, static_cast<std::uint32_t>(m_g.cluster_count - used));
      put32(b, fsi + 492, used == m_g.cluster_count ? 0xFFFFFFFF : m_next);
      put32(b, fsi + 508, 0xAA550000);
      std::copy_n(b.begin(), 2 * k_sector_bytes, b.begin() + 6 * k_sector_bytes);
    }
  }

public:
  void set_serial(std::uint32_t s) { m_serial = s; }
  void set_root(const Node* r) { m_root = r; }

private:
  const FatSpec& m_spec;
  FatGeometry m_g;
  std::uint64_t m_cluster_bytes = 0;
  std::uint64_t m_data_start = 0;
  FatTime m_ft;
  Bytes m_out;
  std::vector<std::uint32_t> m_fat; // entries for clusters 2, 3, ...
  std::uint32_t m_next = 2;
  std::uint32_t m_serial = 0;
  const Node* m_root = nullptr;
};

std::optional<FatGeometry> layout_for(FatType t, std::uint64_t total, std::uint32_t spc) {
  FatGeometry g;
  g.type = t;
  g.total_sectors = total;
  g.reserved_sectors = t == FatType::fat32 ? 32 : 1; // §3.5: 32 is customary for FAT32
  g.root_dir_sectors = t == FatType::fat32 ? 0 : k_root_entries_fat16 * 32 / k_sector_bytes;
  std::uint64_t fat = 1;
  for (int iter = 0; iter < 64; ++iter) {
    const std::uint64_t meta = g.reserved_sectors + g.root_dir_sectors + 2 * fat;
    if (meta >= total) return std::nullopt;
    const std::uint64_t clusters = (total - meta) / spc;
    const std::uint64_t need = ((clusters + 2) * fat_bits(t) + 8 * k_sector_bytes - 1) / (8 * k_sector_bytes);
    if (need <= fat) {
      g.fat_sectors = static_cast<std::uint32_t>(fat);
      g.cluster_count = clusters;
      return g;
    }
    fat = need;
  }
  return std::nullopt;
}

// ---- reader -------------------------------------------------------------------------------

class Reader {
public:
  Reader(ByteSpan vol, std::string name) : m_vol(vol), m_name(std::move(name)) { parse_bpb(); }

  [[noreturn]] void bad(std::uint64_t offset, std::string_view msg) const {
    fail(ErrorKind::input, "{}: {} at offset 0x{:x}", m_name, msg, offset);
  }

  void parse_bpb() {
    if (m_vol.size() < 512) bad(0, "truncated boot sector");
    const std::uint32_t bps = load_u16le(m_vol, 11, "BPB_BytsPerSec");
    if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) bad(11, fmt::format("BPB_BytsPerSec {} invalid", bps));
    const std::uint32_t spc = m_vol[13];
    if (spc == 0 || (spc & (spc - 1)) != 0) bad(13, fmt::format("BPB_SecPerClus {} invalid", spc));
    const std::uint32_t rsvd = load_u16le(m_vol, 14, "BPB_RsvdSecCnt");
    if (rsvd == 0) bad(14, "BPB_RsvdSecCnt is 0");
    const std::uint32_t nfats = m_vol[16];
    if (nfats == 0) bad(16, "BPB_NumFATs is 0");
    const std::uint32_t root_ent = load_u16le(m_vol, 17, "BPB_RootEntCnt");
    const std::uint32_t tot16 = load_u16le(m_vol, 19, "BPB_TotSec16");
    const std::uint32_t fatsz16 = load_u16le(m_vol, 22, "BPB_FATSz16");
    const std::uint32_t tot32 = load_u32le(m_vol, 32, "BPB_TotSec32");
    const std::uint64_t fatsz = fatsz16 != 0 ? fatsz16 : load_u32le(m_vol, 36, "BPB_FATSz32");
    const std::uint64_t total = tot16 != 0 ? tot16 : tot32;
    if (fatsz == 0) bad(22, "FAT size is 0");
    m_bps = bps;
    m_spc = spc;
    m_root_dir_sectors = (std::uint64_t{root_ent} * 32 + bps - 1) / bps;
    m_fat_offset = std::uint64_t{rsvd} * bps;
    m_fat_bytes = fatsz * bps;
    m_root_offset = (rsvd + nfats * fatsz) * bps;
    const std::uint64_t data_start = rsvd + nfats * fatsz + m_root_dir_sectors;
    if (total <= data_start) bad(19, fmt::format("{} sectors leave no data region", total));
    if (total > m_vol.size() / bps) {
      bad(m_vol.size(), fmt::format("volume truncated: BPB says {} sectors of {} bytes, have {} bytes",
                                     total, bps, m_vol.size()));
    }
    m_data_offset = data_start * bps;
    m_clusters = (total - data_start) / spc;
    m_type = fat_type_for_clusters(m_clusters);
    // fatgen103: the cluster count decides; a FAT32 BPB (FATSz16 == 0, RootEntCnt 0) with a
    // FAT16-sized count is malformed, and so is the opposite.
    if ((m_type == FatType::fat32) != (fatsz16 == 0)) {
      bad(22, fmt::format("BPB layout disagrees with the cluster count {} ({})", m_clusters,
                          fat_type_name(m_type)));
    }
    if (m_clusters == 0) bad(13, "no data clusters");
    if ((m_clusters + 2) * fat_bits(m_type) > m_fat_bytes * 8) bad(22, "FAT too small for the cluster count");
    if (m_type == FatType::fat32) {
      m_root_cluster = load_u32le(m_vol, 44, "BPB_RootClus");
      check_cluster(m_root_cluster, 44);
    }
    const std::uint64_t ext = m_type == FatType::fat32 ? 64 : 36;
    if (m_vol[ext + 2] == 0x29) {
      m_serial = load_u32le(m_vol, ext + 3, "BS_VolID");
      std::string lab(as_chars(m_vol.subspan(ext + 7, 11)));
      while (!lab.empty() && lab.back() == ' ') lab.pop_back();
      m_label = lab;
    }
  }

  void check_cluster(std::uint64_t c, std::uint64_t where) const {
    if (c < 2 || c >= m_clusters + 2) bad(where, fmt::format("cluster {} outside 2..{}", c, m_clusters + 1));
  }

  std::uint32_t fat_entry(std::uint32_t n) const {
    switch (m_type) {
    case FatType::fat12: {
      const std::uint64_t o = m_fat_offset + n + n / 2;
      const std::uint32_t v = load_u16le(m_vol, o, "FAT12 entry");
      return n % 2 == 0 ? (v & 0xFFF) : (v >> 4);
    }
    case FatType::fat16: return load_u16le(m_vol, m_fat_offset + 2ULL * n, "FAT16 entry");
    case FatType::fat32: return load_u32le(m_vol, m_fat_offset + 4ULL * n, "FAT32 entry") & 0x0FFFFFFF;
    }
    return 0;
  }

  bool is_eoc(std::uint32_t v) const {
    switch (m_type) {
    case FatType::fat12: return v >= 0xFF8;
    case FatType::fat16: return v >= 0xFFF8;
    case FatType::fat32: return v >= 0x0FFFFFF8;
    }
    return true;
  }

  // The cluster chain from `first`; throws on out-of-range entries, free/bad clusters, loops.
  std::vector<std::uint32_t> chain(std::uint32_t first, std::uint64_t where) const {
    std::vector<std::uint32_t> out;
    check_cluster(first, where);
    std::uint32_t c = first;
    while (true) {
      if (out.size() >= m_clusters) bad(where, fmt::format("cluster chain from {} loops", first));
      out.push_back(c);
      const std::uint32_t next = fat_entry(c);
      if (is_eoc(next)) break;
      if (next < 2 || next >= m_clusters + 2) {
        bad(m_fat_offset, fmt::format("cluster {} links to invalid entry 0x{:x}", c, next));
      }
      c = next;
    }
    return out;
  }

  std::uint64_t cluster_bytes() const { return std::uint64_t{m_spc} * m_bps; }
  std::uint64_t cluster_offset(std::uint32_t c) const { return m_data_offset + std::uint64_t{c - 2} * cluster_bytes(); }

  struct Entry {
    std::string name;
    bool is_dir = false;
    std::uint32_t first_cluster = 0;
    std::uint32_t size = 0;
    std::uint64_t offset = 0;
  };

  std::vector<Entry> read_dir(std::optional<std::uint32_t> cluster) const {
    Bytes raw;
    std::vector<std::uint64_t> offs; // offset of each 32-byte entry, for messages
    auto add_region = [&](std::uint64_t off, std::uint64_t len) {
      ByteSpan s = checked_slice(m_vol, off, len, m_name + ": directory");
      raw.insert(raw.end(), s.begin(), s.end());
      for (std::uint64_t i = 0; i < len; i += 32) offs.push_back(off + i);
    };
    if (!cluster) {
      if (m_type == FatType::fat32) {
        for (std::uint32_t c : chain(m_root_cluster, 44)) add_region(cluster_offset(c), cluster_bytes());
      } else {
        add_region(m_root_offset, m_root_dir_sectors * m_bps);
      }
    } else {
      for (std::uint32_t c : chain(*cluster, 0)) add_region(cluster_offset(c), cluster_bytes());
    }
    std::vector<Entry> out;
    for (std::size_t i = 0; i + 32 <= raw.size(); i += 32) {
      ByteSpan e(raw.data() + i, 32);
      if (e[0] == 0x00) break; // §6.1: no further entries
      if (e[0] == 0xE5) continue;
      const std::uint8_t attr = e[11];
      if ((attr & 0x3F) == k_attr_long_name) continue; // LFN entries: short names are used
      if (attr & k_attr_volume_id) continue;
      std::string base(as_chars(e.subspan(0, 8)));
      std::string ext(as_chars(e.subspan(8, 3)));
      if (base[0] == 0x05) base[0] = static_cast<char>(0xE5);
      while (!base.empty() && base.back() == ' ') base.pop_back();
      while (!ext.empty() && ext.back() == ' ') ext.pop_back();
      if (base == "." || base == "..") continue;
      Entry en;
      en.name = ext.empty() ? base : base + "." + ext;
      en.is_dir = (attr & k_attr_directory) != 0;
      en.first_cluster = static_cast<std::uint32_t>(load_u16le(e, 26, "DIR_FstClusLO")) |
                         (m_type == FatType::fat32 ? static_cast<std::uint32_t>(load_u16le(e, 20, "DIR_FstClusHI")) << 16 : 0);
      en.size = load_u32le(e, 28, "DIR_FileSize");
      en.offset = offs[i / 32];
      if (en.name.empty()) bad(en.offset, "directory entry with an empty name");
      if (en.is_dir && en.first_cluster == 0) bad(en.offset, fmt::format("directory \"{}\" has cluster 0", en.name));
      out.push_back(std::move(en));
    }
    return out;
  }

  Bytes read_file(const Entry& e) const {
    Bytes out;
    if (e.size == 0) return out;
    if (e.first_cluster == 0) bad(e.offset, fmt::format("file \"{}\" of {} bytes has no cluster", e.name, e.size));
    const auto ch = chain(e.first_cluster, e.offset);
    if (std::uint64_t{ch.size()} * cluster_bytes() < e.size) {
      bad(e.offset, fmt::format("file \"{}\": {} bytes do not fit its {} clusters", e.name, e.size, ch.size()));
    }
    out.reserve(e.size);
    std::uint64_t left = e.size;
    for (std::uint32_t c : ch) {
      if (left == 0) break;
      const std::uint64_t n = std::min(left, cluster_bytes());
      ByteSpan s = checked_slice(m_vol, cluster_offset(c), n, m_name + ": file data");
      out.insert(out.end(), s.begin(), s.end());
      left -= n;
    }
    return out;
  }

  void walk(std::optional<std::uint32_t> dir, const std::string& prefix, int depth,
            std::set<std::uint32_t>& seen, std::vector<FatEntryInfo>& out) const {
    if (depth > k_max_depth) bad(0, "directories nested too deeply");
    for (const Entry& e : read_dir(dir)) {
      FatEntryInfo fi;
      fi.path = prefix.empty() ? e.name : prefix + "/" + e.name;
      fi.is_directory = e.is_dir;
      if (e.is_dir) {
        if (!seen.insert(e.first_cluster).second) bad(e.offset, fmt::format("directory \"{}\" forms a loop", fi.path));
        out.push_back(fi);
        walk(e.first_cluster, fi.path, depth + 1, seen, out);
      } else {
        fi.size_bytes = e.size;
        fi.sha256 = sha256(read_file(e));
        out.push_back(fi);
      }
    }
  }

  Bytes find(std::string_view path) const {
    std::optional<std::uint32_t> dir;
    std::string_view rest = path;
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    for (int depth = 0; depth <= k_max_depth; ++depth) {
      const auto slash = rest.find('/');
      const std::string_view comp = rest.substr(0, slash);
      const bool last = slash == std::string_view::npos;
      const auto entries = read_dir(dir);
      const auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) {
        return e.name.size() == comp.size() &&
               std::equal(e.name.begin(), e.name.end(), comp.begin(), [](char a, char b) {
                 auto up = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; };
                 return up(a) == up(b);
               });
      });
      if (it == entries.end() || it->is_dir == last) {
        fail(ErrorKind::input, "{}: no file \"{}\"", m_name, path);
      }
      if (last) return read_file(*it);
      dir = it->first_cluster;
      rest = rest.substr(slash + 1);
    }
    fail(ErrorKind::input, "{}: path \"{}\" nested too deeply", m_name, path);
  }

  FatInfo info() const {
    FatInfo fi;
    fi.type = m_type;
    fi.bytes_per_sector = m_bps;
    fi.sectors_per_cluster = m_spc;
    fi.cluster_count = m_clusters;
    fi.volume_serial = m_serial;
    fi.label = m_label;
    std::set<std::uint32_t> seen;
    walk(std::nullopt, "", 0, seen, fi.entries);
    return fi;
  }

private:
  ByteSpan m_vol;
  std::string m_name;
  std::uint32_t m_bps = 0;
  std::uint32_t m_spc = 0;
  std::uint64_t m_root_dir_sectors = 0;
  std::uint64_t m_fat_offset = 0;
  std::uint64_t m_fat_bytes = 0;
  std::uint64_t m_root_offset = 0;
  std::uint64_t m_data_offset = 0;
  std::uint64_t m_clusters = 0;
  std::uint32_t m_root_cluster = 0;
  FatType m_type = FatType::fat32;
  std::uint32_t m_serial = 0;
  std::string m_label;
};

} // namespace

std::string_view fat_type_name(FatType t) noexcept {
  switch (t) {
  case FatType::fat12: return "FAT12";
  case FatType::fat16: return "FAT16";
  case FatType::fat32: return "FAT32";
  }
  return "FAT?";
}

FatType fat_type_for_clusters(std::uint64_t cluster_count) noexcept {
  if (cluster_count <= k_fat12_max_clusters) return FatType::fat12;
  if (cluster_count <= k_fat16_max_clusters) return FatType::fat16;
  return FatType::fat32;
}

FatGeometry fat_geometry(std::uint64_t size_bytes, std::uint32_t sectors_per_cluster) {
  if (sectors_per_cluster == 0 || sectors_per_cluster > 128 ||
      (sectors_per_cluster & (sectors_per_cluster - 1)) != 0) {
    fail(ErrorKind::input, "FAT: sectors per cluster {} is not a power of two up to 128", sectors_per_cluster);
  }
  if (size_bytes % k_sector_bytes != 0) {
    fail(ErrorKind::input, "FAT: volume size {} is not a multiple of {}", size_bytes, k_sector_bytes);
  }
  const std::uint64_t total = size_bytes / k_sector_bytes;
  if (total > 0xFFFFFFFFULL) fail(ErrorKind::unsupported, "FAT: volume of {} bytes is too large", size_bytes);
  // The type follows from the cluster count (fatgen103), but the count depends on the
  // layout of the type; exactly one type can be self-consistent (a wider FAT and more
  // reserved sectors only lower the count), or none right at a threshold.
  for (FatType t : {FatType::fat12, FatType::fat16, FatType::fat32}) {
    const auto g = layout_for(t, total, sectors_per_cluster);
    if (g && g->cluster_count >= 1 && fat_type_for_clusters(g->cluster_count) == t &&
        g->cluster_count <= k_fat32_max_clusters) {
      return *g;
    }
  }
  fail(ErrorKind::unsupported,
       "FAT: {} bytes with {} sectors per cluster give a cluster count right at a FAT type "
       "threshold; choose another size",
       size_bytes, sectors_per_cluster);
}

Bytes make_fat(const FatSpec& spec) {
  const FatGeometry g = fat_geometry(spec.size_bytes, spec.sectors_per_cluster);
  label_field(spec.label); // validate early
  Node root;
  root.is_dir = true;
  std::vector<const FatFile*> sorted;
  for (const FatFile& f : spec.files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](const FatFile* a, const FatFile* b) { return a->path < b->path; });
  Hasher content(HashAlg::sha256);
  content.update("tdximg fat serial");
  for (const FatFile* f : sorted) {
    if (f->data.size() > 0xFFFFFFFFULL) {
      fail(ErrorKind::unsupported, "FAT file \"{}\": {} bytes exceeds the 4 GiB - 1 limit", f->path, f->data.size());
    }
    if (f->path.empty() || f->path.front() == '/' || f->path.back() == '/') {
      fail(ErrorKind::input, "FAT file \"{}\": path must be relative, without a trailing '/'", f->path);
    }
    Node* dir = &root;
    std::string_view rest = f->path;
    while (true) {
      const auto slash = rest.find('/');
      const std::string_view comp = rest.substr(0, slash);
      const std::string n83 = to_83(comp, f->path);
      auto& slot = dir->children[n83];
      if (slash == std::string_view::npos) {
        if (slot) fail(ErrorKind::input, "FAT file \"{}\": path given twice or is a directory", f->path);
        slot = std::make_unique<Node>();
        slot->name83 = n83;
        slot->data = &f->data;
        break;
      }
      if (!slot) {
        slot = std::make_unique<Node>();
        slot->name83 = n83;
        slot->is_dir = true;
      } else if (!slot->is_dir) {
        fail(ErrorKind::input, "FAT file \"{}\": \"{}\" is a file, not a directory", f->path, comp);
      }
      dir = slot.get();
      rest = rest.substr(slash + 1);
    }
    const Sha256 d = sha256(f->data);
    content.update(f->path).update(std::string_view("\0", 1)).update(d);
  }
  Writer w(spec, g);
  const Bytes serial = content.finish();
  w.set_serial(load_u32le(serial, 0, "serial"));
  w.set_root(&root);
  return w.build(root);
}

FatInfo inspect_fat(ByteSpan volume, const std::string& name) { return Reader(volume, name).info(); }

Bytes read_fat_file_in_volume(ByteSpan volume, std::string_view path, const std::string& name) {
  return Reader(volume, name).find(path);
}

} // namespace tdximg::disk
