// PE/COFF reader. Spec: Microsoft "PE Format" (learn.microsoft.com/windows/win32/debug/pe-format).
// Every field is read through ByteReader (bounds-checked); every derived range is checked with
// 64-bit arithmetic before it is stored, so accessors never read out of range.

#include <algorithm>
#include <cstring>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::pe {

namespace {

constexpr std::uint64_t k_dos_header_size = 0x40;
constexpr std::uint64_t k_e_lfanew_offset = 0x3c;
constexpr std::uint64_t k_opt_fixed_pe32 = 96;       // optional header up to DataDirectory[0]
constexpr std::uint64_t k_opt_fixed_pe32_plus = 112; // optional header up to DataDirectory[0]
constexpr std::uint64_t k_symbol_size = 18;          // COFF symbol table entry

bool is_pow2(std::uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// "<name>: <field> at offset 0x..: <problem>"
[[noreturn]] void bad(const std::string& name, std::string_view field, std::uint64_t offset,
                      std::string_view problem) {
  fail(ErrorKind::input, "{}: {} at offset 0x{:x}: {}", name, field, offset, problem);
}

} // namespace

PeFile::PeFile(ByteSpan data, std::string name)
    : m_data(data)
    , m_name(std::move(name)) {
  ByteReader r(m_data, m_name);

  // MS-DOS header: "MZ" and e_lfanew at 0x3c.
  if (m_data.size() < k_dos_header_size) {
    bad(m_name, "DOS header", 0,
        fmt::format("truncated (expected at least 0x40 bytes, got 0x{:x})", m_data.size()));
  }
  if (r.u16le("DOS signature") != 0x5a4d) {
    bad(m_name, "DOS signature", 0, "not \"MZ\"");
  }
  r.seek(k_e_lfanew_offset, "e_lfanew");
  m_e_lfanew = r.u32le("e_lfanew");
  if (m_e_lfanew > m_data.size() || m_data.size() - m_e_lfanew < 4 + k_coff_header_size) {
    bad(m_name, "e_lfanew", k_e_lfanew_offset,
        fmt::format("PE header at 0x{:x} lies outside the file (size 0x{:x})", m_e_lfanew,
                    m_data.size()));
  }

  // PE signature + COFF file header.
  r.seek(m_e_lfanew, "PE signature");
  if (r.u32le("PE signature") != 0x00004550) {
    bad(m_name, "PE signature", m_e_lfanew, "not \"PE\\0\\0\"");
  }
  m_coff.Machine = r.u16le("Machine");
  m_coff.NumberOfSections = r.u16le("NumberOfSections");
  m_coff.TimeDateStamp = r.u32le("TimeDateStamp");
  m_coff.PointerToSymbolTable = r.u32le("PointerToSymbolTable");
  m_coff.NumberOfSymbols = r.u32le("NumberOfSymbols");
  const std::uint64_t size_of_opt_offset = r.offset();
  m_coff.SizeOfOptionalHeader = r.u16le("SizeOfOptionalHeader");
  m_coff.Characteristics = r.u16le("Characteristics");

  // Optional header: it must be inside the file, and its declared size must hold the fixed
  // part for its Magic plus NumberOfRvaAndSizes data directories.
  const std::uint64_t opt = optional_header_offset();
  if (m_coff.SizeOfOptionalHeader < 2) {
    bad(m_name, "SizeOfOptionalHeader", size_of_opt_offset,
        fmt::format("too small for an image (got {})", m_coff.SizeOfOptionalHeader));
  }
  if (opt + m_coff.SizeOfOptionalHeader > m_data.size()) {
    bad(m_name, "optional header", opt,
        fmt::format("truncated (expected 0x{:x} bytes, file has 0x{:x} left)",
                    m_coff.SizeOfOptionalHeader, m_data.size() - opt));
  }
  ByteReader o = r.sub(opt, m_coff.SizeOfOptionalHeader, "optional header");
  auto field = [&](std::uint64_t rel) { return opt + rel; };
  m_opt.Magic = o.u16le("Magic");
  if (m_opt.Magic != k_magic_pe32 && m_opt.Magic != k_magic_pe32_plus) {
    bad(m_name, "optional header Magic", opt,
        fmt::format("unknown (expected 0x10b or 0x20b, got 0x{:x})", m_opt.Magic));
  }
  const bool plus = m_opt.Magic == k_magic_pe32_plus;
  const std::uint64_t fixed = plus ? k_opt_fixed_pe32_plus : k_opt_fixed_pe32;
  if (m_coff.SizeOfOptionalHeader < fixed) {
    bad(m_name, "SizeOfOptionalHeader", size_of_opt_offset,
        fmt::format("too small for {} (expected at least {}, got {})", plus ? "PE32+" : "PE32",
                    fixed, m_coff.SizeOfOptionalHeader));
  }
  m_opt.MajorLinkerVersion = o.u8("MajorLinkerVersion");
  m_opt.MinorLinkerVersion = o.u8("MinorLinkerVersion");
  m_opt.SizeOfCode = o.u32le("SizeOfCode");
  m_opt.SizeOfInitializedData = o.u32le("SizeOfInitializedData");
  m_opt.SizeOfUninitializedData = o.u32le("SizeOfUninitializedData");
  m_opt.AddressOfEntryPoint = o.u32le("AddressOfEntryPoint");
  o.skip(4, "BaseOfCode");
  if (plus) {
    m_opt.ImageBase = o.u64le("ImageBase");
  } else {
    o.skip(4, "BaseOfData");
    m_opt.ImageBase = o.u32le("ImageBase");
  }
  m_opt.SectionAlignment = o.u32le("SectionAlignment");
  m_opt.FileAlignment = o.u32le("FileAlignment");
  o.skip(4, "OperatingSystemVersion");
  m_opt.MajorImageVersion = o.u16le("MajorImageVersion");
  m_opt.MinorImageVersion = o.u16le("MinorImageVersion");
  o.skip(8, "SubsystemVersion, Win32VersionValue");
  m_opt.SizeOfImage = o.u32le("SizeOfImage");
  m_opt.SizeOfHeaders = o.u32le("SizeOfHeaders");
  m_checksum_offset = field(o.offset());
  m_opt.CheckSum = o.u32le("CheckSum");
  m_opt.Subsystem = o.u16le("Subsystem");
  m_opt.DllCharacteristics = o.u16le("DllCharacteristics");
  o.skip(plus ? 32 : 16, "stack and heap sizes");
  o.skip(4, "LoaderFlags");
  const std::uint64_t nrva_offset = field(o.offset());
  m_opt.NumberOfRvaAndSizes = o.u32le("NumberOfRvaAndSizes");

  if (!is_pow2(m_opt.SectionAlignment)) {
    bad(m_name, "SectionAlignment", field(32),
        fmt::format("not a power of two (got 0x{:x})", m_opt.SectionAlignment));
  }
  if (!is_pow2(m_opt.FileAlignment)) {
    bad(m_name, "FileAlignment", field(36),
        fmt::format("not a power of two (got 0x{:x})", m_opt.FileAlignment));
  }
  if (m_opt.NumberOfRvaAndSizes > k_max_data_directories) {
    bad(m_name, "NumberOfRvaAndSizes", nrva_offset,
        fmt::format("too large (expected at most 16, got {})", m_opt.NumberOfRvaAndSizes));
  }
  if (fixed + 8ull * m_opt.NumberOfRvaAndSizes > m_coff.SizeOfOptionalHeader) {
    bad(m_name, "NumberOfRvaAndSizes", nrva_offset,
        fmt::format("{} data directories do not fit in SizeOfOptionalHeader {} (needs {})",
                    m_opt.NumberOfRvaAndSizes, m_coff.SizeOfOptionalHeader,
                    fixed + 8ull * m_opt.NumberOfRvaAndSizes));
  }
  for (std::uint32_t i = 0; i < m_opt.NumberOfRvaAndSizes; ++i) {
    DataDirectory d;
    d.entry_offset = field(o.offset());
    d.VirtualAddress = o.u32le("DataDirectory VirtualAddress");
    d.Size = o.u32le("DataDirectory Size");
    m_opt.DataDirectories.push_back(d);
  }

  // Headers: SizeOfHeaders inside the file; the section table after the optional header,
  // inside SizeOfHeaders (so Authenticode's header range covers it) and inside the file.
  const std::uint64_t size_of_headers_offset = field(60);
  if (m_opt.SizeOfHeaders > m_data.size()) {
    bad(m_name, "SizeOfHeaders", size_of_headers_offset,
        fmt::format("past the end of the file (expected <= 0x{:x}, got 0x{:x})", m_data.size(),
                    m_opt.SizeOfHeaders));
  }
  m_section_table_offset = opt + m_coff.SizeOfOptionalHeader;
  const std::uint64_t table_end =
      m_section_table_offset + std::uint64_t{k_section_header_size} * m_coff.NumberOfSections;
  if (table_end > m_opt.SizeOfHeaders) {
    bad(m_name, "section table", m_section_table_offset,
        fmt::format("{} section headers end at 0x{:x}, past SizeOfHeaders (0x{:x})",
                    m_coff.NumberOfSections, table_end, m_opt.SizeOfHeaders));
  }
  if (m_opt.SizeOfHeaders > m_opt.SizeOfImage) {
    bad(m_name, "SizeOfHeaders", size_of_headers_offset,
        fmt::format("larger than SizeOfImage (expected <= 0x{:x}, got 0x{:x})", m_opt.SizeOfImage,
                    m_opt.SizeOfHeaders));
  }

  // Certificate table (DataDirectory[4]): VirtualAddress is a file offset; it must lie
  // inside the file and after the headers (shim CVE-2023-40549).
  if (m_opt.NumberOfRvaAndSizes > k_dir_security) {
    const DataDirectory& d = m_opt.DataDirectories[k_dir_security];
    if (d.Size != 0) {
      const std::uint64_t end = std::uint64_t{d.VirtualAddress} + d.Size;
      if (d.VirtualAddress < m_opt.SizeOfHeaders || end > m_data.size()) {
        bad(m_name, "certificate table directory", d.entry_offset,
            fmt::format("range [0x{:x}, 0x{:x}) is outside the file data [0x{:x}, 0x{:x})",
                        d.VirtualAddress, end, m_opt.SizeOfHeaders, m_data.size()));
      }
      m_cert = CertTable{d.VirtualAddress, d.Size};
    }
  }

  // Section table.
  ByteReader s = r.sub(m_section_table_offset, table_end - m_section_table_offset, "section table");
  std::uint64_t sum = m_opt.SizeOfHeaders;
  m_sections.reserve(m_coff.NumberOfSections);
  for (std::uint32_t i = 0; i < m_coff.NumberOfSections; ++i) {
    Section sec;
    sec.header_offset = m_section_table_offset + s.offset();
    ByteSpan raw = s.bytes(8, "section Name");
    std::memcpy(sec.raw_name, raw.data(), 8);
    sec.VirtualSize = s.u32le("section VirtualSize");
    sec.VirtualAddress = s.u32le("section VirtualAddress");
    sec.SizeOfRawData = s.u32le("section SizeOfRawData");
    sec.PointerToRawData = s.u32le("section PointerToRawData");
    s.skip(12, "section relocation and line-number fields");
    sec.Characteristics = s.u32le("section Characteristics");

    const std::string short_name(as_chars(raw).substr(0, as_chars(raw).find('\0')));
    sec.name = short_name;
    if (short_name.size() > 1 && short_name[0] == '/') {
      // Long name: "/nnn" = decimal offset into the COFF string table, which follows the
      // symbol table (PointerToSymbolTable + 18 * NumberOfSymbols).
      std::uint64_t off = 0;
      bool digits = true;
      for (char c : std::string_view(short_name).substr(1)) {
        if (c < '0' || c > '9') {
          digits = false;
          break;
        }
        off = off * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (digits) {
        const std::uint64_t strtab =
            std::uint64_t{m_coff.PointerToSymbolTable} + k_symbol_size * m_coff.NumberOfSymbols;
        const std::uint64_t at = strtab + off;
        if (m_coff.PointerToSymbolTable == 0 || at >= m_data.size()) {
          bad(m_name, fmt::format("section {} long name", i), sec.header_offset,
              fmt::format("string table offset 0x{:x} is outside the file (size 0x{:x})", at,
                          m_data.size()));
        }
        std::string_view rest = as_chars(m_data.subspan(static_cast<std::size_t>(at)));
        const std::size_t nul = rest.find('\0');
        if (nul == std::string_view::npos) {
          bad(m_name, fmt::format("section {} long name", i), at, "not NUL-terminated");
        }
        sec.name = std::string(rest.substr(0, nul));
      }
    }
    const std::string what = fmt::format("section {} ({})", i, sec.name);
    if (sec.SizeOfRawData != 0) {
      const std::uint64_t end = std::uint64_t{sec.PointerToRawData} + sec.SizeOfRawData;
      if (end > m_data.size()) {
        bad(m_name, what + " raw data", sec.header_offset + 20,
            fmt::format("[0x{:x}, 0x{:x}) is past the end of the file (size 0x{:x})",
                        sec.PointerToRawData, end, m_data.size()));
      }
      if (sec.PointerToRawData < m_opt.SizeOfHeaders) {
        bad(m_name, what + " PointerToRawData", sec.header_offset + 20,
            fmt::format("inside the headers (expected >= 0x{:x}, got 0x{:x})", m_opt.SizeOfHeaders,
                        sec.PointerToRawData));
      }
    }
    const std::uint64_t vend = std::uint64_t{sec.VirtualAddress} + sec.VirtualSize;
    if (vend > m_opt.SizeOfImage) {
      bad(m_name, what + " VirtualSize", sec.header_offset + 8,
          fmt::format("section ends at RVA 0x{:x}, past SizeOfImage (0x{:x})", vend,
                      m_opt.SizeOfImage));
    }
    sum += sec.SizeOfRawData;
    m_sections.push_back(std::move(sec));
  }
  m_end_of_section_data = sum;
}

const Section* PeFile::section(std::string_view name) const noexcept {
  for (const Section& s : m_sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

ByteSpan PeFile::section_data(const Section& s) const {
  const std::uint32_t n = std::min(s.VirtualSize, s.SizeOfRawData);
  if (n == 0) return {};
  return checked_slice(m_data, s.PointerToRawData, n, m_name + ": section " + s.name);
}

Bytes PeFile::section_memory(const Section& s) const {
  ByteSpan d = section_data(s);
  Bytes out(d.begin(), d.end());
  out.resize(s.VirtualSize, 0);
  return out;
}

std::uint32_t pe_checksum(ByteSpan data, std::uint64_t checksum_offset) {
  checked_slice(data, checksum_offset, 4, "PE CheckSum field");
  // imagehlp CheckSumMappedFile: 16-bit little-endian words summed with end-around carry
  // folded into 16 bits, the CheckSum field counted as zero, a trailing odd byte as a word,
  // then the file length added.
  std::uint64_t sum = 0;
  const std::uint64_t n = data.size();
  auto byte = [&](std::uint64_t i) -> std::uint64_t {
    if (i >= n || (i >= checksum_offset && i < checksum_offset + 4)) return 0;
    return data[static_cast<std::size_t>(i)];
  };
  for (std::uint64_t i = 0; i < n; i += 2) {
    sum += byte(i) | (byte(i + 1) << 8);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint32_t>(sum + n);
}

} // namespace tdximg::pe
