// TDX CCEL: TCG PC Client PFP 1.05 crypto-agile log (§10.2.2 TCG_PCR_EVENT2) whose index
// field is the CC MR index of UEFI 2.10 §38.4.1 (EFI_CC_MEASUREMENT_PROTOCOL): 1..4 =
// RTMR0..3. MR index 0 is MRTD, which only the TDX module extends at build time, so a
// measured (non-EV_NO_ACTION) event for index 0 or an index above 4 is a malformed CCEL.

#include <algorithm>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/ccel.hpp>
#include <tdximg/verify/replay.hpp>

namespace tdximg::verify {

namespace {

constexpr std::uint32_t k_ev_no_action = 0x00000003;
constexpr std::uint32_t k_max_mr_index = 4;

} // namespace

std::uint32_t ccel_index_for_rtmr(int rtmr) {
  if (rtmr < 0 || rtmr > 3) fail(ErrorKind::input, "RTMR {} does not exist (0..3)", rtmr);
  return static_cast<std::uint32_t>(rtmr + 1);
}

EventLog parse_ccel(ByteSpan data, const std::string& name) {
  EventLog log = parse_tcg2_log(data, name);
  if (log.format != LogFormat::crypto_agile)
    fail(ErrorKind::input, "{}: a CCEL must use the crypto-agile format (Spec ID Event03)", name);
  if (std::find(log.banks.begin(), log.banks.end(), HashAlg::sha384) == log.banks.end())
    fail(ErrorKind::input,
         "{}: the Spec ID event announces no sha384 digest (TDX RTMRs are "
         "SHA-384)",
         name);
  for (std::size_t i = 0; i < log.events.size(); ++i) {
    const LogEvent& e = log.events[i];
    if (e.type == k_ev_no_action) {
      if (e.index > k_max_mr_index)
        fail(ErrorKind::input, "{}: event {} at offset 0x{:x}: MR index {} is not 0..4", name, i,
             e.offset, e.index);
      continue;
    }
    if (e.index == 0)
      fail(ErrorKind::input,
           "{}: event {} at offset 0x{:x}: MR index 0 (MRTD) cannot be extended at runtime", name,
           i, e.offset);
    if (e.index > k_max_mr_index)
      fail(ErrorKind::input,
           "{}: event {} at offset 0x{:x}: MR index {} is not a TDX register (1..4 = "
           "RTMR0..3)",
           name, i, e.offset, e.index);
    if (e.digests.find(HashAlg::sha384) == e.digests.end())
      fail(ErrorKind::input, "{}: event {} at offset 0x{:x}: no sha384 digest", name, i, e.offset);
  }
  return log;
}

std::array<Sha384, 4> replay_ccel(const EventLog& log) {
  const RegisterValues values = replay(log);
  std::array<Sha384, 4> out{};
  for (int r = 0; r < 4; ++r) {
    const auto it = values.find(static_cast<std::uint32_t>(r + 1));
    if (it == values.end()) continue;
    const auto bank = it->second.find(HashAlg::sha384);
    if (bank == it->second.end() || bank->second.size() != out[0].size()) continue;
    std::copy(bank->second.begin(), bank->second.end(), out[static_cast<std::size_t>(r)].begin());
  }
  return out;
}

VerifyReport verify_ccel(const std::vector<measure::RegisterPrediction>& predicted,
                         const EventLog& ccel, const std::optional<QuotedRtmrs>& quoted) {
  for (const measure::RegisterPrediction& p : predicted)
    if (p.reg != measure::rtmr_name(p.index) || p.index < 0 || p.index > 3)
      fail(ErrorKind::usage, "verify_ccel: '{}' (index {}) is not a TDX RTMR prediction", p.reg,
           p.index);
  std::optional<QuotedValues> q;
  if (quoted) {
    q.emplace();
    for (int r = 0; r < 4; ++r) {
      const auto& v = (*quoted)[static_cast<std::size_t>(r)];
      if (v) (*q)[ccel_index_for_rtmr(r)][HashAlg::sha384] = Bytes(v->begin(), v->end());
    }
  }
  // verify() maps "rtmr<n>" to log index n + 1 and compares digests event by event.
  return verify(predicted, ccel, q);
}

measure::Rtmr0Calibration rtmr0_calibration_from_ccel(ByteSpan ccel_file, const std::string& name) {
  const EventLog log = parse_ccel(ccel_file, name);
  measure::Rtmr0Calibration cal;
  cal.log_sha256 = sha256_hex(ccel_file);
  std::size_t n = 0;
  for (const LogEvent& e : log.events) {
    if (e.index != ccel_index_for_rtmr(0) || e.type == k_ev_no_action) continue;
    measure::Event ev;
    ev.reg = measure::rtmr_name(0);
    ev.index = 0;
    ev.type = e.type;
    ev.digests[HashAlg::sha384] = e.digests.at(HashAlg::sha384);
    ev.description =
        fmt::format("calibrated RTMR0 event {} ({})", n, measure::event_type_name(e.type));
    ev.source = fmt::format("calibrated from {} (sha256 {}), record at offset 0x{:x}", name,
                            cal.log_sha256, e.offset);
    cal.events.push_back(std::move(ev));
    ++n;
  }
  if (cal.events.empty())
    fail(ErrorKind::input, "{}: no RTMR0 (MR index 1) event to calibrate from", name);
  return cal;
}

} // namespace tdximg::verify
