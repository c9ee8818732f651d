// Exports of a TdxPrediction. Formats: flashbots cvm-reverse-proxy / attested-tls-proxy
// measurement entries (common/expected_measurements.go; dcap-tdx index 0 = MRTD, i + 1 =
// RTMR i per internal/attestation/tdx/validator.go) and dstack-mr's summary keys
// (reference tdx-measurements.md §3).

#include <tdximg/measure/tdx_export.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::measure {

namespace {

std::optional<Bytes> rtmr_value(const TdxPrediction& p, int rtmr) {
  const RegisterPrediction* r = p.find(rtmr);
  if (r == nullptr) return std::nullopt;
  const auto it = r->values.find(HashAlg::sha384);
  if (it == r->values.end()) return std::nullopt;
  return it->second;
}

nlohmann::json hex_or_null(const std::optional<Bytes>& v) {
  return v ? nlohmann::json(to_hex(*v)) : nlohmann::json(nullptr);
}

std::optional<Bytes> mrtd_value(const TdxPrediction& p) {
  if (!p.mrtd) return std::nullopt;
  return Bytes(p.mrtd->begin(), p.mrtd->end());
}

} // namespace

TdxRegisterSelection parse_register_selection(std::string_view list) {
  TdxRegisterSelection s{false, false, false, false, false};
  std::size_t pos = 0;
  bool any = false;
  while (pos <= list.size()) {
    const std::size_t comma = list.find(',', pos);
    const std::string_view item =
        list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (item == "mrtd" || item == "0")
      s.mrtd = true;
    else if (item == "rtmr0" || item == "1")
      s.rtmr0 = true;
    else if (item == "rtmr1" || item == "2")
      s.rtmr1 = true;
    else if (item == "rtmr2" || item == "3")
      s.rtmr2 = true;
    else if (item == "rtmr3" || item == "4")
      s.rtmr3 = true;
    else if (item == "all")
      s = {true, true, true, true, true};
    else
      fail(ErrorKind::usage, "unknown TDX register '{}' (expected mrtd, rtmr0..rtmr3, 0..4 or all)",
           item);
    any = true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (!any) fail(ErrorKind::usage, "empty TDX register selection");
  return s;
}

nlohmann::json to_json(const TdxPrediction& p) {
  nlohmann::json regs = nlohmann::json::array();
  for (const RegisterPrediction& r : p.registers)
    regs.push_back(to_json(r));
  nlohmann::json values{{"mrtd", hex_or_null(mrtd_value(p))},
                        {"rtmr0", hex_or_null(rtmr_value(p, 0))},
                        {"rtmr1", hex_or_null(rtmr_value(p, 1))},
                        {"rtmr2", hex_or_null(rtmr_value(p, 2))},
                        {"rtmr3", hex_or_null(rtmr_value(p, 3))}};
  return {{"vm_shape", p.vm_shape},
          {"boot_mode", std::string(boot_mode_name(p.mode))},
          {"stub_rules_major", p.stub_rules_major},
          {"mrtd", hex_or_null(mrtd_value(p))},
          {"page_order", std::string(page_order_name(p.page_order))},
          {"firmware_sha256", p.firmware_sha256},
          {"rtmr0_pinned", p.rtmr0_pinned},
          {"rtmr0_source", p.rtmr0_source},
          {"registers", std::move(regs)},
          {"values", std::move(values)},
          {"notes", p.notes}};
}

nlohmann::json to_attested_tls_dcap(const TdxPrediction& p, std::string_view measurement_id,
                                    const TdxRegisterSelection& selection) {
  nlohmann::json m = nlohmann::json::object();
  auto add = [&](bool selected, const char* key, const std::optional<Bytes>& v,
                 std::string_view label, std::string_view why) {
    if (!selected) return;
    if (!v)
      fail(ErrorKind::input, "attested-tls export '{}': {} is selected but {}", measurement_id,
           label, why);
    m[key] = {{"expected", to_hex(*v)}};
  };
  add(selection.mrtd, "0", mrtd_value(p), "MRTD", "no firmware was given");
  add(selection.rtmr0, "1", rtmr_value(p, 0), "RTMR0",
      "it is unpinned (calibrate it from a CCEL of the target host and VM shape)");
  add(selection.rtmr1, "2", rtmr_value(p, 1), "RTMR1", "it was not predicted");
  add(selection.rtmr2, "3", rtmr_value(p, 2), "RTMR2", "it was not predicted");
  add(selection.rtmr3, "4", rtmr_value(p, 3), "RTMR3", "it was not predicted");
  if (m.empty())
    fail(ErrorKind::usage, "attested-tls export '{}': no register selected", measurement_id);
  return {{"measurement_id", std::string(measurement_id)},
          {"attestation_type", "dcap-tdx"},
          {"measurements", std::move(m)}};
}

nlohmann::json to_attested_tls_dcap(const std::vector<TdxPrediction>& predictions,
                                    std::string_view id_prefix,
                                    const TdxRegisterSelection& selection) {
  nlohmann::json out = nlohmann::json::array();
  for (const TdxPrediction& p : predictions) {
    const std::string id =
        p.vm_shape.empty() ? std::string(id_prefix) : fmt::format("{}-{}", id_prefix, p.vm_shape);
    out.push_back(to_attested_tls_dcap(p, id, selection));
  }
  return out;
}

nlohmann::json to_dstack_mr(const TdxPrediction& p) {
  return {{"mrtd", hex_or_null(mrtd_value(p))},
          {"rtmr0", hex_or_null(rtmr_value(p, 0))},
          {"rtmr1", hex_or_null(rtmr_value(p, 1))},
          {"rtmr2", hex_or_null(rtmr_value(p, 2))}};
}

} // namespace tdximg::measure
