// `tdximg diff A B`: why two builds (output directories, UKIs, initramfs archives, disks) differ.
#include <cstdio>

#include <tdximg/pipeline/diff.hpp>

#include "app.hpp"

namespace tdximg::cli {

Runner add_diff(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("diff", "Explain why two builds differ: input, layer, file, section, byte range");
  struct Opts {
    std::string a, b;
    std::size_t max_findings = 200;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("a", o->a, "Build output directory, UKI, initramfs, raw disk or VHD")->required();
  cmd->add_option("b", o->b, "The same kind of thing from the other build")->required();
  cmd->add_option("--max", o->max_findings, "Stop after this many findings (default 200)");
  return [&g, o] {
    pipeline::DiffOptions opts;
    opts.max_findings = o->max_findings;
    const nlohmann::json report = pipeline::diff_paths(o->a, o->b, opts);
    emit(g, report, [](const nlohmann::json& r) { std::fputs(pipeline::render_diff_text(r).c_str(), stdout); });
    // Exit codes (README): 0 identical, 1 differences found.
    return report.value("identical", false) ? 0 : 1;
  };
}

} // namespace tdximg::cli
