#include <catch2/catch.hpp>

#include "log_builder.hpp"

#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/replay.hpp>
#include <tdximg/verify/tcg2_log.hpp>

using namespace tdximg;
using namespace tdximg::verify;
using tdximg::test::LogBuilder;
namespace t = tdximg::test;

namespace {

Bytes d(std::uint8_t b, std::size_t n) { return Bytes(n, b); }

Bytes startup_locality(std::uint8_t locality) {
  Bytes b = to_bytes(std::string_view("StartupLocality\0", 16));
  b.push_back(locality);
  return b;
}

// Crypto-agile log: Spec ID (sha256, sha384, SM3), StartupLocality 3, three measurements.
LogBuilder sample_log() {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}, {t::k_alg_sha384, 48}, {t::k_alg_sm3, 32}});
  b.event2(0, 3, {{t::k_alg_sha256, d(0, 32)}, {t::k_alg_sha384, d(0, 48)}, {t::k_alg_sm3, d(0, 32)}},
           startup_locality(3));
  b.event2(0, 8, {{t::k_alg_sha256, d(1, 32)}, {t::k_alg_sha384, d(1, 48)}, {t::k_alg_sm3, d(1, 32)}},
           as_bytes("crtm"));
  b.event2(4, 0x80000007, {{t::k_alg_sha256, d(2, 32)}, {t::k_alg_sha384, d(2, 48)}, {t::k_alg_sm3, d(2, 32)}},
           as_bytes("Calling EFI Application from Boot Option"));
  b.event2(4, 4, {{t::k_alg_sm3, d(3, 32)}, {t::k_alg_sha256, d(3, 32)}, {t::k_alg_sha384, d(3, 48)}},
           Bytes(4, 0));
  return b;
}

