// GPT per UEFI 2.10 §5.2.3 (protective MBR) and §5.3 (GPT header, entry array).
#include <tdximg/disk/gpt.hpp>

#include <zlib.h>

#include <algorithm>

#include <tdximg/disk/fat.hpp>
#include <tdximg/disk/gcp.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::disk {

namespace {

constexpr std::uint64_t k_sector = k_sector_bytes;
constexpr std::uint32_t k_header_size = 92;     // UEFI 2.10 table 5.5
constexpr std::uint32_t k_revision_1_0 = 0x00010000;

std::uint32_t crc32_of(ByteSpan b) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  // zlib's length is uInt; feed in chunks to stay within its range.
  std::size_t off = 0;
  while (off < b.size()) {
    const std::size_t n = std::min<std::size_t>(b.size() - off, 1U << 30);
    c = ::crc32(c, b.data() + off, static_cast<uInt>(n));
    off += n;
  }
  return static_cast<std::uint32_t>(c);
}

// RFC 4122 text order <-> GPT on-disk order: the first three fields are little-endian on disk.
Guid swap_mixed(const Guid& g) {
  Guid o = g;
  std::reverse(o.begin(), o.begin() + 4);
  std::reverse(o.begin() + 4, o.begin() + 6);
  std::reverse(o.begin() + 6, o.begin() + 8);
  return o;
}

