// TCG2 event log parser.
// Spec: TCG PC Client Platform Firmware Profile Specification 1.05 rev 23:
//  §10.2.1 TCG_PCR_EVENT (SHA1 "legacy" record: PCRIndex, EventType, Digest[20], EventSize,
//          Event), §10.2.2 TCG_PCR_EVENT2 (PCRIndex, EventType, TPML_DIGEST_VALUES{count,
//          {AlgId, digest}*}, EventSize, Event), §10.4.5.1 TCG_EfiSpecIDEvent
//          ("Spec ID Event03\0", platformClass, versions, uintnSize, numberOfAlgorithms,
//          {algorithmId, digestSize}*, vendorInfoSize, vendorInfo), §10.4.5.3
//          StartupLocality (EV_NO_ACTION "StartupLocality\0" + u8 locality).
// The same layout is used by the TDX CCEL table (PCRIndex is the CC MR index there).
// Every size and count is checked against the remaining bytes before use.

#include <tdximg/verify/tcg2_log.hpp>

#include <algorithm>
#include <cstring>
#include <optional>

#include <tdximg/util/error.hpp>

namespace tdximg::verify {

namespace {

constexpr std::uint32_t k_ev_no_action = 0x00000003;
constexpr std::uint64_t k_max_algorithms = 16; // TPM2_NUM_PCR_BANKS in the TSS headers
constexpr char k_spec_id_03[16] = "Spec ID Event03";
constexpr char k_spec_id_00[16] = "Spec ID Event00";
constexpr char k_startup_locality[16] = "StartupLocality";

std::optional<HashAlg> alg_from_tpm_id(std::uint16_t id) {
  for (HashAlg a : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha384, HashAlg::sha512})
    if (tpm_alg_id(a) == id) return a;
  return std::nullopt;
}

bool starts_with(ByteSpan data, const char (&sig)[16]) {
  return data.size() >= 16 && std::memcmp(data.data(), sig, 16) == 0;
}

// CCEL regions may be followed by 0xFF (erased flash) or 0x00 padding up to their length.
bool is_padding(ByteSpan tail) {
  return !tail.empty() &&
         std::all_of(tail.begin(), tail.end(), [](std::uint8_t b) { return b == 0 || b == 0xFF; });
}

void parse_spec_id(ByteReader r, EventLog& log) {
  r.skip(16, "Spec ID event signature");
  r.u32le("Spec ID event platformClass");
  r.u8("Spec ID event specVersionMinor");
  r.u8("Spec ID event specVersionMajor");
  r.u8("Spec ID event specErrata");
  r.u8("Spec ID event uintnSize");
  const std::uint32_t n = r.u32le("Spec ID event numberOfAlgorithms");
  if (n == 0 || n > k_max_algorithms)
    r.error("Spec ID event numberOfAlgorithms",
            fmt::format("{} algorithms (expected 1..{})", n, k_max_algorithms));
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string what = fmt::format("Spec ID event algorithm {}", i);
    LogAlgorithm a;
    a.alg_id = r.u16le(what + " algorithmId");
    a.digest_size = r.u16le(what + " digestSize");
    if (a.digest_size == 0)
      r.error(what + " digestSize", fmt::format("zero size for algorithm 0x{:04x}", a.alg_id));
    for (const LogAlgorithm& b : log.algorithms)
      if (b.alg_id == a.alg_id)
        r.error(what, fmt::format("algorithm 0x{:04x} listed twice", a.alg_id));
    if (const auto alg = alg_from_tpm_id(a.alg_id)) {
      if (a.digest_size != digest_size(*alg))
        r.error(what + " digestSize", fmt::format("{} for {} (expected {})", a.digest_size,
                                                  hash_name(*alg), digest_size(*alg)));
      log.banks.push_back(*alg);
    }
    log.algorithms.push_back(a);
  }
  const std::uint8_t vendor = r.u8("Spec ID event vendorInfoSize");
  r.skip(vendor, "Spec ID event vendorInfo");
}

void note_startup_locality(const LogEvent& e, EventLog& log) {
  if (e.type == k_ev_no_action && e.index == 0 && e.data.size() >= 17 &&
      starts_with(e.data, k_startup_locality))
    log.locality = e.data[16];
}

} // namespace

