#include <catch2/catch.hpp>

#include "log_builder.hpp"

#include <tdximg/measure/event.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/compare.hpp>

using namespace tdximg;
using namespace tdximg::verify;
using tdximg::test::LogBuilder;
namespace t = tdximg::test;

namespace {

Bytes d(std::uint8_t b, std::size_t n) { return Bytes(n, b); }

// Hand-made predictions: PCR 9 = LoadOptions (digest 0x11..), Linux initrd (0x22..).
measure::RegisterPrediction pcr9_prediction() {
  std::vector<measure::Event> events(2);
  events[0] = {"pcr9", 9, 6, {{HashAlg::sha256, d(0x11, 32)}, {HashAlg::sha384, d(0x11, 48)}},
               "LOADED_IMAGE::LoadOptions", "test"};
  events[1] = {"pcr9", 9, 6, {{HashAlg::sha256, d(0x22, 32)}, {HashAlg::sha384, d(0x22, 48)}},
               "Linux initrd", "test"};
  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  return measure::make_prediction("pcr9", 9, events, banks);
}

LogBuilder log_with(std::vector<std::pair<std::uint32_t, std::uint8_t>> events,
                    std::uint32_t type = 6) {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}, {t::k_alg_sha384, 48}});
  b.event2(9, 3, {{t::k_alg_sha256, d(0, 32)}, {t::k_alg_sha384, d(0, 48)}}, as_bytes("noise"));
  for (auto [pcr, fill] : events)
    b.event2(pcr, type, {{t::k_alg_sha256, d(fill, 32)}, {t::k_alg_sha384, d(fill, 48)}},
             as_bytes("whatever the log claims"));
  return b;
}

} // namespace

TEST_CASE("a log with the predicted digests verifies, whatever its event types say",
          "[verify]") {
  // Other registers' events are interleaved; EV_NO_ACTION is ignored; type 0xdead is not
  // trusted (and not needed).
  const LogBuilder b = log_with({{4, 0x99}, {9, 0x11}, {11, 0x77}, {9, 0x22}}, 0xdead);
  const EventLog log = parse_tcg2_log(b.w.data());
  const VerifyReport r = verify::verify({pcr9_prediction()}, log);
  CHECK(r.ok);
  REQUIRE(r.registers.size() == 1);
  CHECK(r.registers[0].log_events == 2);
  CHECK(r.registers[0].log_value == r.registers[0].predicted_value);
  CHECK(render_text(r).find("PCR 9: OK") != std::string::npos);
}

TEST_CASE("the first differing event is named with both digests", "[verify]") {
  const LogBuilder b = log_with({{9, 0x11}, {9, 0x23}});
  const VerifyReport r = verify::verify({pcr9_prediction()}, parse_tcg2_log(b.w.data()));
  CHECK_FALSE(r.ok);
  const auto& f = r.registers[0].findings;
  REQUIRE(f.size() == 2); // sha256 and sha384
  CHECK(f[0].kind == FindingKind::digest_mismatch);
  CHECK(f[0].event_number == 1);
  CHECK(f[0].message == "PCR 9 event 1 'Linux initrd': expected " + to_hex(d(0x22, 32)) +
                            ", got " + to_hex(d(0x23, 32)) + " (sha256)");
  const nlohmann::json j = to_json(r);
  CHECK(j["ok"] == false);
  CHECK(j["registers"][0]["findings"][0]["got"] == to_hex(d(0x23, 32)));
  CHECK(render_text(r).find("PCR 9: MISMATCH") != std::string::npos);
}

TEST_CASE("missing and extra events are reported", "[verify]") {
  const VerifyReport missing =
      verify::verify({pcr9_prediction()}, parse_tcg2_log(log_with({{9, 0x11}}).w.data()));
  REQUIRE(missing.registers[0].findings.size() == 1);
  CHECK(missing.registers[0].findings[0].kind == FindingKind::missing_event);
  CHECK(missing.registers[0].findings[0].message ==
        "PCR 9 event 1 'Linux initrd': predicted but not in the log");

  const VerifyReport extra = verify::verify(
      {pcr9_prediction()}, parse_tcg2_log(log_with({{9, 0x11}, {9, 0x22}, {9, 0x33}}).w.data()));
  REQUIRE(extra.registers[0].findings.size() == 1);
  CHECK(extra.registers[0].findings[0].kind == FindingKind::extra_event);
  CHECK(extra.registers[0].findings[0].event_number == 2);
  CHECK_FALSE(extra.ok);
}

TEST_CASE("a log that does not replay to the quoted value is reported", "[verify]") {
  const EventLog log = parse_tcg2_log(log_with({{9, 0x11}, {9, 0x22}}).w.data());
  Bytes good = extend(HashAlg::sha256, Bytes(32, 0), d(0x11, 32));
  good = extend(HashAlg::sha256, good, d(0x22, 32));
  QuotedValues quoted{{9, {{HashAlg::sha256, good}}}};
  CHECK(verify::verify({pcr9_prediction()}, log, quoted).ok);
  quoted[9][HashAlg::sha256] = d(0x5a, 32);
  const VerifyReport r = verify::verify({pcr9_prediction()}, log, quoted);
  CHECK_FALSE(r.ok);
  REQUIRE(r.registers[0].findings.size() == 1);
  CHECK(r.registers[0].findings[0].kind == FindingKind::quote_mismatch);
}

TEST_CASE("RTMR predictions are matched to CC MR index n+1 in a CCEL-style log",
          "[verify]") {
  std::vector<measure::Event> events(1);
  events[0] = {"rtmr1", 1, 4, {{HashAlg::sha384, d(0x44, 48)}}, "separator", "test"};
  const HashAlg banks[] = {HashAlg::sha384};
  const auto p = measure::make_prediction("rtmr1", 1, events, banks);
  LogBuilder b;
  b.spec_id({{t::k_alg_sha384, 48}});
  b.event2(1, 4, {{t::k_alg_sha384, d(0x99, 48)}}, Bytes(4, 0)); // RTMR0
  b.event2(2, 4, {{t::k_alg_sha384, d(0x44, 48)}}, Bytes(4, 0)); // RTMR1
  const VerifyReport r = verify::verify({p}, parse_tcg2_log(b.w.data()));
  CHECK(r.ok);
  CHECK(r.registers[0].log_index == 2);
}

TEST_CASE("a predicted bank the log lacks is a finding, and zero registers verify empty",
          "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  b.event2(9, 6, {{t::k_alg_sha256, d(0x11, 32)}}, Bytes(1, 0));
  b.event2(9, 6, {{t::k_alg_sha256, d(0x22, 32)}}, Bytes(1, 0));
  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  const auto pcr12 = measure::make_prediction("pcr12", 12, {}, banks);
  const VerifyReport r = verify::verify({pcr9_prediction(), pcr12}, parse_tcg2_log(b.w.data()));
  CHECK_FALSE(r.ok);
  REQUIRE(r.registers[0].findings.size() == 1);
  CHECK(r.registers[0].findings[0].kind == FindingKind::missing_bank);
  REQUIRE(r.registers[1].findings.size() == 1); // sha384 missing, sha256 zero == zero
  CHECK(r.registers[1].log_value.at(HashAlg::sha256) == Bytes(32, 0));
}
