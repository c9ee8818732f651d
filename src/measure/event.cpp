// Event model, replay and JSON. Extend rule: TPM 2.0 Part 1 §17.2 (PCR_Extend:
// PCR_new = H(PCR_old || digest)); TDX RTMR extend is the same with SHA-384 (TDX module ABI
// TDG.MR.RTMR.EXTEND).

#include <tdximg/measure/event.hpp>

#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::measure {

std::string event_type_name(std::uint32_t type) {
  switch (type) {
  case 0x00000000: return "EV_PREBOOT_CERT";
  case ev::k_post_code: return "EV_POST_CODE";
  case 0x00000002: return "EV_UNUSED";
  case ev::k_no_action: return "EV_NO_ACTION";
  case ev::k_separator: return "EV_SEPARATOR";
  case ev::k_action: return "EV_ACTION";
  case ev::k_event_tag: return "EV_EVENT_TAG";
  case ev::k_s_crtm_contents: return "EV_S_CRTM_CONTENTS";
  case 0x00000008: return "EV_S_CRTM_VERSION";
  case 0x00000009: return "EV_CPU_MICROCODE";
  case 0x0000000A: return "EV_PLATFORM_CONFIG_FLAGS";
  case 0x0000000B: return "EV_TABLE_OF_DEVICES";
  case 0x0000000C: return "EV_COMPACT_HASH";
  case ev::k_ipl: return "EV_IPL";
  case 0x0000000E: return "EV_IPL_PARTITION_DATA";
  case 0x0000000F: return "EV_NONHOST_CODE";
  case 0x00000010: return "EV_NONHOST_CONFIG";
  case 0x00000011: return "EV_NONHOST_INFO";
  case 0x00000012: return "EV_OMIT_BOOT_DEVICE_EVENTS";
  case ev::k_efi_variable_driver_config: return "EV_EFI_VARIABLE_DRIVER_CONFIG";
  case ev::k_efi_variable_boot: return "EV_EFI_VARIABLE_BOOT";
  case ev::k_efi_boot_services_application: return "EV_EFI_BOOT_SERVICES_APPLICATION";
  case ev::k_efi_boot_services_driver: return "EV_EFI_BOOT_SERVICES_DRIVER";
  case 0x80000005: return "EV_EFI_RUNTIME_SERVICES_DRIVER";
  case ev::k_efi_gpt_event: return "EV_EFI_GPT_EVENT";
  case ev::k_efi_action: return "EV_EFI_ACTION";
  case ev::k_efi_platform_firmware_blob: return "EV_EFI_PLATFORM_FIRMWARE_BLOB";
  case ev::k_efi_handoff_tables: return "EV_EFI_HANDOFF_TABLES";
  case 0x8000000A: return "EV_EFI_PLATFORM_FIRMWARE_BLOB2";
  case 0x8000000B: return "EV_EFI_HANDOFF_TABLES2";
  case 0x8000000C: return "EV_EFI_VARIABLE_BOOT2";
  case 0x80000010: return "EV_EFI_HCRTM_EVENT";
  case ev::k_efi_variable_authority: return "EV_EFI_VARIABLE_AUTHORITY";
  case 0x800000E1: return "EV_EFI_SPDM_FIRMWARE_BLOB";
  case 0x800000E2: return "EV_EFI_SPDM_FIRMWARE_CONFIG";
  default: return fmt::format("EV_0x{:08x}", type);
  }
}

std::string pcr_name(int index) { return fmt::format("pcr{}", index); }
std::string rtmr_name(int index) { return fmt::format("rtmr{}", index); }

int cc_mr_index_for_pcr(int pcr) {
  if (pcr == 0) return 0;
  if (pcr == 1 || pcr == 7) return 1;
  if (pcr >= 2 && pcr <= 6) return 2;
  if (pcr >= 8 && pcr <= 15) return 3;
  fail(ErrorKind::input, "PCR {} has no TDX measurement register (UEFI MapPcrToMrIndex)", pcr);
}

std::optional<int> rtmr_for_pcr(int pcr) {
  const int mr = cc_mr_index_for_pcr(pcr);
  if (mr == 0) return std::nullopt;
  return mr - 1;
}

Event hashed_event(std::string reg, int index, std::uint32_t type, ByteSpan data,
                   std::span<const HashAlg> banks, std::string description,
                   std::string source) {
  Event e;
  e.reg = std::move(reg);
  e.index = index;
  e.type = type;
  for (HashAlg alg : banks) e.digests[alg] = hash(alg, data);
  e.description = std::move(description);
  e.source = std::move(source);
  return e;
}

