// TDX RTMR prediction for a UKI on TDVF. Rules: /work/shared/reference/tdx-measurements.md
//  - mapping: UEFI 2.10 §38.4.1 MapPcrToMrIndex (PCR 2..6 -> RTMR1, 8..15 -> RTMR2);
//  - RTMR1 (§2.3): edk2 TdTcg2Dxe OnReadyToBoot / OnExitBootServices events and the
//    DxeTpm2MeasureBootLib image + GPT measurements, in disk (BDS) and -kernel order;
//  - RTMR2 (§2.4): systemd-stub >= 256 measures through EFI_CC_MEASUREMENT_PROTOCOL (PR
//    #30996), the Linux EFI stub falls back to it from 6.9; the event content is the PCR 11 /
//    PCR 9 rules of pcr.hpp, reused here with the sha384 bank;
//  - RTMR0 (§2.2): VM-shape dependent, taken from a calibration CCEL, else unpinned;
//  - RTMR3 (§2.5): zero at boot.

#include <array>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::measure {

namespace {

constexpr std::array<HashAlg, 1> k_banks{HashAlg::sha384};
constexpr std::string_view k_ebs_invocation = "Exit Boot Services Invocation";
constexpr std::string_view k_ebs_success = "Exit Boot Services Returned with Success";
constexpr int k_cc_stub_major = 256;             // first systemd-stub measuring via CC
constexpr std::pair<int, int> k_cc_kernel{6, 9}; // first Linux whose EFI stub does

// "6.12.57+deb13-amd64" -> {6, 12}; nullopt if it does not start with N.N.
std::optional<std::pair<int, int>> kernel_version(std::string_view uname) {
  std::array<int, 2> v{0, 0};
  std::size_t i = 0;
  for (std::size_t k = 0; k < 2; ++k) {
    const std::size_t start = i;
    while (i < uname.size() && uname[i] >= '0' && uname[i] <= '9' && i - start < 6)
      v[k] = v[k] * 10 + (uname[i++] - '0');
    if (i == start) return std::nullopt;
    if (k == 0) {
      if (i >= uname.size() || uname[i] != '.') return std::nullopt;
      ++i;
    }
  }
  return std::pair{v[0], v[1]};
}

Event relabel(Event e, int rtmr) {
  e.reg = rtmr_name(rtmr);
  e.index = rtmr;
  return e;
}

Event constant_event(int rtmr, std::uint32_t type, std::string_view data, std::string description,
                     std::string source) {
  return hashed_event(rtmr_name(rtmr), rtmr, type, as_bytes(data), k_banks, std::move(description),
                      std::move(source));
}

} // namespace

std::string_view boot_mode_name(TdxBootMode mode) noexcept {
  return mode == TdxBootMode::direct_kernel ? "direct_kernel" : "disk";
}

TdxBootMode parse_boot_mode(std::string_view name) {
  if (name == "disk") return TdxBootMode::disk;
  if (name == "direct_kernel" || name == "kernel") return TdxBootMode::direct_kernel;
  fail(ErrorKind::usage, "unknown TDX boot mode '{}' (expected disk or direct_kernel)", name);
}

const RegisterPrediction* TdxPrediction::find(int rtmr) const noexcept {
  for (const RegisterPrediction& r : registers)
    if (r.index == rtmr && r.reg == rtmr_name(rtmr)) return &r;
  return nullptr;
}

std::vector<Event> rtmr1_events(const UkiMeasureInput& uki, int stub_major,
                                const TdxBootConfig& config) {
  // The PCR 4 rules give: [Calling, separator, Authenticode(UKI), (Authenticode(.linux))];
  // on TDX they land in RTMR1 (PCR 4 -> MR index 2) with the sha384 bank.
  std::vector<Event> pcr4 = pcr4_events(uki, stub_major, config.secure_boot, k_banks);
  if (pcr4.size() < 3)
    fail(ErrorKind::internal, "pcr4_events returned {} events, expected >= 3", pcr4.size());
  std::vector<Event> out;
  if (config.mode == TdxBootMode::disk) {
    // BDS: ReadyToBoot (Calling, separator) before LoadImage; LoadImage of the first image
    // from a GPT disk measures EV_EFI_GPT_EVENT (PCR 5) and then the PE image (PCR 4).
    if (!config.gpt_event_data)
      fail(ErrorKind::input, "TDX disk boot: RTMR1 needs the disk's EV_EFI_GPT_EVENT data");
    out.push_back(relabel(pcr4[0], 1));
    out.push_back(relabel(pcr4[1], 1));
    out.push_back(hashed_event(rtmr_name(1), 1, ev::k_efi_gpt_event, *config.gpt_event_data,
                               k_banks, "GPT of the boot disk (UEFI_GPT_DATA)",
                               "edk2 DxeTpm2MeasureBootLib Tcg2MeasureGptTable"));
    for (std::size_t i = 2; i < pcr4.size(); ++i)
      out.push_back(relabel(pcr4[i], 1));
  } else {
    // -kernel: QemuLoadImageLib LoadImage()s the blob first, ReadyToBoot follows.
    out.push_back(relabel(pcr4[2], 1));
    out.push_back(relabel(pcr4[0], 1));
    out.push_back(relabel(pcr4[1], 1));
    for (std::size_t i = 3; i < pcr4.size(); ++i)
      out.push_back(relabel(pcr4[i], 1));
  }
  // OnExitBootServices / OnExitBootServicesFailed: EV_EFI_ACTION into PCR 5 -> RTMR1.
  out.push_back(constant_event(1, ev::k_efi_action, k_ebs_invocation, std::string(k_ebs_invocation),
                               "edk2 TdTcg2Dxe OnExitBootServices"));
  out.push_back(constant_event(1, ev::k_efi_action, k_ebs_success, std::string(k_ebs_success),
                               "edk2 TdTcg2Dxe OnExitBootServices"));
  return out;
}

