#include "log_builder.hpp"

#include <catch2/catch.hpp>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/ccel.hpp>

using namespace tdximg;
using namespace tdximg::verify;
using tdximg::test::LogBuilder;
namespace t = tdximg::test;

namespace {

// EV_* values from TCG PC Client PFP 1.05 §10.4.1, written out here.
constexpr std::uint32_t k_ev_no_action = 0x3;
constexpr std::uint32_t k_ev_separator = 0x4;
constexpr std::uint32_t k_ev_event_tag = 0x6;
constexpr std::uint32_t k_ev_ipl = 0xD;
constexpr std::uint32_t k_ev_var_config = 0x80000001;
constexpr std::uint32_t k_ev_bsa = 0x80000003;
constexpr std::uint32_t k_ev_gpt = 0x80000006;
constexpr std::uint32_t k_ev_efi_action = 0x80000007;

Bytes h384(ByteSpan b) {
  const Sha384 d = sha384(b);
  return Bytes(d.begin(), d.end());
}
Bytes h384(std::string_view s) {
  return h384(as_bytes(s));
}
Bytes name_nul(std::string_view s) {
  Bytes b = to_bytes(s);
  b.push_back(0);
  return b;
}
Bytes utf16z(std::string_view s) {
  Bytes out;
  for (char c : s) {
    out.push_back(static_cast<std::uint8_t>(c));
    out.push_back(0);
  }
  out.push_back(0);
  out.push_back(0);
  return out;
}

const Bytes k_gpt = to_bytes("EFI PART ... a GPT header and its entries");

// The image the guest booted: systemd-stub 256 (measures via CC), Linux 6.12 (its EFI stub
// falls back to the CC protocol).
measure::UkiMeasureInput image(std::string_view cmdline, std::string_view initrd) {
  measure::UkiMeasureInput u;
  u.stub_major = 256;
  u.stub_version_string = "systemd-stub 256";
  u.uki_authenticode = {{HashAlg::sha384, Bytes(48, 0xaa)}};
  u.linux_authenticode = {{HashAlg::sha384, Bytes(48, 0xbb)}};
  u.uname = "6.12.0";
  u.sections = {{".linux", to_bytes("KERNEL")},
                {".osrel", to_bytes("ID=debian\n")},
                {".cmdline", to_bytes(cmdline)},
                {".initrd", to_bytes(initrd)},
                {".uname", to_bytes("6.12.0")}};
  return u;
}

struct Boot {
  std::string section_cmdline = "console=ttyS0";
  std::string load_options = "console=ttyS0"; // what the kernel received
  std::string initrd = "INITRD";
  std::uint32_t rtmr0_index = 1;
};

// A CCEL built by hand from the spec structures and what each component hashes (edk2
// TdTcg2Dxe strings, systemd-stub section name + NUL / data, Linux LoadOptions UTF-16LE + NUL
// and initrd), in boot order — not from tdximg's predictions.
LogBuilder ccel(const Boot& boot) {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha384, 48}});
  auto ev = [&b](std::uint32_t mr, std::uint32_t type, const Bytes& digest, ByteSpan data) {
    b.event2(mr, type, {{t::k_alg_sha384, digest}}, data);
  };
  // RTMR0 (MR 1): firmware configuration.
  ev(boot.rtmr0_index, k_ev_var_config, h384("SecureBoot=0"), as_bytes("SecureBoot=0"));
  ev(1, k_ev_no_action, Bytes(48, 0), as_bytes("noise"));
  ev(1, k_ev_separator, h384(Bytes{0, 0, 0, 0}), Bytes{0, 0, 0, 0});
  // RTMR1 (MR 2): ReadyToBoot, GPT, images.
  ev(2, k_ev_efi_action, h384("Calling EFI Application from Boot Option"),
     as_bytes("Calling EFI Application from Boot Option"));
  ev(2, k_ev_separator, h384(Bytes{0, 0, 0, 0}), Bytes{0, 0, 0, 0});
  ev(2, k_ev_gpt, h384(k_gpt), k_gpt);
  ev(2, k_ev_bsa, Bytes(48, 0xaa), as_bytes("image load event of BOOTX64.EFI"));
  ev(2, k_ev_bsa, Bytes(48, 0xbb), as_bytes("image load event of .linux"));
  // RTMR2 (MR 3): systemd-stub 256 measure_sections() order, then the kernel.
  for (auto [name, data] :
       std::vector<std::pair<std::string, std::string>>{{".linux", "KERNEL"},
                                                        {".osrel", "ID=debian\n"},
                                                        {".cmdline", boot.section_cmdline},
                                                        {".initrd", boot.initrd},
                                                        {".uname", "6.12.0"}}) {
    ev(3, k_ev_ipl, h384(name_nul(name)), name_nul(name));
    ev(3, k_ev_ipl, h384(data), as_bytes(data));
  }
  ev(3, k_ev_event_tag, h384(utf16z(boot.load_options)), as_bytes("tagged LoadOptions"));
  ev(3, k_ev_event_tag, h384(boot.initrd), as_bytes("tagged initrd"));
  // RTMR1 again: ExitBootServices.
  ev(2, k_ev_efi_action, h384("Exit Boot Services Invocation"),
     as_bytes("Exit Boot Services Invocation"));
  ev(2, k_ev_efi_action, h384("Exit Boot Services Returned with Success"),
     as_bytes("Exit Boot Services Returned with Success"));
  return b;
}

