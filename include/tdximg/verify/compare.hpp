#pragma once
// Compares predicted register event lists with an event log (and optionally quoted register
// values). Only digests are trusted: event types and data in the log are shown, never used
// to decide. A mismatch is a result (a report), not an exception.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/measure/event.hpp>
#include <tdximg/verify/replay.hpp>
#include <tdximg/verify/tcg2_log.hpp>

namespace tdximg::verify {

enum class FindingKind {
  digest_mismatch, // event N differs in a bank
  missing_event,   // the log has fewer events than predicted
  extra_event,     // the log has more events than predicted
  missing_bank,    // a predicted bank is not in the log
  value_mismatch,  // the replayed log differs from the predicted value
  quote_mismatch,  // the replayed log differs from the quoted value
};
std::string_view finding_kind_name(FindingKind k);

struct Finding {
  FindingKind kind = FindingKind::digest_mismatch;
  int event_number = -1;            // 0-based within the register (-1: whole register)
  std::optional<HashAlg> alg;
  std::string description;          // the predicted event's description, if any
  Bytes expected;
  Bytes got;
  std::string message; // "PCR 9 event 1 'Linux initrd': expected <hex>, got <hex>"
};

struct RegisterReport {
  std::string reg;   // "pcr9", "rtmr2"
  int index = 0;
  std::uint32_t log_index = 0; // index in the log (RTMR n is CC MR index n+1)
  bool ok = true;
  std::size_t predicted_events = 0;
  std::size_t log_events = 0;  // excluding EV_NO_ACTION
  measure::DigestMap predicted_value;
  measure::DigestMap log_value;     // replay of the log's events
  measure::DigestMap quoted_value;  // if given
  bool verified_platform = true;
  std::string note;
  std::vector<Finding> findings;
};

struct VerifyReport {
  bool ok = true;
  std::vector<RegisterReport> registers;
};

// Quoted values: register index in the log's numbering -> bank -> value.
using QuotedValues = std::map<std::uint32_t, std::map<HashAlg, Bytes>>;

// Per predicted register: its log events (ignoring EV_NO_ACTION) compared digest by digest
// with the predicted events in order, in each predicted bank the log has; extra/missing
// events; replayed log value vs predicted and (if given) quoted value. Never throws for
// well-formed inputs.
VerifyReport verify(const std::vector<measure::RegisterPrediction>& predicted,
                    const EventLog& log,
                    const std::optional<QuotedValues>& quoted_values = std::nullopt);

// Human-readable report (one line per register, then its findings). Never throws.
std::string render_text(const VerifyReport& report);
// {"ok":bool,"registers":[{"reg","index","log_index","ok",...,"findings":[...]}]}.
nlohmann::json to_json(const VerifyReport& report);

} // namespace tdximg::verify
