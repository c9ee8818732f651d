// `tdximg measure FILE`, `tdximg verify`, `tdximg inspect FILE`.
#include <cstdio>

#include <fmt/format.h>

#include <tdximg/measure/export.hpp>
#include <tdximg/measure/pcr.hpp>
#include <tdximg/pipeline/inspect.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "app.hpp"

namespace tdximg::cli {

namespace {

// Indented "key: value" text for a JSON report; arrays of objects become numbered items.
void render_tree(const nlohmann::json& j, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = j.is_object() ? it.key() : fmt::format("[{}]", &*it - &*j.begin());
    const auto& v = it.value();
    if (v.is_object() || (v.is_array() && !v.empty() && (v.front().is_object() || v.front().is_array()))) {
      std::printf("%s%s:\n", pad.c_str(), key.c_str());
      render_tree(v, indent + 2);
    } else if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (s.find('\n') != std::string::npos) {
        std::printf("%s%s: |\n", pad.c_str(), key.c_str());
        std::size_t start = 0;
        while (start < s.size()) {
          const auto nl = s.find('\n', start);
          std::printf("%s  %s\n", pad.c_str(), s.substr(start, nl - start).c_str());
          if (nl == std::string::npos) break;
          start = nl + 1;
        }
      } else {
        std::printf("%s%s: %s\n", pad.c_str(), key.c_str(), s.c_str());
      }
    } else {
      std::printf("%s%s: %s\n", pad.c_str(), key.c_str(), v.dump().c_str());
    }
  }
}

} // namespace

