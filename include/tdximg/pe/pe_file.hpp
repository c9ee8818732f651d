#pragma once
// Bounds-checked PE/COFF reader (PE32+ and PE32) over untrusted bytes.
// Spec: Microsoft "PE Format" (learn.microsoft.com/windows/win32/debug/pe-format), sections
// "MS-DOS Stub", "COFF File Header", "Optional Header", "Section Table", "The Attribute
// Certificate Table". Every field is read through checked helpers; every offset and size is
// validated at construction, so the accessors below never read out of range.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tdximg/util/bytes.hpp>
#include <vector>

namespace tdximg::pe {

inline constexpr std::uint16_t k_machine_amd64 = 0x8664;
inline constexpr std::uint16_t k_machine_i386 = 0x014c;
inline constexpr std::uint16_t k_magic_pe32 = 0x10b;
inline constexpr std::uint16_t k_magic_pe32_plus = 0x20b;
inline constexpr std::uint32_t k_max_data_directories = 16;
inline constexpr std::uint32_t k_dir_security = 4; // DataDirectory index of the certificate table
inline constexpr std::uint32_t k_section_header_size = 40;
inline constexpr std::uint32_t k_coff_header_size = 20;

// Section characteristics.
inline constexpr std::uint32_t k_scn_cnt_code = 0x00000020;
inline constexpr std::uint32_t k_scn_cnt_initialized_data = 0x00000040;
inline constexpr std::uint32_t k_scn_mem_execute = 0x20000000;
inline constexpr std::uint32_t k_scn_mem_read = 0x40000000;
inline constexpr std::uint32_t k_scn_mem_write = 0x80000000;

struct CoffHeader {
  std::uint16_t Machine = 0;
  std::uint16_t NumberOfSections = 0;
  std::uint32_t TimeDateStamp = 0;
  std::uint32_t PointerToSymbolTable = 0;
  std::uint32_t NumberOfSymbols = 0;
  std::uint16_t SizeOfOptionalHeader = 0;
  std::uint16_t Characteristics = 0;
};

struct DataDirectory {
  std::uint32_t VirtualAddress = 0; // for the security directory (index 4): a FILE offset
  std::uint32_t Size = 0;
  std::uint64_t entry_offset = 0; // file offset of this 8-byte directory entry
};

struct OptionalHeader {
  std::uint16_t Magic = 0; // k_magic_pe32 or k_magic_pe32_plus
  std::uint8_t MajorLinkerVersion = 0;
  std::uint8_t MinorLinkerVersion = 0;
  std::uint32_t SizeOfCode = 0;
  std::uint32_t SizeOfInitializedData = 0;
  std::uint32_t SizeOfUninitializedData = 0;
  std::uint32_t AddressOfEntryPoint = 0;
  std::uint64_t ImageBase = 0;
  std::uint32_t SectionAlignment = 0;
  std::uint32_t FileAlignment = 0;
  std::uint16_t MajorImageVersion = 0;
  std::uint16_t MinorImageVersion = 0;
  std::uint32_t SizeOfImage = 0;
  std::uint32_t SizeOfHeaders = 0;
  std::uint32_t CheckSum = 0;
  std::uint16_t Subsystem = 0;
  std::uint16_t DllCharacteristics = 0;
  std::uint32_t NumberOfRvaAndSizes = 0;
  std::vector<DataDirectory> DataDirectories; // NumberOfRvaAndSizes entries (<= 16)
};

struct Section {
  std::string name;           // short name (NULs stripped) or the resolved "/nnn" long name
  std::uint8_t raw_name[8]{}; // the 8 bytes as stored in the section header
  std::uint32_t VirtualSize = 0;
  std::uint32_t VirtualAddress = 0;
  std::uint32_t SizeOfRawData = 0;
  std::uint32_t PointerToRawData = 0;
  std::uint32_t Characteristics = 0;
  std::uint64_t header_offset = 0; // file offset of this 40-byte section header
};

// A parsed, validated PE image. Holds a view of the bytes: `data` must outlive the PeFile.
class PeFile {
public:
  // Parses and validates the headers and section table. `name` (e.g. "uki.efi") prefixes every
  // error. Throws tdximg::Error(ErrorKind::input) "<name>: <field> at offset 0x..: <problem>".
  explicit PeFile(ByteSpan data, std::string name = "pe");

  ByteSpan data() const noexcept { return m_data; }
  const std::string& name() const noexcept { return m_name; }
  std::uint32_t e_lfanew() const noexcept { return m_e_lfanew; }
  const CoffHeader& coff() const noexcept { return m_coff; }
  const OptionalHeader& optional() const noexcept { return m_opt; }
  bool is_pe32_plus() const noexcept { return m_opt.Magic == k_magic_pe32_plus; }

  // File offsets of header fields (for Authenticode and for the writer).
  std::uint64_t coff_offset() const noexcept { return m_e_lfanew + 4u; }
  std::uint64_t optional_header_offset() const noexcept {
    return m_e_lfanew + 4u + k_coff_header_size;
  }
  std::uint64_t checksum_offset() const noexcept { return m_checksum_offset; }
  std::uint64_t section_table_offset() const noexcept { return m_section_table_offset; }
  // End of the section table (offset just past the last section header).
  std::uint64_t section_table_end() const noexcept {
    return m_section_table_offset + std::uint64_t{k_section_header_size} * m_sections.size();
  }

  const std::vector<Section>& sections() const noexcept { return m_sections; }
  // The first section whose name equals `name` exactly, or nullptr. (Stub-version lookup rules
  // such as v252's prefix match live in measure/, not here.) Never throws.
  const Section* section(std::string_view name) const noexcept;

  // First min(VirtualSize, SizeOfRawData) file bytes of `s` (validated at construction).
  ByteSpan section_data(const Section& s) const;
  // The section as loaded: VirtualSize bytes, zero-filled past SizeOfRawData.
  Bytes section_memory(const Section& s) const;

  // The certificate table (DataDirectory[4]) if present with non-zero size: file offset + size,
  // validated to lie inside the file.
  struct CertTable {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
  };
  std::optional<CertTable> cert_table() const noexcept { return m_cert; }

  // SizeOfHeaders + sum of SizeOfRawData over all sections: where Authenticode's trailing data
  // ("overlay") begins. Never throws.
  std::uint64_t end_of_section_data() const noexcept { return m_end_of_section_data; }

private:
  ByteSpan m_data;
  std::string m_name;
  std::uint32_t m_e_lfanew = 0;
  CoffHeader m_coff;
  OptionalHeader m_opt;
  std::uint64_t m_checksum_offset = 0;
  std::uint64_t m_section_table_offset = 0;
  std::vector<Section> m_sections;
  std::optional<CertTable> m_cert;
  std::uint64_t m_end_of_section_data = 0;
};

// The standard PE image checksum (the algorithm of imagehlp's CheckSumMappedFile): 16-bit
// one's-complement-style sum of the file with the CheckSum field taken as zero, plus the file
// length. `checksum_offset` is PeFile::checksum_offset(). Throws ErrorKind::input if the field
// is out of range.
std::uint32_t pe_checksum(ByteSpan data, std::uint64_t checksum_offset);

} // namespace tdximg::pe
