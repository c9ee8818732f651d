// TDVF metadata parser. Spec: Intel TDX Virtual Firmware Design Guide §11 (TDVF_DESCRIPTOR,
// TDVF_SECTION); OVMF OvmfPkg/ResetVector GUID table layout (entries [data][u16 len][GUID]
// laid back to back, closed by the footer entry that ends 32 bytes before the image end).
// Cross-checked against dstack-mr, Contrast tdvf.go, aleph tdx_measurement.py and
// cloud-hypervisor (reference tdx-measurements.md §1.1). The image is untrusted input.

#include <algorithm>
#include <array>
#include <optional>
#include <tdximg/measure/tdvf.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::measure {

namespace {

using Guid = std::array<std::uint8_t, 16>;

// 96b582de-1fb2-45f7-baea-a366c55a082d in its little-endian (EFI_GUID) byte order.
constexpr Guid k_table_footer_guid{0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                   0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
// e47a6535-984a-4798-865e-4685a7bf8ec2: "TDX metadata offset" entry.
constexpr Guid k_tdx_metadata_offset_guid{0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                          0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};

constexpr std::uint64_t k_bytes_after_footer = 32; // reset vector code after the GUID table
constexpr std::uint64_t k_entry_header = 18;       // u16 length + GUID
constexpr std::uint64_t k_legacy_pointer_from_end = 0x20;
constexpr std::uint64_t k_descriptor_header = 16;
constexpr std::uint64_t k_section_size = 32;
constexpr std::uint32_t k_max_sections = 64;
constexpr std::uint64_t k_page = 0x1000;
constexpr std::uint32_t k_known_attributes = k_tdvf_attr_mr_extend | k_tdvf_attr_page_aug;

bool guid_at(ByteSpan data, std::uint64_t offset, const Guid& guid) {
  if (offset > data.size() || guid.size() > data.size() - offset) return false;
  return std::equal(guid.begin(), guid.end(), data.begin() + static_cast<std::ptrdiff_t>(offset));
}

// Result of looking at the GUID table: the descriptor offset, or why there is none.
struct TableLookup {
  bool has_table = false;
  std::optional<std::uint64_t> descriptor_offset;
};

// Walks the OVMF GUID table backwards from the footer. A present but malformed table throws;
// an absent table or a table without the TDX entry is reported as such.
TableLookup find_in_guid_table(ByteSpan fw, std::string_view name) {
  TableLookup out;
  const std::uint64_t size = fw.size();
  if (size < k_bytes_after_footer + k_entry_header) return out;
  const std::uint64_t footer_end = size - k_bytes_after_footer;
  const std::uint64_t footer_start = footer_end - k_entry_header; // the u16 length
  if (!guid_at(fw, footer_start + 2, k_table_footer_guid)) return out;
  out.has_table = true;
  const std::uint16_t table_len = load_u16le(fw, footer_start, "GUID table length");
  if (table_len < k_entry_header || table_len > footer_end)
    fail(ErrorKind::input,
         "{}: OVMF GUID table length {} at offset 0x{:x} is invalid (must be {}..{})", name,
         table_len, footer_start, k_entry_header, footer_end);
  const std::uint64_t table_start = footer_end - table_len;
  std::uint64_t pos = footer_start; // end of the entries before the footer entry
  while (pos - table_start >= k_entry_header) {
    const std::uint64_t len_offset = pos - k_entry_header;
    const std::uint16_t entry_len = load_u16le(fw, len_offset, "GUID table entry length");
    if (entry_len < k_entry_header || entry_len > pos - table_start)
      fail(ErrorKind::input,
           "{}: OVMF GUID table entry length {} at offset 0x{:x} is invalid (must be {}..{})", name,
           entry_len, len_offset, k_entry_header, pos - table_start);
    if (guid_at(fw, len_offset + 2, k_tdx_metadata_offset_guid)) {
      const std::uint64_t data_size = entry_len - k_entry_header;
      const std::uint64_t data_offset = pos - entry_len;
      if (data_size != 4)
        fail(ErrorKind::input,
             "{}: TDX metadata offset entry at offset 0x{:x} holds {} bytes, expected 4", name,
             data_offset, data_size);
      const std::uint32_t from_end = load_u32le(fw, data_offset, "TDX metadata offset");
      if (from_end < k_descriptor_header || from_end > size)
        fail(ErrorKind::input,
             "{}: TDX metadata offset 0x{:x} at offset 0x{:x} points outside the {}-byte image",
             name, from_end, data_offset, size);
      out.descriptor_offset = size - from_end;
      return out;
    }
    pos -= entry_len;
  }
  if (pos != table_start)
    fail(ErrorKind::input, "{}: OVMF GUID table has {} stray bytes at offset 0x{:x}", name,
         pos - table_start, table_start);
  return out;
}

bool has_signature(ByteSpan fw, std::uint64_t offset) {
  return offset <= fw.size() && fw.size() - offset >= 4 && fw[offset] == 'T' &&
         fw[offset + 1] == 'D' && fw[offset + 2] == 'V' && fw[offset + 3] == 'F';
}

// Legacy TDVF: u32 absolute file offset of the descriptor at size - 0x20. Only taken when
// it points at a "TDVF" signature (otherwise those bytes are reset-vector code).
std::optional<std::uint64_t> find_legacy(ByteSpan fw) {
  if (fw.size() < k_legacy_pointer_from_end) return std::nullopt;
  const std::uint32_t offset =
      load_u32le(fw, fw.size() - k_legacy_pointer_from_end, "legacy TDVF pointer");
  if (!has_signature(fw, offset)) return std::nullopt;
  return offset;
}

void check_section(ByteSpan fw, std::string_view name, std::size_t index, std::uint64_t at,
                   const TdvfSection& s) {
  const std::string where = fmt::format("{}: TDVF section {} ({}) at offset 0x{:x}", name, index,
                                        tdvf_section_type_name(s.type), at);
  if (s.type > tdvf_type::k_payload_param)
    fail(ErrorKind::input, "{}: Type {} is unknown (offset 0x{:x})", where, s.type, at + 24);
  if ((s.attributes & ~k_known_attributes) != 0)
    fail(ErrorKind::input, "{}: Attributes 0x{:x} has unknown bits (offset 0x{:x})", where,
         s.attributes, at + 28);
  if (s.mr_extend() && s.page_aug())
    fail(ErrorKind::input,
         "{}: Attributes 0x{:x} asks for MR_EXTEND of PAGE_AUG memory (offset 0x{:x})", where,
         s.attributes, at + 28);
  if (s.memory_address % k_page != 0)
    fail(ErrorKind::input, "{}: MemoryAddress 0x{:x} is not 4 KiB aligned (offset 0x{:x})", where,
         s.memory_address, at + 8);
  if (s.memory_data_size == 0 || s.memory_data_size % k_page != 0)
    fail(ErrorKind::input,
         "{}: MemoryDataSize 0x{:x} is not a non-zero multiple of 4 KiB (offset 0x{:x})", where,
         s.memory_data_size, at + 16);
  if (s.memory_data_size > ~std::uint64_t{0} - s.memory_address)
    fail(ErrorKind::input,
         "{}: MemoryAddress 0x{:x} + MemoryDataSize 0x{:x} overflows (offset 0x{:x})", where,
         s.memory_address, s.memory_data_size, at + 8);
  if (s.raw_data_size > s.memory_data_size)
    fail(ErrorKind::input, "{}: RawDataSize 0x{:x} exceeds MemoryDataSize 0x{:x} (offset 0x{:x})",
         where, s.raw_data_size, s.memory_data_size, at + 4);
  if (std::uint64_t{s.data_offset} > fw.size() ||
      std::uint64_t{s.raw_data_size} > fw.size() - s.data_offset)
    fail(ErrorKind::input,
         "{}: DataOffset 0x{:x} + RawDataSize 0x{:x} lies outside the {}-byte image "
         "(offset 0x{:x}); a split OVMF_CODE*.fd carries the metadata of the combined image, "
         "use the single-file OVMF.fd",
         where, s.data_offset, s.raw_data_size, fw.size(), at);
}

} // namespace

std::string tdvf_section_type_name(std::uint32_t type) {
  switch (type) {
  case tdvf_type::k_bfv:
    return "BFV";
  case tdvf_type::k_cfv:
    return "CFV";
  case tdvf_type::k_td_hob:
    return "TD_HOB";
  case tdvf_type::k_temp_mem:
    return "TEMP_MEM";
  case tdvf_type::k_perm_mem:
    return "PERM_MEM";
  case tdvf_type::k_payload:
    return "PAYLOAD";
  case tdvf_type::k_payload_param:
    return "PAYLOAD_PARAM";
  default:
    return fmt::format("TYPE_{}", type);
  }
}

TdvfMetadata parse_tdvf_metadata(ByteSpan fw, std::string_view name) {
  TdvfMetadata md;
  md.firmware_size = fw.size();

  // 1. Locate the descriptor: GUID table entry first, the legacy pointer as fallback.
  const TableLookup table = find_in_guid_table(fw, name);
  std::uint64_t desc = 0;
  if (table.descriptor_offset) {
    desc = *table.descriptor_offset;
    md.locator = TdvfLocator::guid_table;
  } else if (const auto legacy = find_legacy(fw)) {
    desc = *legacy;
    md.locator = TdvfLocator::legacy_offset;
  } else if (table.has_table) {
    fail(ErrorKind::input,
         "{}: no TDX metadata: the OVMF GUID table has no TDX metadata offset entry "
         "(e47a6535-984a-4798-865e-4685a7bf8ec2) and there is no legacy TDVF pointer; this "
         "firmware was not built for TDX (use a TDX-enabled OVMF.fd, e.g. Debian's "
         "/usr/share/ovmf/OVMF.fd, not a split OVMF_CODE*.fd)",
         name);
  } else {
    fail(ErrorKind::input,
         "{}: no TDX metadata: no OVMF GUID table footer at offset 0x{:x} and no legacy TDVF "
         "pointer; not a TDVF/OVMF image with TDX support (a split OVMF_CODE*.fd or VARS file "
         "has none; use the single-file OVMF.fd)",
         name, fw.size() >= 48 ? fw.size() - 48 : 0);
  }
  md.descriptor_offset = desc;

  // 2. TDVF_DESCRIPTOR: Signature "TDVF", Length, Version 1, NumberOfSectionEntry.
  if (!has_signature(fw, desc))
    fail(ErrorKind::input, "{}: TDVF descriptor at offset 0x{:x}: signature is not \"TDVF\"", name,
         desc);
  if (fw.size() - desc < k_descriptor_header)
    fail(ErrorKind::input, "{}: TDVF descriptor at offset 0x{:x}: truncated header", name, desc);
  md.length = load_u32le(fw, desc + 4, "TDVF descriptor Length");
  md.version = load_u32le(fw, desc + 8, "TDVF descriptor Version");
  const std::uint32_t count = load_u32le(fw, desc + 12, "TDVF descriptor NumberOfSectionEntry");
  if (md.version != 1)
    fail(ErrorKind::input,
         "{}: TDVF descriptor Version {} at offset 0x{:x} is not supported "
         "(expected 1)",
         name, md.version, desc + 8);
  if (count == 0 || count > k_max_sections)
    fail(ErrorKind::input,
         "{}: TDVF descriptor NumberOfSectionEntry {} at offset 0x{:x} is out of range (1..{})",
         name, count, desc + 12, k_max_sections);
  const std::uint64_t table_size = k_section_size * count;
  if (md.length != k_descriptor_header + table_size)
    fail(ErrorKind::input,
         "{}: TDVF descriptor Length {} at offset 0x{:x} does not match {} sections "
         "(expected {})",
         name, md.length, desc + 4, count, k_descriptor_header + table_size);
  if (fw.size() - desc - k_descriptor_header < table_size)
    fail(ErrorKind::input,
         "{}: TDVF section table at offset 0x{:x} ({} sections) runs past the end of the "
         "{}-byte image",
         name, desc + k_descriptor_header, count, fw.size());

  // 3. TDVF_SECTION entries, each validated on its own, then checked for GPA overlap.
  ByteReader r(checked_slice(fw, desc + k_descriptor_header, table_size, "TDVF section table"),
               std::string(name), desc + k_descriptor_header);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = desc + k_descriptor_header + std::uint64_t{i} * k_section_size;
    TdvfSection s;
    s.data_offset = r.u32le("TDVF section DataOffset");
    s.raw_data_size = r.u32le("TDVF section RawDataSize");
    s.memory_address = r.u64le("TDVF section MemoryAddress");
    s.memory_data_size = r.u64le("TDVF section MemoryDataSize");
    s.type = r.u32le("TDVF section Type");
    s.attributes = r.u32le("TDVF section Attributes");
    check_section(fw, name, i, at, s);
    md.sections.push_back(s);
  }
  std::vector<std::size_t> by_gpa(md.sections.size());
  for (std::size_t i = 0; i < by_gpa.size(); ++i)
    by_gpa[i] = i;
  std::sort(by_gpa.begin(), by_gpa.end(), [&](std::size_t a, std::size_t b) {
    return md.sections[a].memory_address < md.sections[b].memory_address;
  });
  for (std::size_t k = 1; k < by_gpa.size(); ++k) {
    const TdvfSection& lo = md.sections[by_gpa[k - 1]];
    const TdvfSection& hi = md.sections[by_gpa[k]];
    if (hi.memory_address < lo.memory_address + lo.memory_data_size)
      fail(ErrorKind::input,
           "{}: TDVF sections {} and {} overlap in guest memory (0x{:x}+0x{:x} and 0x{:x})", name,
           by_gpa[k - 1], by_gpa[k], lo.memory_address, lo.memory_data_size, hi.memory_address);
  }
  return md;
}