Runner add_measure(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("measure", "Predict the measurements of an existing UKI or disk image");
  struct Opts {
    std::string file;
    std::vector<std::string> platforms{"qemu", "azure"};
    std::vector<std::string> secure_boot{"off", "on"};
    std::string format = "tdximg";
    std::string config = "qemu-sb-off";
    std::string measurement_id;
    std::string pcr11_phase;
    std::string firmware;
    std::string vmm = "qemu";
    std::vector<std::string> efi_vars;
    std::string db_cert;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("file", o->file, "UKI (.efi), raw disk or VHD")->required();
  cmd->add_option("--platform", o->platforms, "Platforms: qemu, azure")->delimiter(',');
  cmd->add_option("--secure-boot", o->secure_boot, "Secure Boot states: off, on")->delimiter(',');
  cmd->add_option("--format", o->format, "tdximg (default), attested-tls, systemd-measure")
      ->check(CLI::IsMember({"tdximg", "attested-tls", "systemd-measure"}));
  cmd->add_option("--config", o->config, "Configuration to export (e.g. azure-sb-on) for attested-tls / systemd-measure");
  cmd->add_option("--measurement-id", o->measurement_id, "measurement_id for attested-tls (default: file name + config)");
  cmd->add_option("--pcr11-phase", o->pcr11_phase, "PCR 11 phase to pin for attested-tls (default: stub only)");
  cmd->add_option("--firmware", o->firmware, "TDVF/OVMF firmware (e.g. OVMF.fd): also predict TDX MRTD and RTMR0-3");
  cmd->add_option("--vmm", o->vmm, "MRTD page order: qemu (single pass) or qemu-8-two-pass")
      ->check(CLI::IsMember({"qemu", "qemu-8-two-pass"}));
  cmd->add_option("--efi-vars", o->efi_vars,
                  "OVMF variable store (e.g. OVMF_VARS_4M.fd): also predict PCR 7 for the qemu "
                  "configuration of the Secure Boot state it implies (PK enrolled: on); repeat "
                  "for the other state");
  cmd->add_option("--db-cert", o->db_cert,
                  "Secure Boot on, unsigned UKI: the db certificate (PEM or DER) that will sign it");
  return [&g, o] {
    pipeline::MeasureRequest req;
    req.platforms = o->platforms;
    req.secure_boot.clear();
    for (const auto& s : o->secure_boot) {
      if (s != "on" && s != "off") fail(ErrorKind::usage, "--secure-boot: expected on or off, got '{}'", s);
      req.secure_boot.push_back(s == "on");
    }
    if (!o->firmware.empty()) req.firmware = o->firmware;
    req.vmm = o->vmm;
    if (o->format != "tdximg" && (!o->efi_vars.empty() || !o->db_cert.empty()))
      fail(ErrorKind::usage, "--efi-vars/--db-cert: PCR 7 is written only with --format tdximg (the {} export has no PCR 7)", o->format);
    for (const auto& f : o->efi_vars) req.efi_vars.push_back({f, read_file(f)});
    if (!o->db_cert.empty()) req.db_cert = pipeline::NamedBytes{o->db_cert, read_file(o->db_cert)};
    const nlohmann::json m = pipeline::measure_file(o->file, req);
    if (o->format == "tdximg") {
      emit(g, m, [](const nlohmann::json& r) {
        std::printf("%s: %s\n", r["source"]["file"].get<std::string>().c_str(), r["uki"]["stub"].get<std::string>().c_str());
        for (const auto& cfg : r["tpm"]) {
          std::printf("  %s\n", cfg["id"].get<std::string>().c_str());
          for (const auto& reg : cfg["registers"]) {
            if (reg["events"].empty()) continue;
            for (const auto& [bank, v] : reg["values"].items())
              std::printf("    %-6s %-6s %s\n", reg["reg"].get<std::string>().c_str(), bank.c_str(), v.get<std::string>().c_str());
          }
        }
        for (const auto& t : r.value("tdx", nlohmann::json::array())) {
          std::printf("  %s (TDX, %s boot)\n", t["id"].get<std::string>().c_str(), t["boot_mode"].get<std::string>().c_str());
          for (const auto& [reg, v] : t["values"].items())
            std::printf("    %-6s %s\n", reg.c_str(), v.is_null() ? "unpinned" : v.get<std::string>().c_str());
        }
      });
      return 0;
    }
    // Exports re-run the prediction for the one configuration asked for.
    const Bytes data = read_file(o->file);
    const Bytes uki = pipeline::find_uki(data, o->file);
    const measure::UkiMeasureInput in = pipeline::uki_measure_input(uki, o->file);
    const auto dash = o->config.find("-sb-");
    if (dash == std::string::npos) fail(ErrorKind::usage, "--config: expected <platform>-sb-<on|off>, got '{}'", o->config);
    measure::BootConfig cfg;
    cfg.platform = measure::parse_platform(o->config.substr(0, dash));
    cfg.secure_boot = o->config.substr(dash + 4) == "on";
    const measure::PcrPrediction p = measure::predict_pcrs(in, cfg);
    nlohmann::json out;
    if (o->format == "attested-tls") {
      const std::string id = o->measurement_id.empty()
                                 ? fmt::format("{}-{}", std::filesystem::path(o->file).filename().string(), o->config)
                                 : o->measurement_id;
      out = measure::to_attested_tls(p, id, "azure-tdx", o->pcr11_phase);
    } else {
      out = measure::to_systemd_measure(p);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  };
}

Runner add_verify(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("verify", "Replay a boot event log and compare it with measurements.json");
  struct Opts {
    std::string measurements, log, kind = "tcg2", pcrs, rtmrs, config;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--measurements", o->measurements, "measurements.json from build or measure")->required();
  cmd->add_option("--event-log", o->log, "Binary event log (TCG2: binary_bios_measurements)")->required();
  cmd->add_option("--kind", o->kind, "Log kind: tcg2 (vTPM) or ccel (TDX)")->check(CLI::IsMember({"tcg2", "ccel"}));
  cmd->add_option("--pcrs", o->pcrs, "File with the quoted/read PCR values ('<idx>:<bank>=<hex>' or 'PCR <bank> <idx> <hex>' lines)");
  cmd->add_option("--rtmrs", o->rtmrs, "File with the quoted RTMR values ('RTMR <n> <hex>' or 'rtmr<n>=<hex>' lines; --kind ccel)");
  cmd->add_option("--config", o->config, "Configuration in measurements.json (default: best match), e.g. qemu-sb-off");
  return [&g, o] {
    pipeline::VerifyRequest req;
    const std::string mtext = read_text_file(o->measurements);
    try {
      req.measurements = nlohmann::json::parse(mtext);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::input, "{}: not valid JSON: {}", o->measurements, e.what());
    }
    req.event_log = read_file(o->log);
    req.ccel = o->kind == "ccel";
    if (!o->pcrs.empty() && req.ccel) fail(ErrorKind::usage, "--pcrs goes with --kind tcg2; use --rtmrs for a CCEL");
    if (!o->rtmrs.empty() && !req.ccel) fail(ErrorKind::usage, "--rtmrs goes with --kind ccel");
    if (!o->pcrs.empty()) req.pcr_values_text = read_text_file(o->pcrs);
    if (!o->rtmrs.empty()) req.pcr_values_text = read_text_file(o->rtmrs);
    req.config = o->config;
    std::string text;
    const nlohmann::json report = pipeline::verify_log(req, text);
    emit(g, report, [&](const nlohmann::json&) { std::fputs(text.c_str(), stdout); });
    return report.value("ok", false) ? 0 : 1;
  };
}

Runner add_inspect(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("inspect", "Show what is inside a UKI, disk image, VHD, initramfs or event log");
  auto file = std::make_shared<std::string>();
  cmd->add_option("file", *file, "File to inspect")->required();
  return [&g, file] {
    const Bytes data = read_file(*file);
    const nlohmann::json report = pipeline::inspect_bytes(data, *file);
    emit(g, report, [](const nlohmann::json& r) { render_tree(r, 0); });
    return 0;
  };
}

} // namespace tdximg::cli
