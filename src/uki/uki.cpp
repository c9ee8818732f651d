// UKI packing compatible with systemd's ukify (src/ukify/ukify.py pe_add_sections(),
// merge_sbat(), make_uki(); pefile-based ukify, v253 and later), and UKI reading.
//
// Layout choices (see uki.hpp; PROVENANCE.md in tests/data/uki has the checks):
// * A COFF symbol table that ends exactly at the end of the stub is stripped, as ukify does
//   (PointerToSymbolTable = NumberOfSymbols = 0, IMAGE_FILE_LOCAL_SYMS_STRIPPED set).
// * SizeOfHeaders is rounded up to FileAlignment, as ukify does, if that stays below the first
//   section's raw data.
// * New sections: VirtualAddress = round_up(previous VA + VS, SectionAlignment),
//   PointerToRawData = round_up(file size, FileAlignment), VS = payload length, SRD = length
//   rounded up to FileAlignment, characteristics CNT_INITIALIZED_DATA|MEM_READ (.linux:
//   CNT_CODE|MEM_READ, as ukify). SizeOfInitializedData += VS per new section (as ukify).
// * .sbat: ukify swaps the merged SBAT into the stub's .sbat when it fits its SizeOfRawData.
//   We do the same but also require that the new VirtualSize does not run into the next
//   section in memory (ukify does not check; with Debian's 252 stub, SectionAlignment 0x200,
//   the merged SBAT would overlap .sdmagic). If it does not fit, the stub's .sbat is removed
//   (header dropped, later stub raw data moved down) and the merged SBAT is appended last.
//   SizeOfRawData of an in-place .sbat is kept (ukify recomputes it; equal whenever the
//   rounded sizes agree, and keeping it never moves the following raw data).
// * CheckSum = 0 (ukify does the same; Authenticode skips it). TimeDateStamp is the stub's.

#include <algorithm>
#include <cstring>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::uki {

namespace {

using pe::PeFile;
using pe::Section;

constexpr std::string_view k_sbat_header =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";
constexpr std::string_view k_sbat_default =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
    "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n";
constexpr std::uint16_t k_file_local_syms_stripped = 0x0008;
constexpr std::uint32_t k_dir_debug = 6;
constexpr std::uint64_t k_max_text_zero_fill = 1u << 20; // text sections
constexpr std::uint64_t k_max_kernel_zero_fill = 256u
                                                 << 20; // .linux (ukify 257.0 used SizeOfImage)

// Python str.splitlines(): splits on \n, \r, \r\n, \v, \f, \x1c, \x1d, \x1e (ASCII subset).
std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' ||
        c == '\x1e') {
      out.push_back(cur);
      cur.clear();
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// ukify merge_sbat(): drop each input's "sbat," header line; skip inputs without one.
void append_sbat_lines(std::vector<std::string>& lines, std::string_view text) {
  while (!text.empty() && text.back() == '\0')
    text.remove_suffix(1);
  std::vector<std::string> split = split_lines(text);
  if (split.empty() || split[0].rfind("sbat,", 0) != 0) return;
  lines.insert(lines.end(), split.begin() + 1, split.end());
}

struct OutSection {
  std::uint8_t raw_name[8]{};
  std::uint32_t VirtualSize = 0;
  std::uint32_t VirtualAddress = 0;
  std::uint32_t SizeOfRawData = 0;
  std::uint32_t PointerToRawData = 0;
  std::uint32_t Characteristics = 0;
  std::uint8_t rest[12]{}; // relocation/line-number fields, kept from the stub
  std::string name;
};

std::uint32_t to_u32(std::uint64_t v, std::string_view what) {
  if (v > 0xffffffffu)
    fail(ErrorKind::unsupported, "uki: {} 0x{:x} does not fit in 32 bits", what, v);
  return static_cast<std::uint32_t>(v);
}

std::string section_text(const PeFile& f, std::string_view name) {
  const Section* s = f.section(name);
  if (!s) return {};
  return std::string(as_chars(f.section_data(*s)));
}

} // namespace

std::string merge_sbat(std::string_view stub_sbat, std::string_view kernel_sbat,
                       const std::optional<std::string>& extra) {
  std::vector<std::string> lines;
  append_sbat_lines(lines, stub_sbat);
  append_sbat_lines(lines, kernel_sbat);
  append_sbat_lines(lines, extra ? std::string_view(*extra) : k_sbat_default);
  std::string out(k_sbat_header);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  out += "\n";
  out.push_back('\0');
  return out;
}

