#include <catch2/catch.hpp>

#include <sstream>

#include <tdximg/measure/event.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/compare.hpp>
#include <tdximg/verify/replay.hpp>
#include <tdximg/verify/tcg2_log.hpp>

using namespace tdximg;
using namespace tdximg::verify;

namespace {

const fs::path k_data = fs::path(TDXIMG_SOURCE_DIR) / "tests/data/verify";

// "PCR <bank> <index> <hex>" lines as the e2e probe printed them from the guest's TPM.
QuotedValues read_tpm_pcrs(const fs::path& path) {
  QuotedValues q;
  std::istringstream in(read_text_file(path));
  std::string tag, bank, hex;
  std::uint32_t index = 0;
  while (in >> tag >> bank >> index >> hex) q[index][parse_hash_name(bank)] = from_hex(hex);
  return q;
}

} // namespace

TEST_CASE("a real swtpm event log (Debian 12 UKI boot) replays to the TPM's own PCR values",
          "[verify]") {
  const EventLog log = parse_tcg2_log(read_file(k_data / "bookworm-252-swtpm.eventlog"));
  CHECK(log.format == LogFormat::crypto_agile);
  CHECK(log.banks == std::vector<HashAlg>{HashAlg::sha256, HashAlg::sha384});
  CHECK(log.padding_bytes == 0);
  const QuotedValues tpm = read_tpm_pcrs(k_data / "bookworm-252-swtpm.pcrs");
  REQUIRE(tpm.size() == 24);
  const RegisterValues replayed = replay(log);
  CHECK(replayed.size() > 5);
  for (const auto& [index, banks] : replayed)
    for (const auto& [alg, value] : banks) {
      INFO("PCR " << index << " " << hash_name(alg));
      CHECK(to_hex(value) == to_hex(tpm.at(index).at(alg)));
    }
  // PCR 4 holds exactly action, separator, UKI, kernel on this boot.
  std::vector<std::uint32_t> pcr4;
  for (const LogEvent& e : log.events)
    if (e.index == 4) pcr4.push_back(e.type);
  CHECK(pcr4 == std::vector<std::uint32_t>{0x80000007, 4, 0x80000003, 0x80000003});
}

TEST_CASE("verify flags a real log whose quoted PCR value was altered", "[verify]") {
  const EventLog log = parse_tcg2_log(read_file(k_data / "bookworm-252-swtpm.eventlog"));
  QuotedValues tpm = read_tpm_pcrs(k_data / "bookworm-252-swtpm.pcrs");
  // A prediction equal to the log's own PCR 12 (empty) and the TPM's values: consistent.
  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  const auto pcr12 = measure::make_prediction("pcr12", 12, {}, banks);
  CHECK(verify::verify({pcr12}, log, tpm).ok);
  tpm[12][HashAlg::sha256][0] ^= 1;
  const VerifyReport r = verify::verify({pcr12}, log, tpm);
  CHECK_FALSE(r.ok);
  REQUIRE(r.registers[0].findings.size() == 1);
  CHECK(r.registers[0].findings[0].kind == FindingKind::quote_mismatch);
}

TEST_CASE("every prefix of the real log parses to whole records or fails cleanly", "[verify]") {
  const Bytes full = read_file(k_data / "bookworm-252-swtpm.eventlog");
  const std::size_t whole_events = parse_tcg2_log(full).events.size();
  for (std::size_t len = 0; len < full.size(); ++len) {
    try {
      const EventLog log = parse_tcg2_log(ByteSpan(full).first(len));
      CHECK(log.events.size() < whole_events + 1);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}
