#include "measure/test_tdvf_builder.hpp"

#include <catch2/catch.hpp>
#include <tdximg/measure/tdx_export.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

UkiMeasureInput trixie_like() {
  UkiMeasureInput u;
  u.stub_major = 257;
  u.uki_authenticode = {{HashAlg::sha384, Bytes(48, 0xaa)}};
  u.linux_authenticode = {{HashAlg::sha384, Bytes(48, 0xbb)}};
  u.uname = "6.12.57+deb13-amd64";
  u.sections = {{".linux", to_bytes("K")}, {".cmdline", to_bytes("console=ttyS0")}};
  return u;
}

TdxPrediction shape(const std::string& name, bool calibrated) {
  TdxBootConfig cfg;
  cfg.gpt_event_data = to_bytes("GPT");
  cfg.vm_shape = name;
  if (calibrated) {
    Rtmr0Calibration cal;
    cal.log_sha256 = "ab";
    Event e;
    e.digests[HashAlg::sha384] = Bytes(48, static_cast<std::uint8_t>(name.size()));
    cal.events = {e};
    cfg.rtmr0_calibration = cal;
  }
  return predict_tdx(trixie_like(), test::aleph_synthetic_fw().fw, cfg);
}

std::string value(const TdxPrediction& p, int rtmr) {
  return to_hex(p.find(rtmr)->values.at(HashAlg::sha384));
}

} // namespace

TEST_CASE("the dcap-tdx export pins MRTD, RTMR1 and RTMR2 by default (flashbots indices)",
          "[measure][tdx]") {
  const TdxPrediction p = shape("2cpu-2G", false);
  const auto j = to_attested_tls_dcap(p, "hello-tdx");
  CHECK(j["measurement_id"] == "hello-tdx");
  CHECK(j["attestation_type"] == "dcap-tdx");
  const auto& m = j["measurements"];
  // cvm-reverse-proxy validator.go: index 0 = MRTD, RTMR i = index i + 1.
  CHECK(m.size() == 3);
  CHECK(m["0"]["expected"] == to_hex(*p.mrtd));
  CHECK(m["2"]["expected"] == value(p, 1));
  CHECK(m["3"]["expected"] == value(p, 2));
  CHECK_FALSE(m.contains("1"));
}

TEST_CASE("an unpinned RTMR0 or missing MRTD cannot be exported", "[measure][tdx]") {
  TdxRegisterSelection sel;
  sel.rtmr0 = true;
  CHECK_THROWS_AS(to_attested_tls_dcap(shape("a", false), "x", sel), Error);
  const auto ok = to_attested_tls_dcap(shape("a", true), "x", sel);
  CHECK(ok["measurements"]["1"]["expected"] == value(shape("a", true), 0));
  TdxBootConfig cfg;
  cfg.gpt_event_data = to_bytes("GPT");
  const TdxPrediction no_fw = predict_tdx(trixie_like(), {}, cfg);
  CHECK_THROWS_AS(to_attested_tls_dcap(no_fw, "x"), Error);
  TdxRegisterSelection rtmrs_only{false, false, true, true, true};
  const auto j = to_attested_tls_dcap(no_fw, "x", rtmrs_only);
  CHECK(j["measurements"]["4"]["expected"] == std::string(96, '0'));
}

TEST_CASE("several VM shapes give several entries", "[measure][tdx]") {
  TdxRegisterSelection sel = parse_register_selection("mrtd,rtmr0,rtmr1,rtmr2");
  const auto j =
      to_attested_tls_dcap({shape("2cpu-2G", true), shape("8cpu-16G", true)}, "app", sel);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["measurement_id"] == "app-2cpu-2G");
  CHECK(j[1]["measurement_id"] == "app-8cpu-16G");
  CHECK(j[0]["measurements"]["1"] != j[1]["measurements"]["1"]); // RTMR0 per shape
  CHECK(j[0]["measurements"]["2"] == j[1]["measurements"]["2"]);
}

TEST_CASE("register selections parse names and indices", "[measure][tdx]") {
  const auto s = parse_register_selection("0,3");
  CHECK(s.mrtd);
  CHECK(s.rtmr2);
  CHECK_FALSE(s.rtmr1);
  CHECK_FALSE(s.rtmr0);
  CHECK(parse_register_selection("rtmr1").rtmr1);
  CHECK(parse_register_selection("all").rtmr3);
  CHECK_THROWS_AS(parse_register_selection("pcr4"), Error);
  CHECK_THROWS_AS(parse_register_selection(""), Error);
}

TEST_CASE("dstack-mr and measurements.json forms carry the values and labels", "[measure][tdx]") {
  const TdxPrediction p = shape("2cpu-2G", false);
  const auto d = to_dstack_mr(p);
  CHECK(d["mrtd"] == to_hex(*p.mrtd));
  CHECK(d["rtmr0"].is_null());
  CHECK(d["rtmr1"] == value(p, 1));
  CHECK(d["rtmr2"] == value(p, 2));
  const auto j = to_json(p);
  CHECK(j["rtmr0_source"] == "unpinned");
  CHECK(j["values"]["rtmr3"] == std::string(96, '0'));
  CHECK(j["page_order"] == "single_pass");
  CHECK(j["boot_mode"] == "disk");
  CHECK(j["registers"].size() == 3);
  // Register predictions round-trip through event.hpp's JSON reader.
  CHECK(prediction_from_json(j["registers"][1]) == *p.find(2));
}
