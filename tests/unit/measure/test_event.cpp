#include <catch2/catch.hpp>

#include <tdximg/measure/event.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {
Event digest_only(std::string reg, int index, std::uint32_t type, HashAlg alg, Bytes d) {
  Event e;
  e.reg = std::move(reg);
  e.index = index;
  e.type = type;
  e.digests[alg] = std::move(d);
  return e;
}
} // namespace

TEST_CASE("replay reproduces flashbots TestExtendPCR (separator, then action)", "[measure]") {
  // Oracle: flashbots/measured-boot measure/*_test.go TestExtendPCR (see PROVENANCE.md).
  const HashAlg banks[] = {HashAlg::sha256};
  std::vector<Event> events;
  const Bytes sep{0, 0, 0, 0};
  events.push_back(hashed_event("pcr4", 4, ev::k_separator, sep, banks, "separator", "test"));
  CHECK(to_hex(replay(events, banks).at(HashAlg::sha256)) ==
        "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
  events.push_back(hashed_event("pcr4", 4, ev::k_efi_action,
                                as_bytes("Calling EFI Application from Boot Option"), banks,
                                "action", "test"));
  CHECK(to_hex(replay(events, banks).at(HashAlg::sha256)) ==
        "dd50c8da0f899f655b4305d2438663c1b3da6d1922a0c8226533ac417abcd523");
}

TEST_CASE("replay skips EV_NO_ACTION events and starts every bank at zero", "[measure]") {
  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  std::vector<Event> none;
  const DigestMap zero = replay(none, banks);
  CHECK(zero.at(HashAlg::sha256) == Bytes(32, 0));
  CHECK(zero.at(HashAlg::sha384) == Bytes(48, 0));

  std::vector<Event> events;
  events.push_back(hashed_event("pcr0", 0, ev::k_no_action, as_bytes("StartupLocality"), banks,
                                "no action", "test"));
  CHECK(replay(events, banks) == zero);
}

TEST_CASE("replay refuses an event without a digest for a requested bank", "[measure]") {
  const HashAlg sha384[] = {HashAlg::sha384};
  std::vector<Event> events{digest_only("pcr4", 4, ev::k_separator, HashAlg::sha256, Bytes(32, 1))};
  CHECK_THROWS_AS(replay(events, sha384), Error);
  std::vector<Event> short_digest{
      digest_only("pcr4", 4, ev::k_separator, HashAlg::sha384, Bytes(32, 1))};
  CHECK_THROWS_AS(replay(short_digest, sha384), Error);
}

TEST_CASE("TDX maps PCRs to RTMRs as UEFI MapPcrToMrIndex does", "[measure]") {
  // UEFI 2.10 §38.4.1 table (quoted in tdx-measurements.md §2.1).
  CHECK(cc_mr_index_for_pcr(0) == 0);
  CHECK(rtmr_for_pcr(0) == std::nullopt);
  CHECK(rtmr_for_pcr(1) == 0);
  CHECK(rtmr_for_pcr(7) == 0);
  for (int pcr = 2; pcr <= 6; ++pcr) CHECK(rtmr_for_pcr(pcr) == 1);
  for (int pcr = 8; pcr <= 15; ++pcr) CHECK(rtmr_for_pcr(pcr) == 2);
  CHECK_THROWS_AS(rtmr_for_pcr(16), Error);
  CHECK_THROWS_AS(rtmr_for_pcr(-1), Error);
  CHECK(pcr_name(11) == "pcr11");
  CHECK(rtmr_name(2) == "rtmr2");
}

TEST_CASE("predictions survive a JSON round trip with lowercase hex and sorted keys",
          "[measure]") {
  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  std::vector<Event> events;
  events.push_back(hashed_event("rtmr1", 1, ev::k_efi_action, as_bytes("x"), banks, "desc",
                                "rule"));
  const RegisterPrediction p = make_prediction("rtmr1", 1, events, banks, false, "a note");
  const nlohmann::json j = to_json(p);
  const std::string text = j.dump();
  CHECK(text.find("\"sha256\":\"" + to_hex(p.values.at(HashAlg::sha256)) + "\"") !=
        std::string::npos);
  const std::string hex384 = j["values"]["sha384"];
  CHECK(hex384.size() == 96);
  CHECK(hex384.find_first_of("ABCDEF") == std::string::npos);
  CHECK(j.dump() == nlohmann::json::parse(text).dump()); // keys already in sorted order
  CHECK(prediction_from_json(j) == p);
  CHECK(j["events"][0]["type_name"] == "EV_EFI_ACTION");
}

TEST_CASE("prediction JSON with a wrong-sized digest or missing field is refused",
          "[measure]") {
  nlohmann::json j = nlohmann::json::parse(R"({"reg":"pcr4","index":4,"type":5,
      "digests":{"sha256":"00"},"description":"d","source":"s"})");
  CHECK_THROWS_AS(event_from_json(j), Error);
  j["digests"] = {{"sha256", std::string(64, '0')}};
  CHECK_NOTHROW(event_from_json(j));
  j["digests"] = {{"md5", std::string(32, '0')}};
  CHECK_THROWS_AS(event_from_json(j), Error);
  j.erase("digests");
  CHECK_THROWS_AS(event_from_json(j), Error);
}