std::vector<Event> rtmr2_events(const UkiMeasureInput& uki, int stub_major,
                                std::vector<std::string>& notes) {
  std::vector<Event> out;
  const bool stub_cc = stub_major >= k_cc_stub_major;
  if (stub_cc) {
    // measure_sections(): PCR 11 -> RTMR2 (stub runs before the kernel).
    std::vector<Event> sections = pcr11_events(uki, stub_major, k_banks, rtmr_name(2), 2);
    out.insert(out.end(), sections.begin(), sections.end());
  } else {
    notes.push_back(fmt::format(
        "RTMR2: systemd-stub {} does not measure through the CC protocol (needs >= {}): its "
        "UKI section measurements (PCR 11) are not in RTMR2 on this stack",
        stub_major, k_cc_stub_major));
  }
  const auto kver = kernel_version(uki.uname);
  const bool kernel_cc = !kver || *kver >= k_cc_kernel;
  if (!kver)
    notes.push_back("RTMR2: kernel release unknown (no .uname): assumed Linux >= 6.9, whose EFI "
                    "stub measures LoadOptions and the initrd through the CC protocol");
  if (kernel_cc) {
    std::vector<Event> kernel = pcr9_events(uki, stub_major, k_banks, rtmr_name(2), 2);
    out.insert(out.end(), kernel.begin(), kernel.end());
  } else {
    notes.push_back(
        fmt::format("RTMR2: Linux {} measures LoadOptions and the initrd only through TCG2 (the CC "
                    "protocol fallback came with 6.9): not measured on this stack",
                    uki.uname));
  }
  if (!stub_cc && !kernel_cc)
    notes.push_back(fmt::format(
        "RTMR2 stays all zero with systemd-stub {} and Linux {}: nothing in the UKI is "
        "measured into a TDX register after the firmware; use the trixie stack (systemd-stub "
        ">= 256, Linux >= 6.9) for TDX",
        stub_major, uki.uname));
  return out;
}

TdxPrediction predict_tdx(const UkiMeasureInput& uki, ByteSpan firmware,
                          const TdxBootConfig& config) {
  TdxPrediction p;
  p.vm_shape = config.vm_shape;
  p.mode = config.mode;
  p.page_order = config.page_order;
  BootConfig pcr_config;
  pcr_config.stub_rules_override = config.stub_rules_override;
  p.stub_rules_major = stub_rules_major(uki, pcr_config);
  const int major = p.stub_rules_major;

  // MRTD from the firmware's TDX metadata (independent of the UKI and the VM shape on QEMU).
  if (!firmware.empty()) {
    p.mrtd = compute_mrtd(firmware, config.page_order);
    p.firmware_sha256 = sha256_hex(firmware);
  } else {
    p.notes.push_back("MRTD: no firmware given, not predicted");
  }

  // RTMR0: calibrated from a real CCEL of this host + VM shape, else unpinned.
  if (config.rtmr0_calibration) {
    std::vector<Event> events;
    for (const Event& e : config.rtmr0_calibration->events)
      events.push_back(relabel(e, 0));
    p.rtmr0_pinned = true;
    p.rtmr0_source = "calibrated from " + config.rtmr0_calibration->log_sha256;
    p.registers.push_back(make_prediction(rtmr_name(0), 0, std::move(events), k_banks, true,
                                          "RTMR0 " + p.rtmr0_source));
  } else {
    p.rtmr0_source = "unpinned";
    p.notes.push_back("RTMR0: unpinned (depends on the VM shape: memory, vCPUs, devices, QEMU "
                      "version, firmware variables); calibrate it from a CCEL captured once on "
                      "the target host and VM shape");
  }

  // RTMR1: firmware boot-application events.
  p.registers.push_back(make_prediction(
      rtmr_name(1), 1, rtmr1_events(uki, major, config), k_banks, false,
      config.mode == TdxBootMode::disk ? "disk boot (BDS), UKI as \\EFI\\BOOT\\BOOTX64.EFI"
                                       : "QEMU -kernel (no -append), unpatched UKI"));
  if (config.mode == TdxBootMode::direct_kernel)
    p.notes.push_back("RTMR1: assumes QEMU does not patch the -kernel blob (no patching for "
                      "confidential guests in current QEMU; UKIs unpatched since 9.2)");
  if (major <= 257 && !config.secure_boot && uki.kernel_efi_major >= 1)
    p.notes.push_back(fmt::format(
        "RTMR1: systemd-stub {} LoadImage()s .linux without Secure Boot, so its Authenticode "
        "is predicted in RTMR1 (open question for some 257 builds on TDX; calibrate with a CCEL)",
        major));

  // RTMR2: systemd-stub and Linux EFI stub, in execution order.
  std::vector<std::string> notes;
  std::vector<Event> rtmr2 = rtmr2_events(uki, major, notes);
  const std::string rtmr2_note = rtmr2.empty() ? "all zero on this stack" : "";
  p.registers.push_back(
      make_prediction(rtmr_name(2), 2, std::move(rtmr2), k_banks, false, rtmr2_note));
  p.notes.insert(p.notes.end(), notes.begin(), notes.end());
  if (major >= k_cc_stub_major)
    p.notes.push_back("RTMR2: assumes no PCR 12/13 events (no -append/LoadOptions override, no "
                      "addons, credentials or sysexts on the ESP, no SMBIOS type 11 cmdline "
                      "extras)");

  // RTMR3: only userspace extends it.
  p.registers.push_back(make_prediction(rtmr_name(3), 3, {}, k_banks, true,
                                        "zero at boot; extended only by userspace"));
  return p;
}

} // namespace tdximg::measure