std::string decode_utf16_name(ByteSpan b) {
  std::string out;
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) {
    const unsigned c = static_cast<unsigned>(b[i]) | (static_cast<unsigned>(b[i + 1]) << 8);
    if (c == 0) break;
    if (c >= 0xD800 && c <= 0xDFFF) {
      out += "\xEF\xBF\xBD";
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Parses the header at `lba`; never throws for bad content (records `problem`), only the
// caller decides whether that is fatal.
GptHeader parse_header(ByteSpan disk, std::uint64_t lba, const char* which) {
  GptHeader h;
  const std::uint64_t disk_sectors = disk.size() / k_sector;
  auto bad = [&](std::string msg) {
    h.valid = false;
    h.problem = fmt::format("{} GPT header at LBA {}: {}", which, lba, msg);
    return h;
  };
  if (lba >= disk_sectors) return bad("beyond the end of the disk");
  ByteSpan sec = disk.subspan(static_cast<std::size_t>(lba * k_sector), k_sector);
  if (as_chars(sec.subspan(0, 8)) != "EFI PART") return bad("no \"EFI PART\" signature");
  h.revision = load_u32le(sec, 8, "revision");
  h.header_size = load_u32le(sec, 12, "HeaderSize");
  const std::uint32_t crc = load_u32le(sec, 16, "HeaderCRC32");
  h.my_lba = load_u64le(sec, 24, "MyLBA");
  h.alternate_lba = load_u64le(sec, 32, "AlternateLBA");
  h.first_usable_lba = load_u64le(sec, 40, "FirstUsableLBA");
  h.last_usable_lba = load_u64le(sec, 48, "LastUsableLBA");
  std::copy_n(sec.begin() + 56, 16, h.disk_guid.begin());
  h.partition_entry_lba = load_u64le(sec, 72, "PartitionEntryLBA");
  h.number_of_entries = load_u32le(sec, 80, "NumberOfPartitionEntries");
  h.entry_size = load_u32le(sec, 84, "SizeOfPartitionEntry");
  const std::uint32_t entries_crc = load_u32le(sec, 88, "PartitionEntryArrayCRC32");
  if (h.header_size < k_header_size || h.header_size > k_sector) {
    return bad(fmt::format("HeaderSize {} outside 92..512", h.header_size));
  }
  Bytes copy(sec.begin(), sec.begin() + h.header_size);
  std::fill_n(copy.begin() + 16, 4, std::uint8_t{0});
  h.header_crc_ok = crc32_of(copy) == crc;
  if (!h.header_crc_ok) return bad("HeaderCRC32 mismatch");
  if (h.my_lba != lba) return bad(fmt::format("MyLBA is {}", h.my_lba));
  if (h.entry_size < 128 || h.entry_size % 8 != 0 || h.entry_size > 4096) {
    return bad(fmt::format("SizeOfPartitionEntry {} invalid", h.entry_size));
  }
  if (h.number_of_entries > 65536) {
    return bad(fmt::format("NumberOfPartitionEntries {} too large", h.number_of_entries));
  }
  const std::uint64_t array_bytes = std::uint64_t{h.number_of_entries} * h.entry_size;
  if (h.partition_entry_lba >= disk_sectors ||
      array_bytes > disk.size() - h.partition_entry_lba * k_sector) {
    return bad("partition entry array beyond the end of the disk");
  }
  if (h.first_usable_lba > h.last_usable_lba + 1 || h.last_usable_lba >= disk_sectors) {
    return bad("usable LBA range outside the disk");
  }
  ByteSpan arr = disk.subspan(static_cast<std::size_t>(h.partition_entry_lba * k_sector),
                              static_cast<std::size_t>(array_bytes));
  h.entries_crc_ok = crc32_of(arr) == entries_crc;
  if (!h.entries_crc_ok) return bad("PartitionEntryArrayCRC32 mismatch");
  h.valid = true;
  return h;
}

ByteSpan entry_array(ByteSpan disk, const GptHeader& h) {
  return checked_slice(disk, h.partition_entry_lba * k_sector,
                       std::uint64_t{h.number_of_entries} * h.entry_size, "GPT entry array");
}

bool is_zero_guid(ByteSpan b) {
  return std::all_of(b.begin(), b.begin() + 16, [](std::uint8_t x) { return x == 0; });
}

// Primary header with CRCs, or throws ErrorKind::input.
GptHeader primary_or_throw(ByteSpan disk) {
  if (disk.size() < 34 * k_sector) {
    fail(ErrorKind::input, "disk image: {} bytes is too small for a GPT (needs at least {})",
         disk.size(), 34 * k_sector);
  }
  GptHeader h = parse_header(disk, 1, "primary");
  if (!h.valid) fail(ErrorKind::input, "disk image: {}", h.problem);
  return h;
}

void put_header_crc(Bytes& sector) {
  std::fill_n(sector.begin() + 16, 4, std::uint8_t{0});
  const std::uint32_t crc = crc32_of(ByteSpan(sector).subspan(0, k_header_size));
  for (int i = 0; i < 4; ++i) sector[16 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
}

void put_u64(Bytes& b, std::size_t off, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_u32(Bytes& b, std::size_t off, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

} // namespace

const Guid k_esp_type_guid = parse_guid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");

Guid parse_guid(std::string_view text) {
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
    fail(ErrorKind::input, "GUID \"{}\": expected 8-4-4-4-12 hex digits", text);
  }
  std::string hex;
  for (char c : text) {
    if (c != '-') hex += c;
  }
  Bytes b = from_hex(hex, "GUID");
  Guid rfc{};
  std::copy(b.begin(), b.end(), rfc.begin());
  return swap_mixed(rfc);
}

std::string guid_to_string(const Guid& g) {
  const Guid r = swap_mixed(g);
  std::string h = to_hex(r);
  std::string out = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" +
                    h.substr(16, 4) + "-" + h.substr(20);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(c >= 'a' && c <= 'f' ? c - 32 : c); });
  return out;
}

Guid derived_guid(std::string_view purpose, ByteSpan seed) {
  Hasher hs(HashAlg::sha256);
  hs.update("tdximg ").update(purpose).update(" guid").update(seed);
  const Bytes d = hs.finish();
  Guid rfc{};
  std::copy_n(d.begin(), 16, rfc.begin());
  rfc[6] = static_cast<std::uint8_t>((rfc[6] & 0x0F) | 0x40); // version 4 (RFC 4122 §4.1.3)
  rfc[8] = static_cast<std::uint8_t>((rfc[8] & 0x3F) | 0x80); // variant 10 (§4.1.1)
  return swap_mixed(rfc);
}

GptInfo read_gpt(ByteSpan disk) {
  GptInfo info;
  info.disk_bytes = disk.size();
  const GptHeader primary = primary_or_throw(disk);
  info.primary = primary;
  // Protective MBR: signature 0x55AA and a 0xEE record starting at LBA 1.
  bool mbr_ok = disk[510] == 0x55 && disk[511] == 0xAA;
  bool has_ee = false;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t rec = 446 + 16 * i;
    if (disk[rec + 4] == 0xEE && load_u32le(disk, rec + 8, "MBR StartingLBA") == 1) has_ee = true;
  }
  info.protective_mbr_ok = mbr_ok && has_ee;

  const std::uint64_t last_lba = disk.size() / k_sector - 1;
  const std::uint64_t backup_lba = primary.alternate_lba;
  info.backup = parse_header(disk, backup_lba, "backup");
  if (info.backup.valid && backup_lba != last_lba) {
    info.backup.valid = false;
    info.backup.problem =
        fmt::format("backup GPT header at LBA {} is not at the last LBA {}", backup_lba, last_lba);
  } else if (info.backup.valid && info.backup.alternate_lba != 1) {
    info.backup.valid = false;
    info.backup.problem = "backup GPT header: AlternateLBA is not 1";
  } else if (info.backup.valid &&
             (info.backup.disk_guid != primary.disk_guid ||
              info.backup.first_usable_lba != primary.first_usable_lba ||
              info.backup.last_usable_lba != primary.last_usable_lba ||
              info.backup.number_of_entries != primary.number_of_entries ||
              info.backup.entry_size != primary.entry_size ||
              !std::equal(entry_array(disk, info.backup).begin(), entry_array(disk, info.backup).end(),
                          entry_array(disk, primary).begin()))) {
    info.backup.valid = false;
    info.backup.problem = "backup GPT does not match the primary (disk GUID, usable range or entries)";
  }

  ByteSpan arr = entry_array(disk, primary);
  for (std::uint32_t i = 0; i < primary.number_of_entries; ++i) {
    ByteSpan e = arr.subspan(std::size_t{i} * primary.entry_size, primary.entry_size);
    if (is_zero_guid(e)) continue;
    GptPartition p;
    p.index = i;
    std::copy_n(e.begin(), 16, p.type_guid.begin());
    std::copy_n(e.begin() + 16, 16, p.unique_guid.begin());
    p.first_lba = load_u64le(e, 32, "StartingLBA");
    p.last_lba = load_u64le(e, 40, "EndingLBA");
    p.attributes = load_u64le(e, 48, "Attributes");
    p.name = decode_utf16_name(e.subspan(56, 72));
    if (p.first_lba > p.last_lba || p.first_lba < primary.first_usable_lba ||
        p.last_lba > primary.last_usable_lba) {
      fail(ErrorKind::input, "disk image: GPT entry {}: LBA range {}..{} outside usable {}..{}", i,
           p.first_lba, p.last_lba, primary.first_usable_lba, primary.last_usable_lba);
    }
    info.partitions.push_back(std::move(p));
  }
  return info;
}