DigestMap replay(std::span<const Event> events, std::span<const HashAlg> banks) {
  DigestMap values;
  for (HashAlg alg : banks) {
    Bytes v(digest_size(alg), 0);
    std::size_t n = 0;
    for (const Event& e : events) {
      if (e.type == ev::k_no_action) {
        ++n;
        continue;
      }
      const auto it = e.digests.find(alg);
      if (it == e.digests.end())
        fail(ErrorKind::input, "{} event {} '{}': no {} digest", e.reg, n, e.description,
             hash_name(alg));
      if (it->second.size() != digest_size(alg))
        fail(ErrorKind::input, "{} event {} '{}': {} digest has {} bytes, expected {}", e.reg,
             n, e.description, hash_name(alg), it->second.size(), digest_size(alg));
      v = extend(alg, v, it->second);
      ++n;
    }
    values[alg] = std::move(v);
  }
  return values;
}

RegisterPrediction make_prediction(std::string reg, int index, std::vector<Event> events,
                                   std::span<const HashAlg> banks, bool verified_platform,
                                   std::string note) {
  RegisterPrediction p;
  p.reg = std::move(reg);
  p.index = index;
  p.values = replay(events, banks);
  p.events = std::move(events);
  p.verified_platform = verified_platform;
  p.note = std::move(note);
  return p;
}

nlohmann::json to_json(const DigestMap& digests) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [alg, value] : digests) j[std::string(hash_name(alg))] = to_hex(value);
  return j;
}

nlohmann::json to_json(const Event& event) {
  return nlohmann::json{{"reg", event.reg},
                        {"index", event.index},
                        {"type", event.type},
                        {"type_name", event_type_name(event.type)},
                        {"digests", to_json(event.digests)},
                        {"description", event.description},
                        {"source", event.source}};
}

nlohmann::json to_json(const RegisterPrediction& prediction) {
  nlohmann::json events = nlohmann::json::array();
  for (const Event& e : prediction.events) events.push_back(to_json(e));
  return nlohmann::json{{"reg", prediction.reg},
                        {"index", prediction.index},
                        {"events", std::move(events)},
                        {"values", to_json(prediction.values)},
                        {"verified_platform", prediction.verified_platform},
                        {"note", prediction.note}};
}

namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, std::string_view what) {
  if (!j.is_object()) fail(ErrorKind::input, "{}: not a JSON object", what);
  const auto it = j.find(key);
  if (it == j.end()) fail(ErrorKind::input, "{}: missing field \"{}\"", what, key);
  return *it;
}

std::string string_field(const nlohmann::json& j, const char* key, std::string_view what) {
  const auto& v = field(j, key, what);
  if (!v.is_string()) fail(ErrorKind::input, "{}: field \"{}\" is not a string", what, key);
  return v.get<std::string>();
}

std::int64_t int_field(const nlohmann::json& j, const char* key, std::string_view what,
                       std::int64_t lo, std::int64_t hi) {
  const auto& v = field(j, key, what);
  if (!v.is_number_integer())
    fail(ErrorKind::input, "{}: field \"{}\" is not an integer", what, key);
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) fail(ErrorKind::input, "{}: field \"{}\" = {} out of range", what, key, x);
  return x;
}

} // namespace

DigestMap digests_from_json(const nlohmann::json& j, std::string_view what) {
  if (!j.is_object()) fail(ErrorKind::input, "{}: digests are not a JSON object", what);
  DigestMap out;
  for (const auto& [name, value] : j.items()) {
    const HashAlg alg = parse_hash_name(name);
    if (!value.is_string())
      fail(ErrorKind::input, "{}: digest \"{}\" is not a string", what, name);
    Bytes d = from_hex(value.get<std::string>(), fmt::format("{}: digest \"{}\"", what, name));
    if (d.size() != digest_size(alg))
      fail(ErrorKind::input, "{}: digest \"{}\" has {} bytes, expected {}", what, name, d.size(),
           digest_size(alg));
    out[alg] = std::move(d);
  }
  return out;
}

Event event_from_json(const nlohmann::json& j) {
  const std::string what = "event";
  Event e;
  e.reg = string_field(j, "reg", what);
  e.index = static_cast<int>(int_field(j, "index", what, 0, 1 << 20));
  e.type = static_cast<std::uint32_t>(int_field(j, "type", what, 0, 0xFFFFFFFFLL));
  e.digests = digests_from_json(field(j, "digests", what), what + " " + e.reg);
  e.description = string_field(j, "description", what);
  e.source = string_field(j, "source", what);
  return e;
}

RegisterPrediction prediction_from_json(const nlohmann::json& j) {
  const std::string what = "register prediction";
  RegisterPrediction p;
  p.reg = string_field(j, "reg", what);
  p.index = static_cast<int>(int_field(j, "index", what, 0, 1 << 20));
  const auto& events = field(j, "events", what);
  if (!events.is_array()) fail(ErrorKind::input, "{} {}: \"events\" is not an array", what, p.reg);
  for (const auto& e : events) p.events.push_back(event_from_json(e));
  p.values = digests_from_json(field(j, "values", what), what + " " + p.reg);
  const auto& vp = field(j, "verified_platform", what);
  if (!vp.is_boolean())
    fail(ErrorKind::input, "{} {}: \"verified_platform\" is not a boolean", what, p.reg);
  p.verified_platform = vp.get<bool>();
  p.note = string_field(j, "note", what);
  return p;
}

} // namespace tdximg::measure
