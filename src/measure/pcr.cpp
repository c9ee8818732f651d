// TPM PCR 4/9/11 prediction for a UKI booted directly by UEFI firmware.
// Specs and sources (see /work/shared/reference/pcr-measurements.md, whose "Confirmed and
// corrected by real boots" section overrides the rest):
//  - PCR 4: TCG PC Client PFP 1.05 §3.3.4.5/§10.4.4 and edk2 Tcg2Dxe OnReadyToBoot(),
//    DxeTpm2MeasureBootLib Tcg2MeasurePeImage() (Authenticode digest, PE_COFF_IMAGE flag).
//  - PCR 11: systemd-stub measure_sections()/unified_sections[] per version (ref §1.1, §1.2).
//  - PCR 9: Linux drivers/firmware/efi/libstub efi_measure_tagged_event() (ref §4), with the
//    LoadOptions and LoadFile2 initrd systemd-stub builds (ref §4, "Confirmed" section).
//  - Phases: systemd-pcrphase words, extended without NUL (ref §1.4).

#include <tdximg/measure/pcr.hpp>

#include <algorithm>
#include <array>

#include <tdximg/util/error.hpp>

namespace tdximg::measure {

namespace {

constexpr std::string_view k_action_calling = "Calling EFI Application from Boot Option";
constexpr std::array<std::uint8_t, 4> k_separator_data{0, 0, 0, 0};
constexpr std::uint32_t k_load_options_tag = 0x8F3B22ED;
constexpr std::uint32_t k_initrd_tag = 0x8F3B22EC;

std::string stub_source(int major, std::string_view what) {
  return fmt::format("systemd-stub {} {}", major, what);
}

const Bytes& bank_digest(const DigestMap& m, HashAlg alg, std::string_view what) {
  const auto it = m.find(alg);
  if (it == m.end())
    fail(ErrorKind::input, "UKI measure input: {}: no {} digest given", what, hash_name(alg));
  if (it->second.size() != digest_size(alg))
    fail(ErrorKind::input, "UKI measure input: {}: {} digest has {} bytes, expected {}", what,
         hash_name(alg), it->second.size(), digest_size(alg));
  return it->second;
}

Event digest_event(std::string reg, int index, std::uint32_t type, const DigestMap& given,
                   std::span<const HashAlg> banks, std::string description, std::string source) {
  Event e;
  e.reg = std::move(reg);
  e.index = index;
  e.type = type;
  for (HashAlg alg : banks) e.digests[alg] = bank_digest(given, alg, description);
  e.description = std::move(description);
  e.source = std::move(source);
  return e;
}

void check_major(int major) {
  if (major < k_min_stub_major)
    fail(ErrorKind::unsupported,
         "systemd-stub {}: stubs older than {} are not supported (no PCR 11 section "
         "measurements as modelled here)",
         major, k_min_stub_major);
  if (major > k_max_stub_major)
    fail(ErrorKind::unsupported,
         "systemd-stub {}: rules for stubs newer than {} are unknown; pass an explicit stub "
         "rules override to measure with an older stub's rules",
         major, k_max_stub_major);
}

// Kernel release "6.1.0-41-amd64" -> {6, 1}; nullopt if it does not start with N.N.
std::optional<std::pair<int, int>> kernel_version(std::string_view uname) {
  int major = 0;
  int minor = 0;
  std::size_t i = 0;
  auto number = [&](int& out) {
    const std::size_t start = i;
    while (i < uname.size() && uname[i] >= '0' && uname[i] <= '9' && i - start < 6) {
      out = out * 10 + (uname[i] - '0');
      ++i;
    }
    return i > start;
  };
  if (!number(major) || i >= uname.size() || uname[i] != '.') return std::nullopt;
  ++i;
  if (!number(minor)) return std::nullopt;
  return std::pair{major, minor};
}

bool is_multi_profile(const std::vector<Section>& sections) {
  return std::any_of(sections.begin(), sections.end(),
                     [](const Section& s) { return s.name == ".profile"; });
}

void append_u16le(Bytes& out, std::uint16_t c) {
  out.push_back(static_cast<std::uint8_t>(c & 0xFF));
  out.push_back(static_cast<std::uint8_t>(c >> 8));
}

// UTF-8 -> UCS-2 as systemd's xstrn8_to_16() (v253+): stops at NUL or the end, drops
// invalid sequences (one byte at a time) and code points above U+FFFF.
std::vector<std::uint16_t> utf8_to_ucs2(std::string_view s) {
  std::vector<std::uint16_t> out;
  std::size_t i = 0;
  while (i < s.size() && s[i] != '\0') {
    const auto b0 = static_cast<std::uint8_t>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 0;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1Fu;
      len = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0Fu;
      len = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07u;
      len = 4;
    } else {
      ++i; // invalid lead byte
      continue;
    }
    bool ok = i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<std::uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (b & 0x3Fu);
    }
    if (!ok) {
      ++i;
      continue;
    }
    i += len;
    if (cp <= 0xFFFF) out.push_back(static_cast<std::uint16_t>(cp));
  }
  return out;
}

} // namespace