namespace {
// TCG PC Client PFP spec, UEFI_GPT_DATA; edk2 DxeTpm2MeasureBootLib Tcg2MeasureGptTable:
// CopyMem(header, sizeof(EFI_PARTITION_TABLE_HEADER) = 92, packed), NumberOfPartitions
// (UINT64), then each entry whose PartitionTypeGUID is non-zero, SizeOfPartitionEntry bytes.
Bytes event_data(ByteSpan header_sector, ByteSpan arr, const GptHeader& h) {
  ByteWriter w;
  w.bytes(header_sector.subspan(0, k_header_size));
  std::uint64_t count = 0;
  for (std::uint32_t i = 0; i < h.number_of_entries; ++i) {
    if (!is_zero_guid(arr.subspan(std::size_t{i} * h.entry_size, 16))) ++count;
  }
  w.u64le(count);
  for (std::uint32_t i = 0; i < h.number_of_entries; ++i) {
    ByteSpan e = arr.subspan(std::size_t{i} * h.entry_size, h.entry_size);
    if (!is_zero_guid(e)) w.bytes(e);
  }
  return w.take();
}
} // namespace

Bytes gpt_event_data(ByteSpan disk) {
  const GptHeader h = primary_or_throw(disk);
  return event_data(disk.subspan(k_sector, k_sector), entry_array(disk, h), h);
}

Bytes gcp_gpt_event_data(ByteSpan raw) {
  const GptHeader h = primary_or_throw(raw);
  const GptRelocation r = relocate_gpt(raw, gcp_disk_size(raw.size()));
  ByteSpan head(r.head);
  return event_data(head.subspan(k_sector, k_sector),
                    head.subspan(2 * k_sector, std::size_t{h.number_of_entries} * h.entry_size), h);
}

GptRelocation relocate_gpt(ByteSpan disk, std::uint64_t new_size_bytes) {
  const GptHeader h = primary_or_throw(disk);
  if (new_size_bytes % k_sector != 0 || new_size_bytes < disk.size()) {
    fail(ErrorKind::input, "relocate_gpt: new size {} must be a multiple of 512 and >= {}",
         new_size_bytes, disk.size());
  }
  if (h.partition_entry_lba != 2 || std::uint64_t{h.number_of_entries} * h.entry_size > 32 * k_sector) {
    fail(ErrorKind::unsupported, "relocate_gpt: only a 32-sector entry array at LBA 2 is supported");
  }
  const std::uint64_t new_last = new_size_bytes / k_sector - 1;
  GptRelocation r;
  r.head.assign(disk.begin(), disk.begin() + 34 * k_sector);
  // Protective MBR SizeInLBA: disk size - 1, capped at 0xFFFFFFFF (UEFI 2.10 table 5.4).
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t rec = 446 + 16 * i;
    if (r.head[rec + 4] == 0xEE) {
      put_u32(r.head, rec + 12, static_cast<std::uint32_t>(std::min<std::uint64_t>(new_last, 0xFFFFFFFFULL)));
    }
  }
  Bytes primary(r.head.begin() + k_sector, r.head.begin() + 2 * k_sector);
  put_u64(primary, 32, new_last);      // AlternateLBA
  put_u64(primary, 48, new_last - 33); // LastUsableLBA
  put_header_crc(primary);
  std::copy(primary.begin(), primary.end(), r.head.begin() + k_sector);
  // Backup: entries at new_last-32 .. new_last-1, header at new_last.
  r.tail.assign(33 * k_sector, 0);
  std::copy(r.head.begin() + 2 * k_sector, r.head.begin() + 34 * k_sector, r.tail.begin());
  Bytes backup = primary;
  put_u64(backup, 24, new_last);      // MyLBA
  put_u64(backup, 32, 1);             // AlternateLBA
  put_u64(backup, 72, new_last - 32); // PartitionEntryLBA
  put_header_crc(backup);
  std::copy(backup.begin(), backup.end(), r.tail.begin() + 32 * k_sector);
  return r;
}

} // namespace tdximg::disk
