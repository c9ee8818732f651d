// `tdximg build RECIPE -o DIR` and `tdximg lock RECIPE`.
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "app.hpp"

namespace tdximg::cli {

namespace {

void print_build(const nlohmann::json& r) {
  std::printf("built %s into %s\n", r["recipe"]["name"].get<std::string>().c_str(),
              r["out_dir"].get<std::string>().c_str());
  for (const auto& l : r["layers"]) {
    if (!l.contains("segment")) continue;
    const auto& s = l["segment"];
    std::printf("  layer %-12s %6llu entries %10llu -> %9llu bytes%s\n", l["name"].get<std::string>().c_str(),
                s["entries"].get<unsigned long long>(), s["uncompressed_size"].get<unsigned long long>(),
                s["compressed_size"].get<unsigned long long>(), s["reused"].get<bool>() ? "  (reused)" : "");
  }
  for (const auto& [name, o] : r["outputs"].items()) {
    std::printf("  %-26s %12llu  sha256:%s\n", name.c_str(), o["size"].get<unsigned long long>(),
                o["sha256"].get<std::string>().c_str());
  }
  if (r.contains("measurements")) {
    for (const auto& cfg : r["measurements"]["tpm"]) {
      std::printf("  %s%s\n", cfg["id"].get<std::string>().c_str(),
                  cfg.value("verified_platform", true) ? "" : "  (platform not verified by a boot)");
      for (const auto& reg : cfg["registers"]) {
        if (reg["events"].empty()) continue;
        for (const auto& [bank, v] : reg["values"].items()) {
          std::printf("    %-6s %-6s %s\n", reg["reg"].get<std::string>().c_str(), bank.c_str(),
                      v.get<std::string>().c_str());
        }
      }
    }
    if (r["measurements"].contains("tdx")) {
      for (const auto& t : r["measurements"]["tdx"]) {
        std::printf("  %s (TDX, %s boot, %s page order)\n", t["id"].get<std::string>().c_str(),
                    t["boot"].get<std::string>().c_str(), t["page_order"].get<std::string>().c_str());
        for (const char* reg : {"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"}) {
          const auto& v = t["values"][reg];
          std::string shown;
          if (!v.is_null()) shown = v.get<std::string>();
          else if (std::string_view(reg) == "rtmr0") shown = "unpinned (no calibration CCEL; see README)";
          else shown = "unknown (no firmware given)";
          std::printf("    %-6s %s\n", reg, shown.c_str());
        }
        for (const auto& n : t["notes"]) std::printf("    note: %s\n", n.get<std::string>().c_str());
      }
    }
  }
}

} // namespace

Runner add_build(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("build", "Build every output the recipe names into DIR (atomically)");
  auto opts = std::make_shared<pipeline::BuildOptions>();
  cmd->add_option("recipe", opts->recipe, "Recipe file or directory")->required();
  cmd->add_option("-o,--out", opts->out_dir, "Output directory")->required();
  return [&g, opts] {
    opts->common = g.common();
    if (const char* f = std::getenv("TDXIMG_TEST_FAIL_AT")) opts->fail_at = f;
    const nlohmann::json report = pipeline::build(*opts);
    if (opts->common.progress) std::fputs("\r\033[K", stderr);
    emit(g, report, print_build);
    return 0;
  };
}

Runner add_lock(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("lock", "Resolve and pin every input of RECIPE into its lock file");
  auto opts = std::make_shared<pipeline::LockOptions>();
  cmd->add_option("recipe", opts->recipe, "Recipe file or directory")->required();
  cmd->add_flag("--check", opts->check, "Only check that the lock file is current (exit 1 if not)");
  cmd->add_flag("--update", opts->update, "Re-resolve every input to the newest version the mirror serves");
  return [&g, opts] {
    opts->common = g.common();
    const nlohmann::json report = pipeline::lock(*opts);
    if (opts->common.progress) std::fputs("\r\033[K", stderr);
    emit(g, report, [&](const nlohmann::json& r) {
      for (const auto& [name, i] : r["inputs"].items()) {
        std::printf("  %-10s %-40s sha256:%s\n", name.c_str(), i["resolved"].get<std::string>().c_str(),
                    i["sha256"].get<std::string>().c_str());
      }
      std::printf("%s %s\n", r["lock_file"].get<std::string>().c_str(),
                  r["current"].get<bool>() ? "is current" : (r["written"].get<bool>() ? "written" : "is NOT current"));
    });
    return opts->check && !report["current"].get<bool>() ? 1 : 0;
  };
}

} // namespace tdximg::cli
