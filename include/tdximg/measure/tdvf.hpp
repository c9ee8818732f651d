#pragma once
// TDX metadata of a TDVF/OVMF firmware image: the section table the VMM uses to build the TD
// (which GPA ranges to add, which to measure into MRTD). Pure: bytes in, metadata out.
// Spec: Intel TDX Virtual Firmware Design Guide (rev. 1.01+) §11 "TDVF metadata": the OVMF
// reset-vector GUID table (footer 96b582de-1fb2-45f7-baea-a366c55a082d, 32 bytes before the
// end), its entry e47a6535-984a-4798-865e-4685a7bf8ec2 = u32 distance from the end of the image
// to the "TDVF" descriptor; legacy images: u32 absolute descriptor offset at size - 0x20.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <tdximg/util/bytes.hpp>
#include <vector>

namespace tdximg::measure {

// TDVF_SECTION.Type values (design guide Table 11-3).
namespace tdvf_type {
inline constexpr std::uint32_t k_bfv = 0;           // boot firmware volume (code)
inline constexpr std::uint32_t k_cfv = 1;           // configuration firmware volume (vars)
inline constexpr std::uint32_t k_td_hob = 2;        // TD HOB, built by the VMM
inline constexpr std::uint32_t k_temp_mem = 3;      // temporary memory (zeroed pages)
inline constexpr std::uint32_t k_perm_mem = 4;      // permanent memory
inline constexpr std::uint32_t k_payload = 5;       // td-shim payload
inline constexpr std::uint32_t k_payload_param = 6; // td-shim payload parameters
} // namespace tdvf_type

// TDVF_SECTION.Attributes bits.
inline constexpr std::uint32_t k_tdvf_attr_mr_extend = 0x1; // TDH.MR.EXTEND the pages
inline constexpr std::uint32_t k_tdvf_attr_page_aug = 0x2;  // added later by TDH.MEM.PAGE.AUG

// "BFV", "CFV", "TD_HOB", "TEMP_MEM", "PERM_MEM", "PAYLOAD", "PAYLOAD_PARAM" or "TYPE_<n>".
// Never throws.
std::string tdvf_section_type_name(std::uint32_t type);

// One 32-byte TDVF_SECTION entry (field names as in the design guide).
struct TdvfSection {
  std::uint32_t data_offset = 0;      // DataOffset: file offset of the raw data
  std::uint32_t raw_data_size = 0;    // RawDataSize: bytes in the file
  std::uint64_t memory_address = 0;   // MemoryAddress: GPA, 4 KiB aligned
  std::uint64_t memory_data_size = 0; // MemoryDataSize: bytes in the TD, 4 KiB aligned
  std::uint32_t type = 0;             // tdvf_type::k_*
  std::uint32_t attributes = 0;       // k_tdvf_attr_* bits
  bool mr_extend() const noexcept { return (attributes & k_tdvf_attr_mr_extend) != 0; }
  bool page_aug() const noexcept { return (attributes & k_tdvf_attr_page_aug) != 0; }
  bool operator==(const TdvfSection&) const = default;
};

// How the descriptor was found.
enum class TdvfLocator {
  guid_table,    // OVMF GUID table entry (current TDVF/OVMF)
  legacy_offset, // u32 absolute offset at size - 0x20 (early TDVF; cloud-hypervisor fallback)
};

struct TdvfMetadata {
  TdvfLocator locator = TdvfLocator::guid_table;
  std::uint64_t descriptor_offset = 0; // file offset of "TDVF"
  std::uint32_t length = 0;            // descriptor Length (16 + 32 * sections)
  std::uint32_t version = 0;           // descriptor Version (1)
  std::uint64_t firmware_size = 0;     // size of the image parsed
  std::vector<TdvfSection> sections;   // in descriptor order (= the VMM's order)
};

// Finds and validates the TDX metadata of a TDVF/OVMF image. Checks: GUID table and entry
// lengths, descriptor signature/version/length/count (1..64), every section's bounds in the
// file, 4 KiB alignment of MemoryAddress/MemoryDataSize, RawDataSize <= MemoryDataSize, no
// GPA overflow or overlap, known type and attribute bits, not MR_EXTEND together with PAGE_AUG.
// Throws ErrorKind::input naming `name`, the field and its offset; an image without TDX
// metadata (e.g. a split OVMF_CODE*.fd or a non-TDX build) gets a message saying so.
TdvfMetadata parse_tdvf_metadata(ByteSpan firmware, std::string_view name = "firmware");

// {"locator","descriptor_offset","length","version","firmware_size","sections":[{"index",
// "type","type_name","data_offset","raw_data_size","memory_address","memory_data_size",
// "attributes","mr_extend","page_aug"}]} (offsets and addresses as "0x..." strings).
nlohmann::json to_json(const TdvfMetadata& metadata);

// Human-readable table (one line per section) for `tdximg inspect`. Never throws.
std::string render_text(const TdvfMetadata& metadata);

} // namespace tdximg::measure