nlohmann::json to_json(const TdvfMetadata& md) {
  auto hex = [](std::uint64_t v) { return fmt::format("0x{:x}", v); };
  nlohmann::json sections = nlohmann::json::array();
  for (std::size_t i = 0; i < md.sections.size(); ++i) {
    const TdvfSection& s = md.sections[i];
    sections.push_back({{"index", i},
                        {"type", s.type},
                        {"type_name", tdvf_section_type_name(s.type)},
                        {"data_offset", hex(s.data_offset)},
                        {"raw_data_size", hex(s.raw_data_size)},
                        {"memory_address", hex(s.memory_address)},
                        {"memory_data_size", hex(s.memory_data_size)},
                        {"attributes", s.attributes},
                        {"mr_extend", s.mr_extend()},
                        {"page_aug", s.page_aug()}});
  }
  return {{"locator", md.locator == TdvfLocator::guid_table ? "guid_table" : "legacy_offset"},
          {"descriptor_offset", hex(md.descriptor_offset)},
          {"length", md.length},
          {"version", md.version},
          {"firmware_size", md.firmware_size},
          {"sections", std::move(sections)}};
}

std::string render_text(const TdvfMetadata& md) {
  std::string out = fmt::format(
      "TDVF metadata v{} at offset 0x{:x} ({}), {} sections, image {} bytes\n", md.version,
      md.descriptor_offset, md.locator == TdvfLocator::guid_table ? "GUID table" : "legacy pointer",
      md.sections.size(), md.firmware_size);
  out += "  #  type           data_offset  raw_size     gpa                 mem_size     attrs\n";
  for (std::size_t i = 0; i < md.sections.size(); ++i) {
    const TdvfSection& s = md.sections[i];
    const std::string_view attrs = s.mr_extend() ? "MR_EXTEND" : s.page_aug() ? "PAGE_AUG" : "-";
    out += fmt::format("  {:<2} {:<14} 0x{:08x}   0x{:08x}   0x{:016x}  0x{:08x}   {}\n", i,
                       tdvf_section_type_name(s.type), s.data_offset, s.raw_data_size,
                       s.memory_address, s.memory_data_size, attrs);
  }
  return out;
}

} // namespace tdximg::measure
