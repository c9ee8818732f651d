// Exports of a PcrPrediction: tdximg's measurements.json block, the flashbots
// cvm-reverse-proxy / attested-tls-proxy list (common/expected_measurements.go, schema v2),
// and systemd-measure calculate --json (src/boot/measure.c, v252..v256).

#include <tdximg/measure/export.hpp>

#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::measure {

namespace {

const RegisterPrediction& find_register(const PcrPrediction& p, int index) {
  for (const RegisterPrediction& r : p.registers)
    if (r.index == index) return r;
  fail(ErrorKind::input, "PCR prediction: no PCR {} predicted", index);
}

const Bytes& bank_value(const DigestMap& values, HashAlg alg, std::string_view what) {
  const auto it = values.find(alg);
  if (it == values.end())
    fail(ErrorKind::input, "PCR prediction: {}: the {} bank was not predicted", what,
         hash_name(alg));
  return it->second;
}

DigestMap phase_values(const PcrPrediction& p, std::string_view path) {
  for (const PhaseValue& v : p.pcr11_phases)
    if (v.path == path) return v.values;
  // Any other path is computable from the stub-only value.
  for (const PhaseValue& v : p.pcr11_phases)
    if (v.path.empty()) return extend_phase_path(v.values, path);
  fail(ErrorKind::input, "PCR prediction: no PCR 11 stub value to extend phase '{}'", path);
}

} // namespace

nlohmann::json to_json(const PcrPrediction& prediction) {
  nlohmann::json banks = nlohmann::json::array();
  for (HashAlg alg : prediction.banks) banks.push_back(std::string(hash_name(alg)));
  nlohmann::json registers = nlohmann::json::array();
  for (const RegisterPrediction& r : prediction.registers) registers.push_back(to_json(r));
  nlohmann::json phases = nlohmann::json::array();
  for (const PhaseValue& v : prediction.pcr11_phases)
    phases.push_back(nlohmann::json{{"path", v.path}, {"values", to_json(v.values)}});
  return nlohmann::json{{"stub_rules_major", prediction.stub_rules_major},
                        {"platform", std::string(platform_name(prediction.platform))},
                        {"secure_boot", prediction.secure_boot},
                        {"banks", std::move(banks)},
                        {"registers", std::move(registers)},
                        {"pcr11_phases", std::move(phases)},
                        {"notes", prediction.notes}};
}

nlohmann::json to_attested_tls(const PcrPrediction& prediction, std::string_view measurement_id,
                               std::string_view attestation_type, std::string_view pcr11_phase) {
  // cvm-reverse-proxy azure-tdx: vTPM PCR numbers as string keys, SHA-256 values.
  nlohmann::json measurements = nlohmann::json::object();
  for (int index : {4, 9}) {
    const Bytes& v = bank_value(find_register(prediction, index).values, HashAlg::sha256,
                                fmt::format("PCR {}", index));
    measurements[std::to_string(index)] = nlohmann::json{{"expected", to_hex(v)}};
  }
  const DigestMap pcr11 = phase_values(prediction, pcr11_phase);
  measurements["11"] =
      nlohmann::json{{"expected", to_hex(bank_value(pcr11, HashAlg::sha256, "PCR 11"))}};
  nlohmann::json entry{{"measurement_id", std::string(measurement_id)},
                       {"attestation_type", std::string(attestation_type)},
                       {"measurements", std::move(measurements)}};
  return nlohmann::json::array({std::move(entry)});
}

nlohmann::json to_systemd_measure(const PcrPrediction& prediction,
                                  const std::vector<std::string>& phase_paths) {
  nlohmann::json out = nlohmann::json::object();
  for (HashAlg alg : prediction.banks) {
    nlohmann::json list = nlohmann::json::array();
    for (const std::string& path : phase_paths) {
      const DigestMap values = phase_values(prediction, path);
      nlohmann::json item = nlohmann::json::object();
      // measure.c: the "phase" key is left out for the empty phase (":").
      if (!path.empty() && path != ":") item["phase"] = path;
      item["pcr"] = 11;
      item["hash"] = to_hex(bank_value(values, alg, "PCR 11"));
      list.push_back(std::move(item));
    }
    out[std::string(hash_name(alg))] = std::move(list);
  }
  return out;
}

} // namespace tdximg::measure
