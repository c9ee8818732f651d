// `tdximg verify`: compare a boot's event log (and optionally the quoted register values)
// with the predicted event lists in measurements.json. Only digests are trusted.
#include <algorithm>
#include <functional>
#include <sstream>

#include <tdximg/measure/event.hpp>
#include <tdximg/pipeline/inspect.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/ccel.hpp>
#include <tdximg/verify/compare.hpp>
#include <tdximg/verify/tcg2_log.hpp>

namespace tdximg::pipeline {

namespace {

// Accepts "<index>:<bank>=<hex>" (e.g. "9:sha256=ab..") and the probe's console form
// "PCR <bank> <index> <hex>", one per line or separated by commas/whitespace.
// Calls `fn(lineno, tokens, line)` for every non-blank line of `text`, split on whitespace
// (and on `separator`, if given, as another line break: "--pcrs 4:sha256=..,9:sha256=..").
void for_each_line(const std::string& text, char separator,
                   const std::function<void(int, const std::vector<std::string>&, const std::string&)>& fn) {
  std::string normalized = text;
  if (separator != 0)
    for (char& c : normalized)
      if (c == separator) c = '\n';
  std::istringstream lines(normalized);
  std::string line;
  int lineno = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    std::istringstream ws(line);
    std::vector<std::string> tok;
    for (std::string t; ws >> t;) tok.push_back(t);
    if (!tok.empty()) fn(lineno, tok, line);
  }
}

// A register index of at most 2 decimal digits (PCRs are 0..23).
std::uint32_t parse_index(const std::string& s, int lineno, const std::string& line) {
  if (s.empty() || s.size() > 2 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    fail(ErrorKind::usage, "--pcrs line {}: bad register index '{}' in '{}'", lineno, s, line);
  return static_cast<std::uint32_t>(std::stoul(s));
}

verify::QuotedValues parse_quoted(const std::string& text) {
  verify::QuotedValues q;
  for_each_line(text, ',', [&](int lineno, const std::vector<std::string>& tok, const std::string& line) {
    std::uint32_t index = 0;
    std::string bank, hex;
    if (tok.size() == 4 && (tok[0] == "PCR" || tok[0] == "RTMR")) {
      bank = tok[1];
      index = parse_index(tok[2], lineno, line);
      hex = tok[3];
    } else if (tok.size() == 1 && tok[0].find(':') != std::string::npos && tok[0].find('=') != std::string::npos) {
      const auto colon = tok[0].find(':'), eq = tok[0].find('=');
      if (eq < colon) fail(ErrorKind::usage, "--pcrs line {}: expected <index>:<bank>=<hex>, got '{}'", lineno, line);
      index = parse_index(tok[0].substr(0, colon), lineno, line);
      bank = tok[0].substr(colon + 1, eq - colon - 1);
      hex = tok[0].substr(eq + 1);
    } else {
      fail(ErrorKind::usage, "--pcrs line {}: expected '<index>:<bank>=<hex>' or 'PCR <bank> <index> <hex>', got '{}'", lineno, line);
    }
    const HashAlg alg = parse_hash_name(bank);
    Bytes v = from_hex(hex, fmt::format("--pcrs line {}", lineno));
    if (v.size() != digest_size(alg)) {
      fail(ErrorKind::usage, "--pcrs line {}: {} value has {} bytes, expected {}", lineno, bank, v.size(), digest_size(alg));
    }
    q[index][alg] = std::move(v);
  });
  return q;
}

std::vector<measure::RegisterPrediction> registers_of(const nlohmann::json& config) {
  std::vector<measure::RegisterPrediction> regs;
  for (const auto& r : config.at("registers")) regs.push_back(measure::prediction_from_json(r));
  return regs;
}

std::size_t finding_count(const verify::VerifyReport& r) {
  std::size_t n = 0;
  for (const auto& reg : r.registers) n += reg.findings.size();
  return n;
}

} // namespace

namespace {

// Picks the configuration to verify against: the one named, else the one whose events agree
// best with the log. Choosing never weakens the check: any difference in the chosen one fails
// verification. `check` verifies one configuration's registers.
nlohmann::json choose_and_verify(const nlohmann::json& configs, const std::string& requested, std::string_view what,
                                 const std::function<verify::VerifyReport(const nlohmann::json&)>& check,
                                 std::string& text) {
  const nlohmann::json* chosen = nullptr;
  std::optional<verify::VerifyReport> best;
  std::string ids;
  for (const auto& cfg : configs) {
    const std::string id = cfg.value("id", "");
    ids += (ids.empty() ? "" : ", ") + id;
    if (!requested.empty() && id != requested) continue;
    verify::VerifyReport rep = check(cfg);
    if (!best || finding_count(rep) < finding_count(*best)) {
      best = std::move(rep);
      chosen = &cfg;
    }
  }
  if (chosen == nullptr) fail(ErrorKind::usage, "--config {}: no such {} configuration (have: {})", requested, what, ids);
  nlohmann::json out = verify::to_json(*best);
  out["config"] = chosen->value("id", "");
  out["chosen_automatically"] = requested.empty();
  text = fmt::format("configuration {}{}\n", chosen->value("id", ""), requested.empty() ? " (best match)" : "") +
         verify::render_text(*best);
  return out;
}

// RTMR values: "RTMR <n> <hex>", "rtmr<n>=<hex>" or "<n>:sha384=<hex>" lines (n = 0..3).
verify::QuotedRtmrs parse_quoted_rtmrs(const std::string& text) {
  verify::QuotedRtmrs q;
  for_each_line(text, 0, [&](int lineno, const std::vector<std::string>& tok, const std::string& line) {
    std::string idx, hex;
    if (tok.size() == 3 && tok[0] == "RTMR") {
      idx = tok[1];
      hex = tok[2];
    } else if (tok.size() == 1 && tok[0].rfind("rtmr", 0) == 0 && tok[0].find('=') != std::string::npos) {
      idx = tok[0].substr(4, tok[0].find('=') - 4);
      hex = tok[0].substr(tok[0].find('=') + 1);
    } else if (tok.size() == 1 && tok[0].find(":sha384=") != std::string::npos) {
      idx = tok[0].substr(0, tok[0].find(':'));
      hex = tok[0].substr(tok[0].find('=') + 1);
    } else {
      fail(ErrorKind::usage, "--rtmrs line {}: expected 'RTMR <n> <hex>' or 'rtmr<n>=<hex>', got '{}'", lineno, line);
    }
    if (idx.size() != 1 || idx[0] < '0' || idx[0] > '3') fail(ErrorKind::usage, "--rtmrs line {}: RTMR index must be 0..3, got '{}'", lineno, idx);
    const Bytes v = from_hex(hex, fmt::format("--rtmrs line {}", lineno));
    if (v.size() != 48) fail(ErrorKind::usage, "--rtmrs line {}: an RTMR is 48 bytes, got {}", lineno, v.size());
    Sha384 s{};
    std::copy(v.begin(), v.end(), s.begin());
    q[static_cast<std::size_t>(idx[0] - '0')] = s;
  });
  return q;
}

nlohmann::json verify_ccel_log(const VerifyRequest& req, std::string& text) {
  if (!req.measurements.contains("tdx") || !req.measurements["tdx"].is_array() || req.measurements["tdx"].empty()) {
    fail(ErrorKind::input, "measurements: no \"tdx\" predictions (build with measure.platforms containing \"tdx\")");
  }
  const verify::EventLog log = verify::parse_ccel(req.event_log, "CCEL");
  std::optional<verify::QuotedRtmrs> quoted;
  if (!req.pcr_values_text.empty()) quoted = parse_quoted_rtmrs(req.pcr_values_text);
  return choose_and_verify(req.measurements["tdx"], req.config, "TDX",
                           [&](const nlohmann::json& cfg) { return verify::verify_ccel(registers_of(cfg), log, quoted); },
                           text);
}

} // namespace

nlohmann::json verify_log(const VerifyRequest& req, std::string& text) {
  if (req.ccel) return verify_ccel_log(req, text);
  if (!req.measurements.contains("tpm") || !req.measurements["tpm"].is_array() || req.measurements["tpm"].empty()) {
    fail(ErrorKind::input, "measurements: no \"tpm\" predictions (is this a tdximg measurements.json?)");
  }
  const verify::EventLog log = verify::parse_tcg2_log(req.event_log, "event log");
  std::optional<verify::QuotedValues> quoted;
  if (!req.pcr_values_text.empty()) quoted = parse_quoted(req.pcr_values_text);

  return choose_and_verify(req.measurements["tpm"], req.config, "TPM",
                           [&](const nlohmann::json& cfg) { return verify::verify(registers_of(cfg), log, quoted); },
                           text);
}

} // namespace tdximg::pipeline
