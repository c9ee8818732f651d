#pragma once
// TDX CCEL (Confidential Computing Event Log, ACPI "CCEL" table area): the TCG2 crypto-agile
// log format (TCG PC Client PFP 1.05 §10.2.2) whose "PCRIndex" is the CC MR index
// (UEFI 2.10 §38.4.1): 1 = RTMR0, 2 = RTMR1, 3 = RTMR2, 4 = RTMR3; 0 (MRTD) is never
// extended at runtime. Only digests are trusted.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tdximg/measure/event.hpp>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/verify/compare.hpp>
#include <tdximg/verify/tcg2_log.hpp>
#include <vector>

namespace tdximg::verify {

// CC MR index of RTMR n (0..3): n + 1. Throws ErrorKind::input outside 0..3.
std::uint32_t ccel_index_for_rtmr(int rtmr);

// parse_tcg2_log plus CCEL rules: crypto-agile format, a sha384 bank, every measured event's
// MR index in 1..4 (MR index 0 may only carry EV_NO_ACTION; > 4 is an error).
// Throws ErrorKind::input naming the record, field and offset.
EventLog parse_ccel(ByteSpan data, const std::string& name = "CCEL");

// RTMR0..3 replayed from a parsed CCEL (sha384). Never throws for a parse_ccel() result.
std::array<Sha384, 4> replay_ccel(const EventLog& log);

// Quoted RTMR values (from a TD quote), each optional.
using QuotedRtmrs = std::array<std::optional<Sha384>, 4>;

// Compares predicted RTMR registers (reg "rtmr<n>", sha384) with the CCEL event by event
// (predicted RTMR n <-> log MR index n + 1) and, if given, with quoted RTMR values.
// Registers that were not predicted are not compared. Never throws for well-formed inputs.
VerifyReport verify_ccel(const std::vector<measure::RegisterPrediction>& predicted,
                         const EventLog& ccel,
                         const std::optional<QuotedRtmrs>& quoted = std::nullopt);

// RTMR0 calibration from a CCEL captured on the target host + VM shape: all MR index 1
// events (EV_NO_ACTION skipped) as predicted rtmr0 events with their sha384 digests, labelled
// "calibrated from <sha256 of the file>". Throws like parse_ccel, and ErrorKind::input if
// the log has no RTMR0 event.
measure::Rtmr0Calibration rtmr0_calibration_from_ccel(ByteSpan ccel_file,
                                                      const std::string& name = "CCEL");

} // namespace tdximg::verify
