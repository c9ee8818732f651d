#pragma once
// Exports of a PcrPrediction in the formats other tools consume, and tdximg's own
// measurements.json building block.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/measure/pcr.hpp>

namespace tdximg::measure {

// tdximg's own form: {"stub_rules_major","platform","secure_boot","banks",
// "registers":[RegisterPrediction...],"pcr11_phases":[{"path","values"}],"notes"}.
nlohmann::json to_json(const PcrPrediction& prediction);

// flashbots cvm-reverse-proxy / attested-tls-proxy entry list:
// [{"measurement_id": id, "attestation_type": type, "measurements": {"4": {"expected": hex},
// "9": ..., "11": ...}}] with sha256 values. `pcr11_phase` picks which PCR 11 value to pin
// ("" = stub only; e.g. "enter-initrd" for a quote taken in the initrd).
// Throws ErrorKind::input if the sha256 bank was not predicted or the phase is unknown.
nlohmann::json to_attested_tls(const PcrPrediction& prediction, std::string_view measurement_id,
                               std::string_view attestation_type = "azure-tdx",
                               std::string_view pcr11_phase = "");

// `systemd-measure calculate --json` form: {"<bank>":[{"phase":path,"pcr":11,"hash":hex},..]}
// for each phase path (default: systemd-measure's four). The "phase" key is omitted for ""
// (":"). Throws ErrorKind::input for a path not in prediction.pcr11_phases unless computable.
nlohmann::json to_systemd_measure(const PcrPrediction& prediction,
                                  const std::vector<std::string>& phase_paths =
                                      default_phase_paths());

} // namespace tdximg::measure
