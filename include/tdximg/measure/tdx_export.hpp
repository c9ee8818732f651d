#pragma once
// Exports of a TdxPrediction: tdximg's measurements.json block, the attested-TLS / cvm-reverse-
// proxy `dcap-tdx` entry ("0" = MRTD, "1".."4" = RTMR0..3) and a dstack-mr style summary.

#include <nlohmann/json.hpp>
#include <string_view>
#include <tdximg/measure/rtmr.hpp>
#include <vector>

namespace tdximg::measure {

// Which registers an exported policy pins. Default: MRTD, RTMR1, RTMR2 (RTMR0 only when the
// operator calibrated it; RTMR3 is zero at boot but extended by userspace later).
struct TdxRegisterSelection {
  bool mrtd = true;
  bool rtmr0 = false;
  bool rtmr1 = true;
  bool rtmr2 = true;
  bool rtmr3 = false;
};

// Parses "mrtd,rtmr1,rtmr2" (also "0".."4", "all"). Throws ErrorKind::usage for unknown names.
TdxRegisterSelection parse_register_selection(std::string_view list);

// tdximg's form: {"vm_shape","boot_mode","stub_rules_major","mrtd":hex|null,"page_order",
// "firmware_sha256","rtmr0_pinned","rtmr0_source","registers":[RegisterPrediction...],
// "values":{"mrtd","rtmr0"|null,"rtmr1","rtmr2","rtmr3"},"notes":[...]}. Never throws.
nlohmann::json to_json(const TdxPrediction& prediction);

// One attested-TLS entry: {"measurement_id": id, "attestation_type": "dcap-tdx",
// "measurements": {"0": {"expected": hex}, "2": ..., "3": ...}} for the selected registers.
// Throws ErrorKind::input if a selected register is not available (no firmware -> no MRTD;
// RTMR0 unpinned).
nlohmann::json to_attested_tls_dcap(const TdxPrediction& prediction,
                                    std::string_view measurement_id,
                                    const TdxRegisterSelection& selection = {});

// Several VM shapes -> several entries (array), ids "<id_prefix>-<vm_shape>" ("<id_prefix>"
// when the shape is unnamed). Throws like to_attested_tls_dcap.
nlohmann::json to_attested_tls_dcap(const std::vector<TdxPrediction>& predictions,
                                    std::string_view id_prefix,
                                    const TdxRegisterSelection& selection = {});

// dstack-mr style: {"mrtd": hex, "rtmr0": hex|null, "rtmr1": hex, "rtmr2": hex} (null for an
// unavailable value). Never throws.
nlohmann::json to_dstack_mr(const TdxPrediction& prediction);

} // namespace tdximg::measure
