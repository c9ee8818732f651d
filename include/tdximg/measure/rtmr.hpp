#pragma once
// TDX RTMR0..3 predicted for a UKI booted by TDVF (OVMF with TDX) on QEMU/KVM, as event lists
// (SHA-384 only), plus MRTD from the firmware: the whole TDX prediction for one VM shape.
// Pure: bytes in, events out. Rules: /work/shared/reference/tdx-measurements.md §2
// (UEFI 2.10 §38.4.1 MapPcrToMrIndex: PCR 1,7 -> RTMR0; 2..6 -> RTMR1; 8..15 -> RTMR2).

#include <optional>
#include <string>
#include <string_view>
#include <tdximg/measure/event.hpp>
#include <tdximg/measure/mrtd.hpp>
#include <tdximg/measure/pcr.hpp>
#include <vector>

namespace tdximg::measure {

enum class TdxBootMode {
  disk,          // OVMF BDS boots \EFI\BOOT\BOOTX64.EFI (the UKI) from a GPT disk
  direct_kernel, // QEMU -kernel uki.efi (no -append): OVMF QemuLoadImageLib
};
// "disk" / "direct_kernel". Never throws.
std::string_view boot_mode_name(TdxBootMode mode) noexcept;
// "disk" / "direct_kernel" (also "kernel"); throws ErrorKind::usage otherwise.
TdxBootMode parse_boot_mode(std::string_view name);

// RTMR0 taken from a CCEL captured once on the target host + VM shape (see
// verify/ccel.hpp rtmr0_calibration_from_ccel): its MR index 1 events, digests only.
struct Rtmr0Calibration {
  std::vector<Event> events; // reg "rtmr0", index 0, sha384 digests
  std::string log_sha256;    // sha256 of the CCEL file they came from
};

struct TdxBootConfig {
  TdxBootMode mode = TdxBootMode::disk;
  bool secure_boot = false;
  // EV_EFI_GPT_EVENT data of the disk (disk/gpt.hpp gpt_event_data): required for disk boot.
  std::optional<Bytes> gpt_event_data;
  PageOrder page_order = PageOrder::single_pass;
  std::optional<Rtmr0Calibration> rtmr0_calibration; // none: RTMR0 reported unpinned
  std::string vm_shape;                              // label, e.g. "2cpu-2G" ("" = any)
  std::optional<int> stub_rules_override;            // as BootConfig::stub_rules_override
};

// The whole TDX prediction for one UKI + firmware + boot mode + VM shape.
struct TdxPrediction {
  std::string vm_shape;
  TdxBootMode mode = TdxBootMode::disk;
  int stub_rules_major = 0;
  std::optional<Sha384> mrtd; // nullopt: no firmware given
  PageOrder page_order = PageOrder::single_pass;
  std::string firmware_sha256; // "" without firmware
  bool rtmr0_pinned = false;   // true only with a calibration
  std::string rtmr0_source;    // "calibrated from <log sha256>" or "unpinned"
  // Pinned registers in order rtmr0 (only if calibrated), rtmr1, rtmr2, rtmr3; each with its
  // events and sha384 value. Pass these to verify::verify_ccel.
  std::vector<RegisterPrediction> registers;
  std::vector<std::string> notes; // assumptions and version cut-offs that applied
  // The register "rtmr<n>", or nullptr if not predicted (RTMR0 unpinned).
  const RegisterPrediction* find(int rtmr) const noexcept;
};

// Constant RTMR1 boot-path events (edk2 TdTcg2Dxe): EV_EFI_ACTION "Calling EFI Application
// from Boot Option", EV_SEPARATOR 00000000, EV_EFI_ACTION "Exit Boot Services Invocation",
// EV_EFI_ACTION "Exit Boot Services Returned with Success".

// RTMR1 events (reference §2.3). Disk: Calling, separator, GPT event, Authenticode(UKI),
// [Authenticode(.linux)], EBS invocation, EBS success. Direct: Authenticode(UKI), Calling,
// separator, [Authenticode(.linux)], EBS x2. [.linux] when stub <= 257, no Secure Boot and
// kernel EFI stub >= 1.0 (as pcr4_events). Throws ErrorKind::input if the UKI input lacks a
// sha384 Authenticode digest or disk boot has no GPT event data.
std::vector<Event> rtmr1_events(const UkiMeasureInput& uki, int stub_major,
                                const TdxBootConfig& config);

// RTMR2 events (reference §2.4): systemd-stub >= 256 section measurements (PCR 11 rules) in
// execution order, then the Linux EFI stub's LoadOptions and initrd (PCR 9 rules) when the
// kernel (from .uname) is >= 6.9 or unknown. Appends to `notes` what is not measured on this
// stack (e.g. stub 252 + Linux 6.1: nothing; RTMR2 stays zero). Throws like pcr11_events.
std::vector<Event> rtmr2_events(const UkiMeasureInput& uki, int stub_major,
                                std::vector<std::string>& notes);

// The full prediction. `firmware` empty: no MRTD. Throws ErrorKind::unsupported for a stub
// outside 252..258 without override, ErrorKind::input for malformed firmware metadata or
// missing digests (see above).
TdxPrediction predict_tdx(const UkiMeasureInput& uki, ByteSpan firmware,
                          const TdxBootConfig& config);

} // namespace tdximg::measure