std::string_view platform_name(Platform p) {
  return p == Platform::azure ? "azure" : "qemu";
}

Platform parse_platform(std::string_view name) {
  if (name == "qemu") return Platform::qemu;
  if (name == "azure") return Platform::azure;
  fail(ErrorKind::usage, "unknown platform '{}' (expected qemu or azure)", name);
}

int stub_rules_major(const UkiMeasureInput& uki, const BootConfig& config) {
  const int major = config.stub_rules_override.value_or(uki.stub_major);
  check_major(major);
  return major;
}

std::vector<std::string> pcr11_section_order(int stub_major) {
  check_major(stub_major);
  // systemd-stub unified_sections[] (ref §1.2); .pcrsig is never measured.
  std::vector<std::string> order{".linux", ".osrel", ".cmdline", ".initrd"};
  if (stub_major >= 256) order.emplace_back(".ucode");
  order.emplace_back(".splash");
  order.emplace_back(".dtb");
  if (stub_major >= 254) {
    order.emplace_back(".uname");
    order.emplace_back(".sbat");
  }
  order.emplace_back(".pcrpkey");
  if (stub_major >= 257) {
    order.emplace_back(".profile");
    order.emplace_back(".dtbauto");
    order.emplace_back(".hwids");
  }
  if (stub_major >= 258) order.emplace_back(".efifw");
  return order;
}

const Section* find_section(const std::vector<Section>& sections, std::string_view name,
                            int stub_major) {
  const Section* found = nullptr;
  if (stub_major <= 256) {
    // v252..v256 pe.c locate_sections(): memcmp(Name, name, strlen(name)), last match wins.
    for (const Section& s : sections)
      if (s.name.size() >= name.size() && std::string_view(s.name).substr(0, name.size()) == name)
        found = &s;
  } else {
    // v257+ pe_section_name_equal(): exact, first wins; only base sections (before .profile).
    for (const Section& s : sections) {
      if (s.name == ".profile") break;
      if (s.name == name) {
        found = &s;
        break;
      }
    }
  }
  if (found != nullptr && found->data.empty()) return nullptr; // size 0 = absent
  return found;
}

std::vector<Event> pcr11_events(const UkiMeasureInput& uki, int stub_major,
                                std::span<const HashAlg> banks, std::string_view reg,
                                int index) {
  if (stub_major >= 257 && is_multi_profile(uki.sections))
    fail(ErrorKind::unsupported, "UKI: multi-profile UKIs (.profile sections) are not supported");
  std::vector<Event> out;
  for (const std::string& name : pcr11_section_order(stub_major)) {
    const Section* s = find_section(uki.sections, name, stub_major);
    if (s == nullptr) continue;
    // Name: ASCII with its NUL (strsize8); data: VirtualSize bytes as loaded in memory.
    std::string name_nul = name;
    name_nul.push_back('\0');
    out.push_back(hashed_event(std::string(reg), index, ev::k_ipl, as_bytes(name_nul), banks,
                               fmt::format("section name {}", name),
                               stub_source(stub_major, "measure_sections")));
    out.push_back(hashed_event(std::string(reg), index, ev::k_ipl, s->data, banks,
                               fmt::format("section {} ({} bytes)", name, s->data.size()),
                               stub_source(stub_major, "measure_sections")));
  }
  return out;
}

