// Predicted event lists vs an event log. Only digests are compared: a log's event types and
// data are attacker-controlled and are shown for orientation, never used to decide.

#include <tdximg/verify/compare.hpp>

#include <algorithm>

#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::verify {

namespace {

constexpr std::uint32_t k_ev_no_action = 0x00000003;

bool is_rtmr(const std::string& reg) { return reg.rfind("rtmr", 0) == 0; }

std::string display_name(const measure::RegisterPrediction& p) {
  return fmt::format("{} {}", is_rtmr(p.reg) ? "RTMR" : "PCR", p.index);
}

std::string hex_or_none(const Bytes& b) { return b.empty() ? std::string("(none)") : to_hex(b); }

} // namespace

std::string_view finding_kind_name(FindingKind k) {
  switch (k) {
  case FindingKind::digest_mismatch: return "digest_mismatch";
  case FindingKind::missing_event: return "missing_event";
  case FindingKind::extra_event: return "extra_event";
  case FindingKind::missing_bank: return "missing_bank";
  case FindingKind::value_mismatch: return "value_mismatch";
  case FindingKind::quote_mismatch: return "quote_mismatch";
  }
  return "unknown";
}

VerifyReport verify(const std::vector<measure::RegisterPrediction>& predicted,
                    const EventLog& log, const std::optional<QuotedValues>& quoted_values) {
  const RegisterValues replayed = replay(log);
  VerifyReport report;
  for (const measure::RegisterPrediction& p : predicted) {
    RegisterReport rr;
    rr.reg = p.reg;
    rr.index = p.index;
    // CC MR index: RTMR n is n + 1 (0 is MRTD); PCRs keep their number.
    rr.log_index = static_cast<std::uint32_t>(is_rtmr(p.reg) ? p.index + 1 : p.index);
    rr.predicted_events = p.events.size();
    rr.predicted_value = p.values;
    rr.verified_platform = p.verified_platform;
    rr.note = p.note;
    const std::string name = display_name(p);

    std::vector<const LogEvent*> events;
    for (const LogEvent& e : log.events)
      if (e.index == rr.log_index && e.type != k_ev_no_action) events.push_back(&e);
    rr.log_events = events.size();

    // Banks: those predicted; a bank the log lacks cannot be checked.
    std::vector<HashAlg> banks;
    for (const auto& [alg, value] : p.values) {
      if (std::find(log.banks.begin(), log.banks.end(), alg) == log.banks.end()) {
        Finding f;
        f.kind = FindingKind::missing_bank;
        f.alg = alg;
        f.message = fmt::format("{}: the event log has no {} bank", name, hash_name(alg));
        rr.findings.push_back(std::move(f));
        continue;
      }
      banks.push_back(alg);
    }

    // Log value per checked bank (a register without events is all zero).
    const auto rit = replayed.find(rr.log_index);
    for (HashAlg alg : banks) {
      Bytes v(digest_size(alg), 0);
      if (rit != replayed.end())
        if (auto vit = rit->second.find(alg); vit != rit->second.end()) v = vit->second;
      rr.log_value[alg] = std::move(v);
    }

    const std::size_t common = std::min(p.events.size(), events.size());
    for (std::size_t i = 0; i < common; ++i) {
      const measure::Event& pe = p.events[i];
      for (HashAlg alg : banks) {
        const auto pit = pe.digests.find(alg);
        if (pit == pe.digests.end()) continue;
        const auto lit = events[i]->digests.find(alg);
        const Bytes got = lit == events[i]->digests.end() ? Bytes{} : lit->second;
        if (got == pit->second) continue;
        Finding f;
        f.kind = FindingKind::digest_mismatch;
        f.event_number = static_cast<int>(i);
        f.alg = alg;
        f.description = pe.description;
        f.expected = pit->second;
        f.got = got;
        f.message = fmt::format("{} event {} '{}': expected {}, got {} ({})", name, i,
                                pe.description, to_hex(f.expected), hex_or_none(got),
                                hash_name(alg));
        rr.findings.push_back(std::move(f));
      }
    }
    for (std::size_t i = common; i < p.events.size(); ++i) {
      Finding f;
      f.kind = FindingKind::missing_event;
      f.event_number = static_cast<int>(i);
      f.description = p.events[i].description;
      f.message = fmt::format("{} event {} '{}': predicted but not in the log", name, i,
                              p.events[i].description);
      rr.findings.push_back(std::move(f));
    }
    for (std::size_t i = common; i < events.size(); ++i) {
      Finding f;
      f.kind = FindingKind::extra_event;
      f.event_number = static_cast<int>(i);
      std::string digests;
      for (const auto& [alg, d] : events[i]->digests)
        digests += fmt::format(" {}={}", hash_name(alg), to_hex(d));
      f.message = fmt::format("{} event {}: in the log (offset 0x{:x}, claims {}) but not "
                              "predicted:{}",
                              name, i, events[i]->offset,
                              measure::event_type_name(events[i]->type), digests);
      rr.findings.push_back(std::move(f));
    }
    const bool event_findings = !rr.findings.empty();
    for (HashAlg alg : banks) {
      const Bytes& want = p.values.at(alg);
      const Bytes& have = rr.log_value.at(alg);
      if (!event_findings && want != have) {
        Finding f;
        f.kind = FindingKind::value_mismatch;
        f.alg = alg;
        f.expected = want;
        f.got = have;
        f.message = fmt::format("{}: log replays to {}, predicted {} ({})", name, to_hex(have),
                                to_hex(want), hash_name(alg));
        rr.findings.push_back(std::move(f));
      }
    }
    if (quoted_values) {
      if (auto qit = quoted_values->find(rr.log_index); qit != quoted_values->end()) {
        for (const auto& [alg, quoted] : qit->second) {
          rr.quoted_value[alg] = quoted;
          const auto lv = rr.log_value.find(alg);
          if (lv == rr.log_value.end()) continue; // bank not in log: reported above or unused
          if (lv->second == quoted) continue;
          Finding f;
          f.kind = FindingKind::quote_mismatch;
          f.alg = alg;
          f.expected = quoted;
          f.got = lv->second;
          f.message = fmt::format("{}: the log replays to {} but the quoted value is {} ({}); "
                                  "the log is incomplete or not this machine's",
                                  name, to_hex(lv->second), to_hex(quoted), hash_name(alg));
          rr.findings.push_back(std::move(f));
        }
      }
    }
    rr.ok = rr.findings.empty();
    report.ok = report.ok && rr.ok;
    report.registers.push_back(std::move(rr));
  }
  return report;
}