void require_input_error(ByteSpan log, std::string_view needle) {
  try {
    parse_tcg2_log(log, "log");
    FAIL("expected an error containing: " << needle);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    INFO(e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

} // namespace

TEST_CASE("a crypto-agile log parses with its Spec ID algorithms and every record",
          "[verify]") {
  const LogBuilder b = sample_log();
  const EventLog log = parse_tcg2_log(b.w.data());
  CHECK(log.format == LogFormat::crypto_agile);
  REQUIRE(log.algorithms.size() == 3);
  CHECK(log.algorithms[2].alg_id == t::k_alg_sm3);
  CHECK(log.banks == std::vector<HashAlg>{HashAlg::sha256, HashAlg::sha384});
  REQUIRE(log.events.size() == 4);
  CHECK(log.locality == 3);
  CHECK(log.events[2].index == 4);
  CHECK(log.events[2].type == 0x80000007u);
  CHECK(log.events[3].digests.at(HashAlg::sha384) == d(3, 48)); // digest order is free
  CHECK(log.events[3].digests.count(HashAlg::sha1) == 0);
  CHECK(as_chars(log.events[2].data) == "Calling EFI Application from Boot Option");
  CHECK(log.events[1].offset == b.boundaries[1]);
  CHECK(log.padding_bytes == 0);
}

TEST_CASE("replay extends per bank, skips EV_NO_ACTION and starts PCR 0 at the locality",
          "[verify]") {
  const EventLog log = parse_tcg2_log(sample_log().w.data());
  const RegisterValues v = replay(log);
  Bytes pcr0(32, 0);
  pcr0.back() = 3;
  pcr0 = extend(HashAlg::sha256, pcr0, d(1, 32));
  CHECK(v.at(0).at(HashAlg::sha256) == pcr0);
  Bytes pcr4(48, 0);
  pcr4 = extend(HashAlg::sha384, pcr4, d(2, 48));
  pcr4 = extend(HashAlg::sha384, pcr4, d(3, 48));
  CHECK(v.at(4).at(HashAlg::sha384) == pcr4);
  CHECK(v.count(7) == 0);
}

TEST_CASE("a legacy SHA1 log parses without and with a Spec ID Event00 header", "[verify]") {
  LogBuilder plain;
  plain.legacy_event(0, 8, d(1, 20), as_bytes("crtm"));
  plain.legacy_event(4, 4, d(2, 20), Bytes(4, 0));
  EventLog log = parse_tcg2_log(plain.w.data());
  CHECK(log.format == LogFormat::sha1_legacy);
  CHECK(log.banks == std::vector<HashAlg>{HashAlg::sha1});
  REQUIRE(log.events.size() == 2);
  CHECK(log.events[0].digests.at(HashAlg::sha1) == d(1, 20));

  LogBuilder old;
  old.spec_id({{t::k_alg_sha1, 20}}, "Spec ID Event00");
  old.legacy_event(4, 4, d(2, 20), Bytes(4, 0));
  log = parse_tcg2_log(old.w.data());
  CHECK(log.format == LogFormat::sha1_legacy);
  REQUIRE(log.events.size() == 1);
  CHECK(log.events[0].index == 4);
}

TEST_CASE("a zero-length log is refused", "[verify]") {
  require_input_error({}, "empty event log");
  require_input_error(Bytes(64, 0), "no events");
}

TEST_CASE("a bad Spec ID header is refused", "[verify]") {
  LogBuilder zero_algs;
  zero_algs.spec_id({});
  require_input_error(zero_algs.w.data(), "numberOfAlgorithms");
  LogBuilder wrong_size;
  wrong_size.spec_id({{t::k_alg_sha256, 20}});
  require_input_error(wrong_size.w.data(), "digestSize");
  LogBuilder twice;
  twice.spec_id({{t::k_alg_sha256, 32}, {t::k_alg_sha256, 32}});
  require_input_error(twice.w.data(), "listed twice");
  // Header record cut inside its fixed fields.
  require_input_error(ByteSpan(sample_log().w.data()).first(30), "event 0 EventSize");
}

TEST_CASE("a digest with an algorithm not in the Spec ID event is refused", "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  b.event2(4, 4, {{t::k_alg_sha384, d(1, 48)}}, Bytes(4, 0));
  require_input_error(b.w.data(), "algorithm 0x000c is not in the Spec ID event");
}

TEST_CASE("a digest count above the Spec ID algorithm count is refused", "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  b.event2(4, 4, {{t::k_alg_sha256, d(1, 32)}, {t::k_alg_sha256, d(1, 32)}}, Bytes(4, 0));
  require_input_error(b.w.data(), "2 digests, but the Spec ID event lists 1");
  LogBuilder dup;
  dup.spec_id({{t::k_alg_sha256, 32}, {t::k_alg_sha384, 48}});
  dup.event2(4, 4, {{t::k_alg_sha256, d(1, 32)}, {t::k_alg_sha256, d(1, 32)}}, Bytes(4, 0));
  require_input_error(dup.w.data(), "appears twice");
}

TEST_CASE("huge digest and algorithm counts are refused before any allocation", "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  b.event2(4, 4, {{t::k_alg_sha256, d(1, 32)}}, Bytes(4, 0), 0xFFFFFFFF);
  require_input_error(b.w.data(), "event 1 digest count");
  LogBuilder h;
  h.spec_id({{t::k_alg_sha256, 32}}, "Spec ID Event03", 0xFFFFFFFF);
  require_input_error(h.w.data(), "numberOfAlgorithms");
}

TEST_CASE("an event size past the end of the log is refused", "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  b.event2(4, 4, {{t::k_alg_sha256, d(1, 32)}}, Bytes(4, 0));
  Bytes log = b.w.take();
  // Patch EventSize of the last record (4 bytes before its 4 data bytes) to 0xFFFFFF00.
  ByteWriter w(std::move(log));
  w.patch_u32le(w.size() - 8, 0xFFFFFF00u);
  require_input_error(w.data(), "event 1 Event");
}

TEST_CASE("a truncated digest is refused", "[verify]") {
  LogBuilder b;
  b.spec_id({{t::k_alg_sha256, 32}});
  const std::size_t start = b.w.size();
  b.event2(4, 4, {{t::k_alg_sha256, d(1, 32)}}, Bytes(4, 0));
  // PCRIndex, EventType, count, AlgId = 14 bytes, then 10 of the 32 digest bytes.
  require_input_error(ByteSpan(b.w.data()).first(start + 14 + 10), "event 1 digest 0");
}

TEST_CASE("an all-0x00 or all-0xFF tail ends the log; other trailing bytes do not",
          "[verify]") {
  for (std::uint8_t fill : {std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
    LogBuilder b = sample_log();
    b.w.bytes(Bytes(4096, fill));
    const EventLog log = parse_tcg2_log(b.w.data());
    CHECK(log.events.size() == 4);
    CHECK(log.padding_bytes == 4096);
  }
  LogBuilder b = sample_log();
  b.w.bytes(Bytes(16, 0));
  b.w.u8(0x42);
  CHECK_THROWS_AS(parse_tcg2_log(b.w.data()), Error);
}

TEST_CASE("every prefix of a valid log parses to its whole records or fails cleanly",
          "[verify]") {
  const LogBuilder b = sample_log();
  const Bytes& full = b.w.data();
  for (std::size_t len = 0; len <= full.size(); ++len) {
    const ByteSpan prefix = ByteSpan(full).first(len);
    std::size_t whole = 0; // complete records after the header
    for (std::size_t i = 1; i < b.boundaries.size(); ++i)
      if (b.boundaries[i] <= len) whole = i;
    try {
      const EventLog log = parse_tcg2_log(prefix);
      // Parsed: either at a record boundary or the cut-off rest looks like padding.
      CHECK(log.events.size() == whole);
      CHECK(b.boundaries[whole] + log.padding_bytes == len);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK(std::find(b.boundaries.begin(), b.boundaries.end(), len) == b.boundaries.end());
    }
  }
}
