#pragma once
// Predicted measurement events and their replay. A prediction is an ordered event list per
// register ("pcr4", "rtmr1", ...); the register value is the replay of that list from zero.
// The same machinery serves TPM PCRs (sha256/sha384 banks) and TDX RTMRs (sha384 only).
// Spec: TCG PC Client Platform Firmware Profile (PFP) 1.05, §10.4.1 (event types), and
// UEFI 2.10 §38.4.1 (MapPcrToMrIndex) for the PCR -> RTMR mapping.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::measure {

// One digest per bank (hash algorithm).
using DigestMap = std::map<HashAlg, Bytes>;

// TCG PFP event types (EV_*) used by tdximg.
namespace ev {
inline constexpr std::uint32_t k_post_code = 0x00000001;
inline constexpr std::uint32_t k_no_action = 0x00000003;
inline constexpr std::uint32_t k_separator = 0x00000004;
inline constexpr std::uint32_t k_action = 0x00000005;
inline constexpr std::uint32_t k_event_tag = 0x00000006;
inline constexpr std::uint32_t k_s_crtm_contents = 0x00000007;
inline constexpr std::uint32_t k_ipl = 0x0000000D;
inline constexpr std::uint32_t k_efi_variable_driver_config = 0x80000001;
inline constexpr std::uint32_t k_efi_variable_boot = 0x80000002;
inline constexpr std::uint32_t k_efi_boot_services_application = 0x80000003;
inline constexpr std::uint32_t k_efi_boot_services_driver = 0x80000004;
inline constexpr std::uint32_t k_efi_gpt_event = 0x80000006;
inline constexpr std::uint32_t k_efi_action = 0x80000007;
inline constexpr std::uint32_t k_efi_platform_firmware_blob = 0x80000008;
inline constexpr std::uint32_t k_efi_handoff_tables = 0x80000009;
inline constexpr std::uint32_t k_efi_variable_authority = 0x800000E0;
} // namespace ev

// "EV_EFI_ACTION" etc. for a known type, "EV_0x........" otherwise. Never throws.
std::string event_type_name(std::uint32_t type);

// One predicted measurement: which register, what type, the digest per bank, and why.
struct Event {
  std::string reg;       // "pcr4", "rtmr1": register family + index
  int index = 0;         // register index within its family (PCR number, RTMR number)
  std::uint32_t type = 0; // EV_* (informational only: verify never trusts types)
  DigestMap digests;     // bank -> digest extended into the register
  std::string description; // "Authenticode of uki.efi", "section .cmdline"
  std::string source;    // the rule that produced it, e.g. "edk2 Tcg2Dxe OnReadyToBoot"
  bool operator==(const Event&) const = default;
};

// The prediction for one register: its events in order and their replay from zero.
struct RegisterPrediction {
  std::string reg;         // "pcr11", "rtmr2"
  int index = 0;
  std::vector<Event> events;
  DigestMap values;        // replay of `events` from zero, per bank
  bool verified_platform = true; // false: the rules were not checked against a boot
  std::string note;        // e.g. why a register is expected to stay zero
  bool operator==(const RegisterPrediction&) const = default;
};

// Register names: "pcr<N>" / "rtmr<N>".
std::string pcr_name(int index);
std::string rtmr_name(int index);

// UEFI 2.10 §38.4.1 MapPcrToMrIndex for TDX: PCR 0 -> 0 (MRTD), 1,7 -> 1 (RTMR0),
// 2..6 -> 2 (RTMR1), 8..15 -> 3 (RTMR2). Throws ErrorKind::input for other PCRs.
int cc_mr_index_for_pcr(int pcr);
// The RTMR number (0..3) a PCR's events land in on TDX, or nullopt for PCR 0 (MRTD).
// Throws ErrorKind::input for PCRs > 15 or < 0.
std::optional<int> rtmr_for_pcr(int pcr);

// An event whose digest per bank is H_bank(data) (the firmware/stub hashes the data itself).
Event hashed_event(std::string reg, int index, std::uint32_t type, ByteSpan data,
                   std::span<const HashAlg> banks, std::string description,
                   std::string source);

// Replays `events` from an all-zero register: v = H(v || digest) per bank. EV_NO_ACTION
// events are not extended. Throws ErrorKind::input if an event lacks a bank's digest or a
// digest has the wrong size.
DigestMap replay(std::span<const Event> events, std::span<const HashAlg> banks);

// Builds a RegisterPrediction (values = replay(events, banks)). Throws like replay().
RegisterPrediction make_prediction(std::string reg, int index, std::vector<Event> events,
                                   std::span<const HashAlg> banks, bool verified_platform = true,
                                   std::string note = {});

// JSON with lowercase hex digests keyed by bank name; keys sorted (deterministic output).
// Event: {"reg","index","type","type_name","digests":{"sha256":hex,..},"description","source"}.
// RegisterPrediction: {"reg","index","events":[..],"values":{..},"verified_platform","note"}.
nlohmann::json to_json(const Event& event);
nlohmann::json to_json(const RegisterPrediction& prediction);
nlohmann::json to_json(const DigestMap& digests);
// Inverse of to_json; throws ErrorKind::input naming the missing/bad field.
Event event_from_json(const nlohmann::json& j);
RegisterPrediction prediction_from_json(const nlohmann::json& j);
DigestMap digests_from_json(const nlohmann::json& j, std::string_view what);

} // namespace tdximg::measure