std::string render_text(const VerifyReport& report) {
  std::string out;
  for (const RegisterReport& r : report.registers) {
    const bool rtmr = is_rtmr(r.reg);
    out += fmt::format("{} {}: {} ({} predicted events, {} in the log)\n", rtmr ? "RTMR" : "PCR",
                       r.index, r.ok ? "OK" : "MISMATCH", r.predicted_events, r.log_events);
    for (const Finding& f : r.findings) out += fmt::format("  {}\n", f.message);
    if (!r.verified_platform) out += fmt::format("  note: {}\n", r.note);
  }
  out += report.ok ? "verified: every predicted register matches the log\n"
                   : "NOT verified: see the mismatches above\n";
  return out;
}

nlohmann::json to_json(const VerifyReport& report) {
  nlohmann::json regs = nlohmann::json::array();
  for (const RegisterReport& r : report.registers) {
    nlohmann::json findings = nlohmann::json::array();
    for (const Finding& f : r.findings) {
      nlohmann::json jf{{"kind", std::string(finding_kind_name(f.kind))},
                        {"event", f.event_number},
                        {"message", f.message}};
      if (f.alg) jf["bank"] = std::string(hash_name(*f.alg));
      if (!f.description.empty()) jf["description"] = f.description;
      if (!f.expected.empty()) jf["expected"] = to_hex(f.expected);
      if (!f.got.empty()) jf["got"] = to_hex(f.got);
      findings.push_back(std::move(jf));
    }
    regs.push_back(nlohmann::json{{"reg", r.reg},
                                  {"index", r.index},
                                  {"log_index", r.log_index},
                                  {"ok", r.ok},
                                  {"predicted_events", r.predicted_events},
                                  {"log_events", r.log_events},
                                  {"predicted_value", measure::to_json(r.predicted_value)},
                                  {"log_value", measure::to_json(r.log_value)},
                                  {"quoted_value", measure::to_json(r.quoted_value)},
                                  {"verified_platform", r.verified_platform},
                                  {"note", r.note},
                                  {"findings", std::move(findings)}});
  }
  return nlohmann::json{{"ok", report.ok}, {"registers", std::move(regs)}};
}

} // namespace tdximg::verify