Bytes pack_uki(ByteSpan stub_bytes, const UkiParts& parts) {
  const PeFile stub(stub_bytes, "stub");
  const pe::OptionalHeader& opt = stub.optional();
  const std::uint64_t fa = opt.FileAlignment;
  const std::uint64_t sa = opt.SectionAlignment;

  if (stub.cert_table() || (opt.NumberOfRvaAndSizes > pe::k_dir_security &&
                            opt.DataDirectories[pe::k_dir_security].VirtualAddress != 0)) {
    fail(ErrorKind::unsupported,
         "stub: is signed (certificate table present); refusing, as ukify does");
  }
  if (parts.linux.empty()) fail(ErrorKind::input, "uki: .linux payload is empty");
  const PeFile kernel(parts.linux, "linux");

  // Payloads: .osrel .cmdline .dtb .uname .splash .pcrpkey .initrd, then an appended .sbat,
  // and .linux LAST by default (upstream ukify later moved .linux after .initrd/.ucode);
  // SectionOrder::ukify_257 keeps Debian's ukify 257.13 order (.linux before .initrd). With .linux last nothing lies above the
  // kernel in the UKI's address space, so a stub that runs the kernel in place can give it
  // room beyond its file size. The order changes the file layout and so the Authenticode
  // digest (PCR 4), never PCR 11: the stub measures sections by name, in its own fixed order.
  struct Payload {
    std::string name;
    ByteSpan data;
  };
  std::vector<Payload> payloads;
  auto add_text = [&](const char* n, const std::optional<std::string>& v) {
    if (v) payloads.push_back({n, as_bytes(*v)});
  };
  auto add_bin = [&](const char* n, const std::optional<Bytes>& v) {
    if (v) payloads.push_back({n, ByteSpan(*v)});
  };
  add_text(".osrel", parts.osrel);
  add_text(".cmdline", parts.cmdline);
  add_bin(".dtb", parts.dtb);
  add_text(".uname", parts.uname);
  add_bin(".splash", parts.splash);
  add_bin(".pcrpkey", parts.pcrpkey);
  const bool linux_last = parts.order == SectionOrder::linux_last;
  if (!linux_last) payloads.push_back({".linux", parts.linux});
  add_bin(".initrd", parts.initrd);
  for (const Payload& p : payloads) {
    if (p.data.empty()) {
      fail(ErrorKind::input, "uki: section {} is empty (the stub would ignore it)", p.name);
    }
  }
  if (stub.section(".linux")) fail(ErrorKind::unsupported, "stub: already has a .linux section");
  for (const Payload& p : payloads) {
    if (stub.section(p.name)) {
      fail(ErrorKind::unsupported, "stub: already has a {} section", p.name);
    }
  }
  const std::string sbat =
      merge_sbat(section_text(stub, ".sbat"), section_text(kernel, ".sbat"), parts.sbat);

  // Stub raw data ranges must not overlap (we move and overwrite them below).
  std::vector<const Section*> by_ptr;
  for (const Section& s : stub.sections()) {
    if (s.SizeOfRawData != 0) by_ptr.push_back(&s);
  }
  if (by_ptr.empty()) fail(ErrorKind::unsupported, "stub: has no sections with raw data");
  std::stable_sort(by_ptr.begin(), by_ptr.end(), [](const Section* a, const Section* b) {
    return a->PointerToRawData < b->PointerToRawData;
  });
  for (std::size_t i = 1; i < by_ptr.size(); ++i) {
    if (std::uint64_t{by_ptr[i - 1]->PointerToRawData} + by_ptr[i - 1]->SizeOfRawData >
        by_ptr[i]->PointerToRawData) {
      fail(ErrorKind::unsupported, "stub: raw data of sections {} and {} overlap",
           by_ptr[i - 1]->name, by_ptr[i]->name);
    }
  }
  const std::uint64_t raw_end =
      std::uint64_t{by_ptr.back()->PointerToRawData} + by_ptr.back()->SizeOfRawData;

  Bytes out(stub_bytes.begin(), stub_bytes.end());
  std::uint16_t characteristics = stub.coff().Characteristics;
  std::uint32_t sym_ptr = stub.coff().PointerToSymbolTable;
  std::uint32_t sym_count = stub.coff().NumberOfSymbols;

  // Strip a symbol + string table that ends exactly at the end of the file (ukify).
  if (sym_ptr != 0) {
    std::uint64_t sym_size = 18ull * sym_count;
    const std::uint64_t str_at = std::uint64_t{sym_ptr} + sym_size;
    if (str_at + 4 <= out.size()) sym_size += load_u32le(out, str_at, "stub: string table size");
    if (sym_ptr + sym_size == out.size() && sym_ptr >= raw_end) {
      out.resize(sym_ptr);
      sym_ptr = 0;
      sym_count = 0;
      characteristics = static_cast<std::uint16_t>(characteristics | k_file_local_syms_stripped);
    }
  }

  // Stub sections, as editable headers. Raw data must be FileAlignment-aligned (ukify would
  // realign; we refuse rather than move the stub's bytes).
  std::vector<OutSection> secs;
  std::uint64_t first_raw = out.size();
  for (const Section& s : stub.sections()) {
    OutSection o;
    std::memcpy(o.raw_name, s.raw_name, 8);
    o.name = s.name;
    o.VirtualSize = s.VirtualSize;
    o.VirtualAddress = s.VirtualAddress;
    o.SizeOfRawData = s.SizeOfRawData;
    o.PointerToRawData = s.PointerToRawData;
    o.Characteristics = s.Characteristics;
    auto rest = checked_slice(stub_bytes, s.header_offset + 24, 12, "stub: section header");
    std::memcpy(o.rest, rest.data(), 12);
    if (s.SizeOfRawData != 0) {
      if (s.PointerToRawData % fa != 0 || s.SizeOfRawData % fa != 0) {
        fail(ErrorKind::unsupported,
             "stub: section {} raw data [0x{:x}, +0x{:x}) is not aligned to FileAlignment 0x{:x}",
             s.name, s.PointerToRawData, s.SizeOfRawData, fa);
      }
      first_raw = std::min<std::uint64_t>(first_raw, s.PointerToRawData);
    }
    secs.push_back(o);
  }

  // SizeOfHeaders rounded up to FileAlignment (ukify), when the first raw data allows it.
  std::uint64_t size_of_headers = opt.SizeOfHeaders;
  if (align_up(size_of_headers, fa) <= first_raw) size_of_headers = align_up(size_of_headers, fa);

  // .sbat: in place if it fits in the stub's raw data and in its memory slot.
  const Bytes sbat_bytes(sbat.begin(), sbat.end());
  bool sbat_appended = true;
  if (auto it = std::find_if(secs.begin(), secs.end(),
                             [](const OutSection& s) { return s.name == ".sbat"; });
      it != secs.end()) {
    std::uint64_t next_va = opt.SizeOfImage;
    for (const OutSection& s : secs) {
      if (s.VirtualAddress > it->VirtualAddress)
        next_va = std::min<std::uint64_t>(next_va, s.VirtualAddress);
    }
    if (sbat_bytes.size() <= it->SizeOfRawData &&
        it->VirtualAddress + sbat_bytes.size() <= next_va) {
      std::fill_n(out.begin() + it->PointerToRawData, it->SizeOfRawData, 0);
      std::copy(sbat_bytes.begin(), sbat_bytes.end(), out.begin() + it->PointerToRawData);
      it->VirtualSize = static_cast<std::uint32_t>(sbat_bytes.size());
      sbat_appended = false;
    } else {
      // Remove the stub's .sbat: drop its raw data and move later raw data down. File
      // pointers elsewhere would go stale, so refuse if a debug directory or symbol table
      // remains.
      if ((opt.NumberOfRvaAndSizes > k_dir_debug && opt.DataDirectories[k_dir_debug].Size != 0) ||
          sym_ptr != 0) {
        fail(ErrorKind::unsupported,
             "stub: merged .sbat ({} bytes) does not fit the stub's .sbat, and the stub has a "
             "debug directory or symbol table that prevents moving its sections",
             sbat_bytes.size());
      }
      const std::uint32_t ptr = it->PointerToRawData;
      const std::uint32_t srd = it->SizeOfRawData;
      if (srd != 0) {
        out.erase(out.begin() + ptr, out.begin() + ptr + srd);
        for (OutSection& s : secs) {
          if (s.SizeOfRawData != 0 && s.PointerToRawData > ptr) s.PointerToRawData -= srd;
        }
      }
      secs.erase(it);
      if (secs.empty()) fail(ErrorKind::unsupported, "stub: has no sections besides .sbat");
    }
  }
  const std::uint64_t table_offset = stub.section_table_offset();
  const std::uint64_t old_table_end = stub.section_table_end();

  // Append the new sections.
  std::uint64_t init_data = opt.SizeOfInitializedData;
  auto append = [&](std::string_view name, ByteSpan data, std::uint32_t chars) {
    OutSection o;
    std::memcpy(o.raw_name, name.data(), std::min<std::size_t>(8, name.size()));
    o.name = std::string(name);
    const OutSection& last = secs.back();
    o.VirtualAddress = to_u32(align_up(std::uint64_t{last.VirtualAddress} + last.VirtualSize, sa),
                              "VirtualAddress");
    o.VirtualSize = to_u32(data.size(), "VirtualSize of " + o.name);
    o.PointerToRawData = to_u32(align_up(out.size(), fa), "PointerToRawData");
    o.SizeOfRawData = to_u32(align_up(data.size(), fa), "SizeOfRawData");
    o.Characteristics = chars;
    out.resize(o.PointerToRawData, 0);
    out.insert(out.end(), data.begin(), data.end());
    out.resize(std::uint64_t{o.PointerToRawData} + o.SizeOfRawData, 0);
    init_data += data.size();
    secs.push_back(o);
  };
  const std::uint32_t data_chars = pe::k_scn_cnt_initialized_data | pe::k_scn_mem_read;
  const std::uint32_t code_chars = pe::k_scn_cnt_code | pe::k_scn_mem_read;
  for (const Payload& p : payloads) append(p.name, p.data, p.name == ".linux" ? code_chars : data_chars);
  if (sbat_appended) append(".sbat", sbat_bytes, data_chars);
  if (linux_last) append(".linux", parts.linux, code_chars);

  // Header room: every header must end inside SizeOfHeaders and before the first raw data
  // (systemd#28593 "Not enough header space").
  const std::uint64_t table_end =
      table_offset + std::uint64_t{pe::k_section_header_size} * secs.size();
  if (table_end > size_of_headers || table_end > first_raw) {
    fail(ErrorKind::unsupported,
         "stub: not enough header space for {} section headers (the table would end at 0x{:x}, "
         "SizeOfHeaders is 0x{:x}, first section data at 0x{:x})",
         secs.size(), table_end, size_of_headers, first_raw);
  }

  // Write the section table (zeroing slots freed by a removed .sbat) and patch the headers.
  ByteWriter w(std::move(out));
  for (std::uint64_t off = table_offset; off < std::max(old_table_end, table_end); ++off) {
    w.patch(off, Bytes{0});
  }
  for (std::size_t i = 0; i < secs.size(); ++i) {
    const OutSection& s = secs[i];
    ByteWriter h;
    h.bytes(ByteSpan(s.raw_name, 8));
    h.u32le(s.VirtualSize);
    h.u32le(s.VirtualAddress);
    h.u32le(s.SizeOfRawData);
    h.u32le(s.PointerToRawData);
    h.bytes(ByteSpan(s.rest, 12));
    h.u32le(s.Characteristics);
    w.patch(table_offset + pe::k_section_header_size * i, h.data());
  }
  const std::uint64_t coff = stub.coff_offset();
  const std::uint64_t opth = stub.optional_header_offset();
  w.patch_u16le(coff + 2, static_cast<std::uint16_t>(secs.size()));
  w.patch_u32le(coff + 8, sym_ptr);
  w.patch_u32le(coff + 12, sym_count);
  w.patch_u16le(coff + 18, characteristics);
  w.patch_u32le(opth + 8, to_u32(init_data, "SizeOfInitializedData"));
  const OutSection& last = secs.back();
  w.patch_u32le(
      opth + 56,
      to_u32(align_up(std::uint64_t{last.VirtualAddress} + last.VirtualSize, sa), "SizeOfImage"));
  w.patch_u32le(opth + 60, to_u32(size_of_headers, "SizeOfHeaders"));
  w.patch_u32le(stub.checksum_offset(), 0);
  Bytes result = w.take();
  try {
    const PeFile check(result, "uki.efi (packed)"); // our own output must parse
  } catch (const Error& e) {
    fail(ErrorKind::internal, "pack_uki produced an invalid PE: {}", e.what());
  }
  return result;
}