measure::TdxPrediction predict(const Bytes& calibration_log) {
  measure::TdxBootConfig cfg;
  cfg.gpt_event_data = k_gpt;
  cfg.rtmr0_calibration = rtmr0_calibration_from_ccel(calibration_log, "calibration.ccel");
  return measure::predict_tdx(image("console=ttyS0", "INITRD"), {}, cfg);
}

const RegisterReport& reg(const VerifyReport& r, const std::string& name) {
  for (const RegisterReport& rr : r.registers)
    if (rr.reg == name) return rr;
  FAIL("no register " << name);
  throw 0;
}

void require_error(const Bytes& log, const std::string& needle) {
  try {
    parse_ccel(log, "ccel.bin");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    return;
  }
  FAIL("parsed; expected an error containing " << needle);
}

} // namespace

TEST_CASE("a hand-built CCEL of the predicted boot verifies on RTMR0-3", "[verify][tdx]") {
  const Bytes log_bytes = ccel(Boot{}).w.data();
  const auto prediction = predict(log_bytes);
  const EventLog log = parse_ccel(log_bytes);
  const VerifyReport r = verify_ccel(prediction.registers, log);
  INFO(render_text(r));
  CHECK(r.ok);
  REQUIRE(r.registers.size() == 4);
  CHECK(reg(r, "rtmr1").log_index == 2);
  CHECK(reg(r, "rtmr1").log_events == 7);
  CHECK(reg(r, "rtmr2").log_events == 12);
  CHECK(reg(r, "rtmr3").log_events == 0);
  // The replayed registers equal the predicted values and a matching quote passes.
  const auto values = replay_ccel(log);
  QuotedRtmrs quoted;
  for (int i = 0; i < 4; ++i) {
    const auto& v = prediction.find(i)->values.at(HashAlg::sha384);
    CHECK(Bytes(values[i].begin(), values[i].end()) == v);
    quoted[i] = values[i];
  }
  CHECK(verify_ccel(prediction.registers, log, quoted).ok);
  quoted[2]->at(0) ^= 1;
  const VerifyReport q = verify_ccel(prediction.registers, log, quoted);
  CHECK_FALSE(q.ok);
  REQUIRE(reg(q, "rtmr2").findings.size() == 1);
  CHECK(reg(q, "rtmr2").findings[0].kind == FindingKind::quote_mismatch);
}

TEST_CASE("a changed cmdline is caught and the differing event is named", "[verify][tdx]") {
  const auto prediction = predict(ccel(Boot{}).w.data());
  SECTION("a different .cmdline section") {
    Boot boot;
    boot.section_cmdline = boot.load_options = "console=ttyS0 init=/bin/sh";
    const VerifyReport r = verify_ccel(prediction.registers, parse_ccel(ccel(boot).w.data()));
    CHECK_FALSE(r.ok);
    const RegisterReport& r2 = reg(r, "rtmr2");
    REQUIRE_FALSE(r2.findings.empty());
    CHECK(r2.findings[0].kind == FindingKind::digest_mismatch);
    CHECK(r2.findings[0].event_number == 5);
    CHECK(r2.findings[0].description.find(".cmdline") != std::string::npos);
    CHECK(reg(r, "rtmr1").ok);
  }
  SECTION("only the kernel's LoadOptions differ (e.g. QEMU -append)") {
    Boot boot;
    boot.load_options = "console=ttyS0 init=/bin/sh";
    const VerifyReport r = verify_ccel(prediction.registers, parse_ccel(ccel(boot).w.data()));
    const RegisterReport& r2 = reg(r, "rtmr2");
    REQUIRE(r2.findings.size() == 1);
    CHECK(r2.findings[0].event_number == 10);
    CHECK(r2.findings[0].description.find("LoadOptions") != std::string::npos);
    CHECK(render_text(r).find("LoadOptions") != std::string::npos);
  }
}

TEST_CASE("a changed initrd is caught and the differing event is named", "[verify][tdx]") {
  const auto prediction = predict(ccel(Boot{}).w.data());
  Boot boot;
  boot.initrd = "INITRD-with-a-backdoor";
  const VerifyReport r = verify_ccel(prediction.registers, parse_ccel(ccel(boot).w.data()));
  const RegisterReport& r2 = reg(r, "rtmr2");
  REQUIRE(r2.findings.size() == 2);
  CHECK(r2.findings[0].description.find(".initrd") != std::string::npos);
  CHECK(r2.findings[1].description.find("initrd") != std::string::npos);
  CHECK(r2.findings[1].event_number == 11);
}