std::vector<Event> pcr4_events(const UkiMeasureInput& uki, int stub_major, bool secure_boot,
                               std::span<const HashAlg> banks) {
  const std::string edk2 = "edk2 Tcg2Dxe OnReadyToBoot";
  std::vector<Event> out;
  // PFP §3.3.4.5: the action before the first boot attempt, then the PCR 0-7 separator.
  out.push_back(hashed_event("pcr4", 4, ev::k_efi_action, as_bytes(k_action_calling), banks,
                             std::string(k_action_calling), edk2));
  out.push_back(hashed_event("pcr4", 4, ev::k_separator, k_separator_data, banks,
                             "separator", edk2));
  // The boot option's image: Authenticode of the UKI file (Tcg2MeasurePeImage).
  out.push_back(digest_event("pcr4", 4, ev::k_efi_boot_services_application,
                             uki.uki_authenticode, banks, "Authenticode of uki.efi",
                             "edk2 DxeTpm2MeasureBootHandler (boot option)"));
  // systemd-stub 252..257 LoadImage()s .linux from memory when the kernel EFI stub is >= 1.0;
  // only without Secure Boot does the firmware's measure handler see it (no security override).
  const bool has_linux = find_section(uki.sections, ".linux", stub_major) != nullptr;
  if (stub_major <= 257 && !secure_boot && uki.kernel_efi_major >= 1 && has_linux)
    out.push_back(digest_event("pcr4", 4, ev::k_efi_boot_services_application,
                               uki.linux_authenticode, banks, "Authenticode of .linux",
                               stub_source(stub_major, "linux_exec LoadImage")));
  return out;
}

Bytes stub_load_options(std::string_view cmdline_section, int stub_major) {
  std::vector<std::uint16_t> chars;
  if (stub_major <= 252) {
    // Debian 252.39 (confirmed by boot): convert up to the first NUL, control chars -> space,
    // trailing spaces cut; leading blanks and DEL kept.
    for (char c : cmdline_section) {
      if (c == '\0') break;
      const auto u = static_cast<std::uint8_t>(c);
      if (u >= 0x80)
        fail(ErrorKind::unsupported,
             "UKI .cmdline: non-ASCII byte 0x{:02x} with systemd-stub 252 is not modelled", u);
      chars.push_back(u < 0x20 ? std::uint16_t{' '} : std::uint16_t{u});
    }
    while (!chars.empty() && chars.back() == ' ') chars.pop_back();
  } else if (stub_major <= 256) {
    // v253..v256: xstrn8_to_16(section, VirtualSize), then mangle_stub_cmdline():
    // chars <= 0x1F -> space, trailing spaces stripped.
    chars = utf8_to_ucs2(cmdline_section);
    for (auto& c : chars)
      if (c <= 0x1F) c = ' ';
    while (!chars.empty() && chars.back() == ' ') chars.pop_back();
  } else {
    // v257+ (confirmed by boot on 257.13): whitespace = c <= 0x20 || c == 0x7F; leading
    // dropped, inner -> space (runs kept), trailing cut.
    chars = utf8_to_ucs2(cmdline_section);
    auto is_ws = [](std::uint16_t c) { return c <= 0x20 || c == 0x7F; };
    std::size_t first = 0;
    while (first < chars.size() && is_ws(chars[first])) ++first;
    std::size_t last = chars.size();
    while (last > first && is_ws(chars[last - 1])) --last;
    std::vector<std::uint16_t> kept;
    for (std::size_t i = first; i < last; ++i) kept.push_back(is_ws(chars[i]) ? ' ' : chars[i]);
    chars = std::move(kept);
  }
  Bytes out;
  out.reserve(chars.size() * 2 + 2);
  for (std::uint16_t c : chars) append_u16le(out, c);
  append_u16le(out, 0); // strsize16(): the NUL16 is part of LoadOptionsSize
  return out;
}

