#pragma once
// Parser for TCG2 event logs: the TCG PC Client crypto-agile format (Linux securityfs
// binary_bios_measurements, TDX CCEL) and the legacy SHA1-only format.
// Spec: TCG PC Client Platform Firmware Profile 1.05 §10.2.1 TCG_PCR_EVENT,
// §10.2.2 TCG_PCR_EVENT2, §10.4.5.1 TCG_EfiSpecIDEvent. Input is untrusted: every size is
// checked before use.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::verify {

enum class LogFormat {
  crypto_agile, // TCG_PCR_EVENT header with "Spec ID Event03", then TCG_PCR_EVENT2 records
  sha1_legacy,  // TCG_PCR_EVENT records only (no Spec ID event, or "Spec ID Event00")
};

// An algorithm announced by the Spec ID event (the TPM's algId and digest size).
struct LogAlgorithm {
  std::uint16_t alg_id = 0;
  std::uint16_t digest_size = 0;
};

struct LogEvent {
  std::uint32_t index = 0;  // PCRIndex (for a CCEL: the CC MR index, 1 = RTMR0 ...)
  std::uint32_t type = 0;   // EventType (untrusted)
  std::map<HashAlg, Bytes> digests; // known algorithms only (sha1/256/384/512)
  Bytes data;               // Event[EventSize] (untrusted)
  std::uint64_t offset = 0; // offset of the record in the log
};

struct EventLog {
  LogFormat format = LogFormat::crypto_agile;
  std::vector<LogAlgorithm> algorithms; // from the Spec ID event (sha1 only for legacy)
  std::vector<HashAlg> banks;           // known algorithms among them
  std::uint8_t locality = 0;            // from a "StartupLocality" EV_NO_ACTION event, if any
  std::vector<LogEvent> events;         // excludes the header (Spec ID) event
  std::uint64_t padding_bytes = 0;      // all-0x00/0xFF tail accepted as end of log
};

// Parses a whole log. `name` prefixes error messages. Throws ErrorKind::input naming the
// record, field and offset for any malformed or truncated record, an empty log, a digest
// algorithm not announced by the Spec ID event, or a digest count above its algorithm count.
EventLog parse_tcg2_log(ByteSpan data, const std::string& name = "event log");

} // namespace tdximg::verify
