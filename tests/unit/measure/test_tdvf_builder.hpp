#pragma once
// Builds TDVF/OVMF-like firmware images field by field from the TDX Virtual Firmware Design
// Guide §11 structures (TDVF_DESCRIPTOR, TDVF_SECTION) and the OVMF GUID table layout, with
// util's ByteWriter only — independent of the parser under test.

#include <cstdint>
#include <tdximg/util/bytes.hpp>
#include <vector>

namespace tdximg::test {

// Little-endian EFI_GUID bytes, written out by hand from the GUID strings.
// 96b582de-1fb2-45f7-baea-a366c55a082d (OVMF table footer)
inline const Bytes k_footer_guid{0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
// e47a6535-984a-4798-865e-4685a7bf8ec2 (TDX metadata offset)
inline const Bytes k_tdx_offset_guid{0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                     0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};

struct FwSection {
  std::uint32_t data_offset, raw_size;
  std::uint64_t gpa, mem_size;
  std::uint32_t type, attributes;
};

struct FwImage {
  Bytes fw;
  std::size_t desc_at = 0;        // "TDVF"
  std::size_t tdx_entry_data = 0; // the u32 of the TDX metadata offset entry
  std::size_t tdx_entry_len = 0;  // its u16 length
  std::size_t table_len_at = 0;   // u16 length in the footer entry
};

// A firmware of `size` bytes (pattern (i*13+5)&0xff, like aleph-vm's synthetic TDVF), the
// descriptor at `desc_at`, and a GUID table at the end: [unrelated entry "unrelated"]
// [TDX entry u32 from-end][unrelated 4-byte entry][footer len][footer GUID][32 zero bytes].
// Without `with_table`, the tail keeps the pattern (no GUID table).
inline FwImage build_fw(std::size_t size, std::size_t desc_at,
                        const std::vector<FwSection>& sections, bool with_table = true) {
  FwImage img;
  img.fw.resize(size);
  for (std::size_t i = 0; i < size; ++i)
    img.fw[i] = static_cast<std::uint8_t>((i * 13 + 5) & 0xff);
  ByteWriter d;
  d.str("TDVF");
  d.u32le(static_cast<std::uint32_t>(16 + 32 * sections.size()));
  d.u32le(1);
  d.u32le(static_cast<std::uint32_t>(sections.size()));
  for (const FwSection& s : sections) {
    d.u32le(s.data_offset);
    d.u32le(s.raw_size);
    d.u64le(s.gpa);
    d.u64le(s.mem_size);
    d.u32le(s.type);
    d.u32le(s.attributes);
  }
  std::copy(d.data().begin(), d.data().end(),
            img.fw.begin() + static_cast<std::ptrdiff_t>(desc_at));
  img.desc_at = desc_at;
  if (!with_table) return img;
  ByteWriter t;
  auto entry = [&t](const Bytes& guid, ByteSpan data) {
    t.bytes(data);
    t.u16le(static_cast<std::uint16_t>(data.size() + 18));
    t.bytes(guid);
  };
  entry(Bytes(16, 0x11), as_bytes("unrelated"));
  const std::size_t tdx_data_rel = t.size();
  ByteWriter from_end;
  from_end.u32le(static_cast<std::uint32_t>(size - desc_at));
  entry(k_tdx_offset_guid, from_end.data());
  entry(Bytes(16, 0x22), Bytes(4, 0xab));
  const std::size_t entries = t.size();
  const std::size_t footer_len_rel = t.size();
  t.u16le(static_cast<std::uint16_t>(entries + 18));
  t.bytes(k_footer_guid);
  t.zeros(32);
  const std::size_t at = size - t.size();
  std::copy(t.data().begin(), t.data().end(), img.fw.begin() + static_cast<std::ptrdiff_t>(at));
  img.tdx_entry_data = at + tdx_data_rel;
  img.tdx_entry_len = at + tdx_data_rel + 4;
  img.table_len_at = at + footer_len_rel;
  return img;
}

// aleph-vm's synthetic TDVF (rust/crates/aleph-tee/src/tdx/measure.rs build_tdvf(), restated
// from its description): 0x3000 bytes, measured BFV page at GPA 0xFFFFF000 (file 0), measured
// CFV page at 0xFFFFE000 (file 0x1000), TD_HOB 2 pages at 0x809000, TEMP_MEM PAGE_AUG page at
// 0x80B000; descriptor at 0x2000.
inline FwImage aleph_synthetic_fw() {
  return build_fw(0x3000, 0x2000,
                  {{0x0000, 0x1000, 0xFFFFF000, 0x1000, 0, 1},
                   {0x1000, 0x1000, 0xFFFFE000, 0x1000, 1, 1},
                   {0, 0, 0x809000, 0x2000, 2, 0},
                   {0, 0, 0x80B000, 0x1000, 3, 2}});
}

} // namespace tdximg::test