TEST_CASE("RTMR0 calibration takes the MR index 1 digests of a CCEL, labelled", "[verify][tdx]") {
  const Bytes log = ccel(Boot{}).w.data();
  const auto cal = rtmr0_calibration_from_ccel(log, "host.ccel");
  CHECK(cal.log_sha256 == sha256_hex(log));
  REQUIRE(cal.events.size() == 2); // EV_NO_ACTION skipped
  CHECK(cal.events[0].digests.at(HashAlg::sha384) == h384("SecureBoot=0"));
  CHECK(cal.events[1].digests.at(HashAlg::sha384) == h384(Bytes{0, 0, 0, 0}));
  CHECK(cal.events[0].reg == "rtmr0");
  CHECK(cal.events[0].source.find(cal.log_sha256) != std::string::npos);
  // A log without RTMR0 events cannot calibrate.
  LogBuilder b;
  b.spec_id({{t::k_alg_sha384, 48}});
  b.event2(2, k_ev_separator, {{t::k_alg_sha384, h384(Bytes{0, 0, 0, 0})}}, Bytes{0, 0, 0, 0});
  CHECK_THROWS_AS(rtmr0_calibration_from_ccel(b.w.data()), Error);
}

TEST_CASE("CCEL-specific corruption gives clean input errors", "[verify][tdx]") {
  SECTION("a measured event for MR index 0 (MRTD)") {
    Boot boot;
    boot.rtmr0_index = 0;
    require_error(ccel(boot).w.data(), "MR index 0 (MRTD)");
  }
  SECTION("an MR index above 4") {
    Boot boot;
    boot.rtmr0_index = 5;
    require_error(ccel(boot).w.data(), "MR index 5 is not a TDX register");
  }
  SECTION("EV_NO_ACTION for MR index 9") {
    LogBuilder b;
    b.spec_id({{t::k_alg_sha384, 48}});
    b.event2(9, k_ev_no_action, {{t::k_alg_sha384, Bytes(48, 0)}}, as_bytes("x"));
    require_error(b.w.data(), "MR index 9");
  }
  SECTION("no sha384 bank") {
    LogBuilder b;
    b.spec_id({{t::k_alg_sha256, 32}});
    b.event2(2, k_ev_separator, {{t::k_alg_sha256, Bytes(32, 1)}}, Bytes{0, 0, 0, 0});
    require_error(b.w.data(), "no sha384");
  }
  SECTION("a sha384 bank announced but missing in an event") {
    LogBuilder b;
    b.spec_id({{t::k_alg_sha256, 32}, {t::k_alg_sha384, 48}});
    b.event2(2, k_ev_separator, {{t::k_alg_sha256, Bytes(32, 1)}}, Bytes{0, 0, 0, 0});
    require_error(b.w.data(), "no sha384 digest");
  }
  SECTION("a legacy SHA-1 log") {
    LogBuilder b;
    b.legacy_event(2, k_ev_separator, Bytes(20, 1), Bytes{0, 0, 0, 0});
    require_error(b.w.data(), "crypto-agile");
  }
  SECTION("the error names the record's offset") {
    Boot boot;
    boot.rtmr0_index = 7;
    const LogBuilder b = ccel(boot);
    require_error(b.w.data(), fmt::format("offset 0x{:x}", b.boundaries[0]));
  }
}

TEST_CASE("a CCEL with its all-0xFF tail parses, every cut inside a record fails cleanly",
          "[verify][tdx]") {
  const LogBuilder b = ccel(Boot{});
  Bytes padded = b.w.data();
  padded.resize(padded.size() + 4096, 0xff); // the CCEL area is larger than the log
  CHECK(parse_ccel(padded).events.size() == 22);
  for (std::size_t n = 0; n < b.w.data().size(); ++n) {
    const Bytes prefix(b.w.data().begin(), b.w.data().begin() + static_cast<std::ptrdiff_t>(n));
    const bool boundary =
        std::find(b.boundaries.begin(), b.boundaries.end(), n) != b.boundaries.end();
    try {
      parse_ccel(prefix);
      CHECK(boundary);
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::input);
      CHECK((!boundary || n == b.boundaries[0]));
    }
  }
}

TEST_CASE("verify_ccel only takes RTMR predictions", "[verify][tdx]") {
  measure::RegisterPrediction pcr;
  pcr.reg = "pcr4";
  pcr.index = 4;
  const EventLog log = parse_ccel(ccel(Boot{}).w.data());
  CHECK_THROWS_AS(verify_ccel({pcr}, log), Error);
  CHECK(ccel_index_for_rtmr(0) == 1);
  CHECK(ccel_index_for_rtmr(3) == 4);
  CHECK_THROWS_AS(ccel_index_for_rtmr(4), Error);
}
