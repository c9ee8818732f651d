#include <catch2/catch.hpp>

#include <tdximg/measure/export.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

PcrPrediction sample(std::vector<HashAlg> banks) {
  UkiMeasureInput u;
  u.stub_major = 257;
  u.sections = {{".linux", to_bytes("MZ")}, {".cmdline", to_bytes("console=ttyS0")},
                {".initrd", to_bytes("initrd")}};
  u.uki_authenticode = {{HashAlg::sha256, Bytes(32, 1)}, {HashAlg::sha384, Bytes(48, 1)}};
  u.linux_authenticode = {{HashAlg::sha256, Bytes(32, 2)}, {HashAlg::sha384, Bytes(48, 2)}};
  BootConfig cfg;
  cfg.banks = std::move(banks);
  cfg.platform = Platform::azure;
  return predict_pcrs(u, cfg);
}

} // namespace

TEST_CASE("the attested-tls export has cvm-reverse-proxy's schema with sha256 PCR 4/9/11",
          "[measure]") {
  // Schema: flashbots cvm-reverse-proxy measurements.json (tdx-measurements.md §3.1).
  const PcrPrediction p = sample({HashAlg::sha256, HashAlg::sha384});
  const nlohmann::json j = to_attested_tls(p, "my-image-v1");
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  CHECK(j[0]["measurement_id"] == "my-image-v1");
  CHECK(j[0]["attestation_type"] == "azure-tdx");
  const auto& m = j[0]["measurements"];
  CHECK(m.size() == 3);
  CHECK(m["4"]["expected"] == to_hex(p.registers[0].values.at(HashAlg::sha256)));
  CHECK(m["9"]["expected"] == to_hex(p.registers[1].values.at(HashAlg::sha256)));
  CHECK(m["11"]["expected"] == to_hex(p.registers[2].values.at(HashAlg::sha256)));
  // Pinning PCR 11 at a later phase gives that phase's value.
  const nlohmann::json ready = to_attested_tls(p, "x", "azure-tdx", default_phase_paths().back());
  CHECK(ready[0]["measurements"]["11"]["expected"] ==
        to_hex(p.pcr11_phases.back().values.at(HashAlg::sha256)));
  CHECK_THROWS_AS(to_attested_tls(sample({HashAlg::sha384}), "x"), Error);
}

TEST_CASE("tdximg's prediction JSON names platform, rules and unverified registers",
          "[measure]") {
  const nlohmann::json j = to_json(sample({HashAlg::sha256}));
  CHECK(j["platform"] == "azure");
  CHECK(j["stub_rules_major"] == 257);
  CHECK(j["registers"].size() == 5);
  CHECK(j["registers"][0]["verified_platform"] == false);
  CHECK(j["pcr11_phases"][0]["path"] == "");
  CHECK(j["banks"] == nlohmann::json::array({"sha256"}));
  // Deterministic: the same prediction serializes to the same bytes.
  CHECK(j.dump() == to_json(sample({HashAlg::sha256})).dump());
}