EventLog parse_tcg2_log(ByteSpan data, const std::string& name) {
  if (data.empty()) fail(ErrorKind::input, "{}: empty event log", name);
  if (is_padding(data))
    fail(ErrorKind::input, "{}: no events (only 0x00/0xFF padding, {} bytes)", name, data.size());
  ByteReader r(data, name);
  EventLog log;

  // The first record is always a TCG_PCR_EVENT (SHA1 layout).
  LogEvent first;
  first.offset = r.offset();
  first.index = r.u32le("event 0 PCRIndex");
  first.type = r.u32le("event 0 EventType");
  const ByteSpan first_digest = r.bytes(20, "event 0 SHA1 digest");
  const std::uint32_t first_size = r.u32le("event 0 EventSize");
  const std::uint64_t first_data_at = r.offset();
  const ByteSpan first_payload = r.bytes(first_size, "event 0 Event");
  first.data.assign(first_payload.begin(), first_payload.end());

  const bool spec_id = first.type == k_ev_no_action && first.index == 0;
  if (spec_id && starts_with(first.data, k_spec_id_03)) {
    log.format = LogFormat::crypto_agile;
    parse_spec_id(r.sub(first_data_at, first_size, "Spec ID event"), log);
  } else {
    log.format = LogFormat::sha1_legacy;
    log.algorithms = {{tpm_alg_id(HashAlg::sha1), 20}};
    log.banks = {HashAlg::sha1};
    if (!(spec_id && starts_with(first.data, k_spec_id_00))) {
      // No Spec ID header: the first record is an ordinary measurement.
      first.digests[HashAlg::sha1] = Bytes(first_digest.begin(), first_digest.end());
      note_startup_locality(first, log);
      log.events.push_back(std::move(first));
    }
  }

  for (std::size_t n = 1; !r.at_end(); ++n) {
    const ByteSpan tail = data.subspan(static_cast<std::size_t>(r.offset()));
    if (is_padding(tail)) {
      log.padding_bytes = tail.size();
      break;
    }
    LogEvent e;
    e.offset = r.offset();
    const std::string what = fmt::format("event {}", n);
    e.index = r.u32le(what + " PCRIndex");
    e.type = r.u32le(what + " EventType");
    if (log.format == LogFormat::sha1_legacy) {
      const ByteSpan d = r.bytes(20, what + " SHA1 digest");
      e.digests[HashAlg::sha1] = Bytes(d.begin(), d.end());
    } else {
      const std::uint32_t count = r.u32le(what + " digest count");
      if (count == 0 || count > log.algorithms.size())
        r.error(what + " digest count",
                fmt::format("{} digests, but the Spec ID event lists {} algorithms", count,
                            log.algorithms.size()));
      std::vector<std::uint16_t> seen;
      for (std::uint32_t i = 0; i < count; ++i) {
        const std::string dwhat = fmt::format("{} digest {}", what, i);
        const std::uint16_t id = r.u16le(dwhat + " AlgId");
        const auto it = std::find_if(log.algorithms.begin(), log.algorithms.end(),
                                     [id](const LogAlgorithm& a) { return a.alg_id == id; });
        if (it == log.algorithms.end())
          r.error(dwhat + " AlgId",
                  fmt::format("algorithm 0x{:04x} is not in the Spec ID event", id));
        if (std::find(seen.begin(), seen.end(), id) != seen.end())
          r.error(dwhat + " AlgId", fmt::format("algorithm 0x{:04x} appears twice", id));
        seen.push_back(id);
        const ByteSpan d = r.bytes(it->digest_size, dwhat);
        if (const auto alg = alg_from_tpm_id(id)) e.digests[*alg] = Bytes(d.begin(), d.end());
      }
    }
    const std::uint32_t size = r.u32le(what + " EventSize");
    const ByteSpan payload = r.bytes(size, what + " Event");
    e.data.assign(payload.begin(), payload.end());
    note_startup_locality(e, log);
    log.events.push_back(std::move(e));
  }
  return log;
}

} // namespace tdximg::verify