Bytes stub_cpio_literal(std::string_view dir, std::string_view file, ByteSpan data) {
  // systemd src/boot/efi/cpio.c pack_cpio_literal(): newc ("070701"), lowercase %08x fields,
  // entries aligned to 4 from the archive start, uid/gid/mtime 0, inodes counted from 1.
  ByteWriter w;
  auto header = [&w](std::uint32_t ino, std::uint32_t mode, std::uint64_t size,
                     std::size_t namesize) {
    const std::uint32_t fields[13] = {ino, mode, 0, 0, 1, 0,
                                      static_cast<std::uint32_t>(size), 0, 0, 0, 0,
                                      static_cast<std::uint32_t>(namesize), 0};
    w.str("070701");
    for (std::uint32_t f : fields) w.str(fmt::format("{:08x}", f));
  };
  if (data.size() > 0xFFFFFFFFu)
    fail(ErrorKind::input, "cpio {}/{}: {} bytes do not fit a newc entry", dir, file, data.size());
  // Directory entry (pack_cpio_prefix -> pack_cpio_dir): mode 040555.
  header(1, 040555, 0, dir.size() + 1);
  w.str(dir);
  w.u8(0);
  w.pad_to(4);
  // File entry (pack_cpio_one): mode 0100444.
  const std::string path = fmt::format("{}/{}", dir, file);
  header(2, 0100444, data.size(), path.size() + 1);
  w.str(path);
  w.u8(0);
  w.pad_to(4);
  w.bytes(data);
  w.pad_to(4);
  // pack_cpio_trailer(): a fixed string; note the uppercase 'B' in the namesize field.
  w.str("070701"
        "00000000"
        "00000000"
        "00000000"
        "00000000"
        "00000001"
        "00000000"
        "00000000"
        "00000000"
        "00000000"
        "00000000"
        "00000000"
        "0000000B"
        "00000000"
        "TRAILER!!!");
  w.zeros(4);
  return w.take();
}

Bytes stub_initrd(const UkiMeasureInput& uki, int stub_major) {
  check_major(stub_major);
  const auto& sections = uki.sections;
  const Section* ucode = stub_major >= 256 ? find_section(sections, ".ucode", stub_major) : nullptr;
  const Section* initrd = find_section(sections, ".initrd", stub_major);
  std::vector<Bytes> generated;
  if (const Section* s = find_section(sections, ".pcrsig", stub_major))
    generated.push_back(stub_cpio_literal(".extra", "tpm2-pcr-signature.json", s->data));
  if (const Section* s = find_section(sections, ".pcrpkey", stub_major))
    generated.push_back(stub_cpio_literal(".extra", "tpm2-pcr-public-key.pem", s->data));
  if (stub_major >= 257)
    if (const Section* s = find_section(sections, ".osrel", stub_major))
      generated.push_back(stub_cpio_literal(".extra", "os-release", s->data));

  ByteWriter w;
  if (stub_major <= 255) {
    // combine_initrd(): .initrd as is when nothing is generated; otherwise .initrd, zero pad
    // to 4, then the generated cpios.
    if (initrd != nullptr) w.bytes(initrd->data);
    if (!generated.empty()) {
      w.pad_to(4);
      for (const Bytes& g : generated) w.bytes(g);
    }
    return w.take();
  }
  // v256+ combine_initrds(): every part padded to 4, but a single part is passed unpadded.
  std::vector<ByteSpan> parts;
  if (ucode != nullptr) parts.emplace_back(ucode->data);
  if (initrd != nullptr) parts.emplace_back(initrd->data);
  for (const Bytes& g : generated) parts.emplace_back(g);
  if (parts.size() == 1) return Bytes(parts[0].begin(), parts[0].end());
  for (ByteSpan p : parts) {
    w.bytes(p);
    w.pad_to(4);
  }
  return w.take();
}

std::vector<Event> pcr9_events(const UkiMeasureInput& uki, int stub_major,
                               std::span<const HashAlg> banks, std::string_view reg, int index) {
  std::vector<Event> out;
  // EFI handover path (kernel EFI stub < 1.0): no LoadOptions/LoadFile2 measurements.
  if (uki.kernel_efi_major < 1) return out;
  const auto kver = kernel_version(uki.uname);
  const bool measures_load_options = !kver || *kver >= std::pair{6, 1};
  const bool measures_initrd = !kver || *kver >= std::pair{5, 17};
  const std::string kernel = "linux efi-stub efi_measure_tagged_event";
  // LoadOptions first (efi_convert_cmdline), only if LoadOptionsSize > 0: the stub sets it
  // only when it has a cmdline (.cmdline present).
  if (const Section* cmdline = find_section(uki.sections, ".cmdline", stub_major);
      cmdline != nullptr && measures_load_options) {
    const Bytes options = stub_load_options(as_chars(cmdline->data), stub_major);
    out.push_back(hashed_event(std::string(reg), index, ev::k_event_tag, options, banks,
                               fmt::format("LOADED_IMAGE::LoadOptions (tag 0x{:08x})",
                                           k_load_options_tag),
                               kernel));
  }
  // Then the initrd served by the stub over LoadFile2 (only if non-empty).
  if (measures_initrd) {
    const Bytes initrd = stub_initrd(uki, stub_major);
    if (!initrd.empty()) {
      out.push_back(hashed_event(std::string(reg), index, ev::k_event_tag, initrd, banks,
                                 fmt::format("Linux initrd (tag 0x{:08x})", k_initrd_tag),
                                 kernel));
    }
  }
  return out;
}

