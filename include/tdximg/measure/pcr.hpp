#pragma once
// TPM PCR 4/9/11 (12/13 as notes) predicted for a UKI (systemd-stub + .linux + ...) booted
// directly by UEFI firmware (OVMF, Azure), as event lists per register. Pure: bytes in,
// events out; no I/O. Rules: /work/shared/reference/pcr-measurements.md (section
// "Confirmed and corrected by real boots" overrides the rest) — summarized per function.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/measure/event.hpp>

namespace tdximg::measure {

// Lowest and highest systemd-stub major whose rules tdximg knows.
inline constexpr int k_min_stub_major = 252;
inline constexpr int k_max_stub_major = 258;

// A UKI section as the loader places it in memory: VirtualSize bytes (file data zero-filled
// past SizeOfRawData).
struct Section {
  std::string name; // ".linux", ".cmdline", ... (without NUL padding)
  Bytes data;       // memory bytes, exactly VirtualSize long
};

// What the measurement rules need from a UKI: plain data, so tests need no PE file.
struct UkiMeasureInput {
  std::string stub_version_string; // from .sdmagic, e.g. "systemd-stub 252.39-1~deb12u2"
  int stub_major = 0;              // 252, 257, ...
  std::vector<Section> sections;   // in file (section table) order
  DigestMap uki_authenticode;      // Authenticode of the UKI file, per bank
  DigestMap linux_authenticode;    // Authenticode of .linux (VirtualSize buffer), per bank
  int kernel_efi_major = 1;        // .linux PE MajorImageVersion (kernel EFI stub >= 1.0?)
  std::string uname;               // kernel release, e.g. "6.1.0-41-amd64" (empty: unknown)
};

enum class Platform { qemu, azure };
std::string_view platform_name(Platform p);
// "qemu" / "azure"; throws ErrorKind::usage for anything else.
Platform parse_platform(std::string_view name);

struct BootConfig {
  Platform platform = Platform::qemu;
  bool secure_boot = false;
  std::vector<HashAlg> banks = {HashAlg::sha256, HashAlg::sha384};
  // Measure with this stub major's rules instead of the UKI's own (needed for a stub newer
  // than k_max_stub_major, which is otherwise refused).
  std::optional<int> stub_rules_override;
};

// PCR 11 after systemd-pcrphase steps: phase path "enter-initrd:leave-initrd" etc.
struct PhaseValue {
  std::string path; // colon-separated words; "" = stub only (systemd-measure's ":")
  DigestMap values;
};

struct PcrPrediction {
  int stub_rules_major = 0;              // whose rules were applied
  Platform platform = Platform::qemu;
  bool secure_boot = false;
  std::vector<HashAlg> banks;
  std::vector<RegisterPrediction> registers; // pcr4, pcr9, pcr11, pcr12, pcr13 (in this order)
  std::vector<PhaseValue> pcr11_phases;      // "", enter-initrd, ..., :ready (cumulative)
  std::vector<Event> timeline;               // all events of 4/9/11 in boot execution order
  std::vector<std::string> notes;            // assumptions, e.g. "kernel release unknown"
};

// The full PCR 4/9/11/12/13 prediction for one UKI and boot configuration.
// Throws ErrorKind::unsupported for a stub < 252 or > 258 without an override, and
// ErrorKind::input if a needed Authenticode digest for a bank is missing.
PcrPrediction predict_pcrs(const UkiMeasureInput& uki, const BootConfig& config);

// The stub major whose rules apply (override, or the UKI's), validated as above.
int stub_rules_major(const UkiMeasureInput& uki, const BootConfig& config);

// --- Building blocks (public for tests, the TDX RTMR predictor and `inspect`) -------------

// PCR 11 section names in the stub's fixed measuring order (".pcrsig" excluded).
// Throws ErrorKind::unsupported outside 252..258.
std::vector<std::string> pcr11_section_order(int stub_major);

// The section the stub uses for `name`: 252..256 prefix match (memcmp over strlen(name)),
// last match wins; >= 257 exact match, first wins. nullptr if none or it is empty.
const Section* find_section(const std::vector<Section>& sections, std::string_view name,
                            int stub_major);

// PCR 11 events: per measured section, EV_IPL H(name + NUL), then EV_IPL H(memory bytes).
std::vector<Event> pcr11_events(const UkiMeasureInput& uki, int stub_major,
                                std::span<const HashAlg> banks, std::string_view reg = "pcr11",
                                int index = 11);

// PCR 4 events (EDK2 order): EV_EFI_ACTION "Calling EFI Application from Boot Option",
// EV_SEPARATOR 00000000, BSA Authenticode(UKI), then BSA Authenticode(.linux) only when
// stub <= 257, Secure Boot off and kernel EFI stub >= 1.0. Throws ErrorKind::input if an
// Authenticode digest is missing for a bank.
std::vector<Event> pcr4_events(const UkiMeasureInput& uki, int stub_major, bool secure_boot,
                               std::span<const HashAlg> banks);

// The LoadOptions buffer the stub hands the kernel: UTF-16LE(cleaned .cmdline) + 00 00.
// 252 (Debian 252.39): up to the first NUL, control chars (< 0x20) -> space, trailing
// spaces cut, leading blanks and DEL kept. 253..256: same, bounded by VirtualSize.
// >= 257: whitespace is c <= 0x20 || c == 0x7F: leading dropped, inner -> space, trailing
// cut. UTF-8 decoded (invalid dropped, > U+FFFF dropped). Never throws.
Bytes stub_load_options(std::string_view cmdline_section, int stub_major);

// The initrd the stub serves over LoadFile2 (what the kernel hashes into PCR 9):
// [.ucode] .initrd [pcrsig cpio] [pcrpkey cpio] [osrel cpio (>= 257)] with the per-version
// padding rules (252..255: only .initrd padded to 4, only if cpios follow; >= 256: every
// part padded to 4; a single part unpadded). Empty if nothing to serve.
Bytes stub_initrd(const UkiMeasureInput& uki, int stub_major);

// A cpio "newc" archive as systemd-stub's pack_cpio_literal() writes it: dir `dir` (ino 1,
// 040555), file `dir/file` (ino 2, 0100444), lowercase hex, then the fixed trailer.
Bytes stub_cpio_literal(std::string_view dir, std::string_view file, ByteSpan data);

// PCR 9 events by the Linux EFI stub: EV_EVENT_TAG LoadOptions, then EV_EVENT_TAG initrd.
// None on the EFI handover path (kernel EFI stub < 1.0); LoadOptions only with Linux >= 6.1
// and initrd only with >= 5.17 when `uname` is known.
std::vector<Event> pcr9_events(const UkiMeasureInput& uki, int stub_major,
                               std::span<const HashAlg> banks, std::string_view reg = "pcr9",
                               int index = 9);

// systemd-pcrphase words, in boot order, and the default phase paths of systemd-measure.
const std::vector<std::string>& pcrphase_words();         // enter-initrd .. ready
const std::vector<std::string>& default_phase_paths();    // "enter-initrd", ..., 4 paths
// PCR 11 value after extending each word of `path` (colon separated, empty words skipped)
// on top of `base`.
DigestMap extend_phase_path(const DigestMap& base, std::string_view path);

} // namespace tdximg::measure