namespace {
Sha256 memory_sha256(const PeFile& f, const Section& s) {
  Hasher h(HashAlg::sha256);
  ByteSpan d = f.section_data(s);
  h.update(d);
  h.update_zeros(s.VirtualSize - d.size());
  Bytes v = h.finish();
  Sha256 out{};
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}
} // namespace

UkiInfo read_uki(ByteSpan uki, std::string_view name) {
  const PeFile f(uki, std::string(name));
  UkiInfo info;
  for (const Section& s : f.sections()) {
    SectionInfo si;
    si.name = s.name;
    si.VirtualAddress = s.VirtualAddress;
    si.VirtualSize = s.VirtualSize;
    si.PointerToRawData = s.PointerToRawData;
    si.SizeOfRawData = s.SizeOfRawData;
    si.Characteristics = s.Characteristics;
    si.memory_sha256 = memory_sha256(f, s);
    info.sections.push_back(std::move(si));
  }
  // Zero tails (VirtualSize past SizeOfRawData) are materialized only up to a bound, so a
  // hostile VirtualSize cannot make us allocate gigabytes.
  auto bounded_memory = [&](const Section& s, std::uint64_t max_zero_fill) {
    const std::uint64_t have = f.section_data(s).size();
    if (s.VirtualSize - have > max_zero_fill) {
      fail(ErrorKind::unsupported,
           "{}: section {} at offset 0x{:x}: VirtualSize 0x{:x} exceeds its raw data 0x{:x} by "
           "more than 0x{:x} bytes",
           name, s.name, s.header_offset, s.VirtualSize, have, max_zero_fill);
    }
    return f.section_memory(s);
  };
  auto text = [&](std::string_view n) -> std::optional<std::string> {
    const Section* s = f.section(n);
    if (!s) return std::nullopt;
    return std::string(as_chars(bounded_memory(*s, k_max_text_zero_fill)));
  };
  info.cmdline = text(".cmdline");
  info.osrel = text(".osrel");
  info.uname = text(".uname");
  info.sbat = text(".sbat");
  if (auto magic = text(".sdmagic")) {
    constexpr std::string_view k_prefix = "LoaderInfo: systemd-stub ";
    const std::size_t at = magic->find(k_prefix);
    if (at != std::string::npos) {
      std::string_view rest = std::string_view(*magic).substr(at + k_prefix.size());
      rest = rest.substr(0, rest.find(' '));
      rest = rest.substr(0, rest.find('\0'));
      info.stub_version = std::string(rest);
      unsigned major = 0;
      std::size_t digits = 0;
      while (digits < rest.size() && digits < 6 && rest[digits] >= '0' && rest[digits] <= '9') {
        major = major * 10 + static_cast<unsigned>(rest[digits] - '0');
        ++digits;
      }
      if (digits > 0) info.stub_major = major;
    }
  }
  if (const Section* linux_sec = f.section(".linux")) {
    // The buffer systemd-stub hands to LoadImage: VirtualSize bytes (zero-filled past SRD).
    Bytes copy;
    ByteSpan buf = f.section_data(*linux_sec);
    if (buf.size() < linux_sec->VirtualSize) {
      copy = bounded_memory(*linux_sec, k_max_kernel_zero_fill);
      buf = copy;
    }
    const PeFile k(buf, std::string(name) + ": .linux");
    KernelInfo ki;
    ki.MajorImageVersion = k.optional().MajorImageVersion;
    ki.MinorImageVersion = k.optional().MinorImageVersion;
    ki.buffer_size = buf.size();
    ki.authenticode_sha256 = pe::authenticode(k, HashAlg::sha256);
    ki.authenticode_sha384 = pe::authenticode(k, HashAlg::sha384);
    info.kernel = std::move(ki);
  }
  info.authenticode_sha256 = pe::authenticode(f, HashAlg::sha256);
  info.authenticode_sha384 = pe::authenticode(f, HashAlg::sha384);
  return info;
}

std::optional<Bytes> uki_section(ByteSpan uki, std::string_view section, std::string_view name) {
  const PeFile f(uki, std::string(name));
  const Section* s = f.section(section);
  if (!s) return std::nullopt;
  return f.section_memory(*s);
}

} // namespace tdximg::uki