const std::vector<std::string>& pcrphase_words() {
  static const std::vector<std::string> words{"enter-initrd", "leave-initrd", "sysinit", "ready"};
  return words;
}

const std::vector<std::string>& default_phase_paths() {
  static const std::vector<std::string> paths{"enter-initrd", "enter-initrd:leave-initrd",
                                              "enter-initrd:leave-initrd:sysinit",
                                              "enter-initrd:leave-initrd:sysinit:ready"};
  return paths;
}

DigestMap extend_phase_path(const DigestMap& base, std::string_view path) {
  DigestMap out = base;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view word = path.substr(start, end - start);
    if (!word.empty())
      for (auto& [alg, value] : out) value = extend(alg, value, hash(alg, as_bytes(word)));
    start = end + 1;
  }
  return out;
}

PcrPrediction predict_pcrs(const UkiMeasureInput& uki, const BootConfig& config) {
  if (config.banks.empty()) fail(ErrorKind::usage, "PCR prediction: no banks selected");
  const int major = stub_rules_major(uki, config);
  const std::span<const HashAlg> banks = config.banks;
  const bool verified = config.platform == Platform::qemu;
  const std::string platform_note =
      verified ? std::string{}
               : "not checked against a boot; calibrate with a TCG log captured once on Azure";

  PcrPrediction p;
  p.stub_rules_major = major;
  p.platform = config.platform;
  p.secure_boot = config.secure_boot;
  p.banks = config.banks;
  if (config.stub_rules_override && *config.stub_rules_override != uki.stub_major)
    p.notes.push_back(fmt::format("stub {} measured with the rules of stub {} (override)",
                                  uki.stub_major, major));
  if (uki.uname.empty() || !kernel_version(uki.uname))
    p.notes.push_back("kernel release unknown: assuming Linux >= 6.1 (PCR 9 measures "
                      "LoadOptions and the initrd)");
  if (uki.kernel_efi_major < 1)
    p.notes.push_back("kernel EFI stub < 1.0: systemd-stub uses the EFI handover protocol; no "
                      "PCR 4 kernel event and no PCR 9 events");
  if (find_section(uki.sections, ".cmdline", major) == nullptr)
    p.notes.push_back("no .cmdline section: assumes the boot entry passes no LoadOptions");

  std::vector<Event> pcr4 = pcr4_events(uki, major, config.secure_boot, banks);
  std::vector<Event> pcr11 = pcr11_events(uki, major, banks);
  std::vector<Event> pcr9 = pcr9_events(uki, major, banks);

  // Boot order: firmware action, separator, UKI image; the stub's section measurements; the
  // firmware's .linux LoadImage event; then the kernel's LoadOptions and initrd.
  const auto firmware_end = pcr4.begin() + std::min<std::ptrdiff_t>(3, std::ssize(pcr4));
  p.timeline.insert(p.timeline.end(), pcr4.begin(), firmware_end);
  p.timeline.insert(p.timeline.end(), pcr11.begin(), pcr11.end());
  p.timeline.insert(p.timeline.end(), firmware_end, pcr4.end());
  p.timeline.insert(p.timeline.end(), pcr9.begin(), pcr9.end());

  p.registers.push_back(make_prediction("pcr4", 4, std::move(pcr4), banks, verified,
                                        platform_note));
  p.registers.push_back(make_prediction("pcr9", 9, std::move(pcr9), banks, verified,
                                        platform_note));
  RegisterPrediction r11 = make_prediction("pcr11", 11, std::move(pcr11), banks, verified,
                                           verified ? "stub measurements only; systemd-pcrphase "
                                                      "values are in pcr11_phases"
                                                    : platform_note);
  p.pcr11_phases.push_back({"", r11.values});
  for (const std::string& path : default_phase_paths())
    p.pcr11_phases.push_back({path, extend_phase_path(r11.values, path)});
  p.registers.push_back(std::move(r11));
  p.registers.push_back(make_prediction(
      "pcr12", 12, {}, banks, verified,
      "expected zero: no LoadOptions override, add-ons, credentials or confexts"));
  p.registers.push_back(make_prediction("pcr13", 13, {}, banks, verified,
                                        "expected zero: no system extensions next to the UKI"));
  return p;
}

} // namespace tdximg::measure
