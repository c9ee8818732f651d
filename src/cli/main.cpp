// tdximg entry point: parse the command line, run one command, map errors to exit codes.
// This is the only place that prints errors and decides the process exit code (README,
// "Exit codes").
#include <cstdio>
#include <exception>
#include <map>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <tdximg/util/error.hpp>

#include "app.hpp"

namespace tdximg::cli {

pipeline::CommonOptions Globals::common() const {
  pipeline::CommonOptions c;
  if (!cache_dir.empty()) c.cache_dir = cache_dir;
  c.offline = offline;
  c.jobs = jobs;
  // Progress goes to a terminal only, never in --json mode.
  if (!json && !quiet && ::isatty(STDERR_FILENO) != 0) {
    c.progress = [](const std::string& line) { std::fprintf(stderr, "\r\033[K%s", line.c_str()); std::fflush(stderr); };
  }
  return c;
}

void emit(const Globals& g, const nlohmann::json& report,
          const std::function<void(const nlohmann::json&)>& text) {
  if (g.json) {
    std::fputs(report.dump(2).c_str(), stdout);
    std::fputc('\n', stdout);
  } else if (!g.quiet) {
    text(report);
  }
  std::fflush(stdout);
}

} // namespace tdximg::cli

int main(int argc, char** argv) {
  using namespace tdximg;
  using namespace tdximg::cli;
  CLI::App app{"tdximg: reproducible Intel TDX guest images with precomputed measurements"};
  app.set_version_flag("--version", std::string("tdximg ") + TDXIMG_VERSION);
  app.require_subcommand(1);
  Globals g;
  app.add_flag("--json", g.json, "Machine-readable result on stdout (logs stay on stderr)");
  app.add_flag("-v,--verbose", g.verbose, "More log output (repeat for debug)");
  app.add_flag("-q,--quiet", g.quiet, "Only errors");
  app.add_option("--cache", g.cache_dir, "Store directory (default $TDXIMG_CACHE or $XDG_CACHE_HOME/tdximg)");
  app.add_flag("--offline", g.offline, "Use only the store; never fetch");
  app.add_option("-j,--jobs", g.jobs, "Parallel jobs (default: CPUs); never changes the output");

  const std::map<std::string, Runner> runners{
      {"build", add_build(app, g)},     {"lock", add_lock(app, g)},
      {"measure", add_measure(app, g)}, {"verify", add_verify(app, g)},
      {"inspect", add_inspect(app, g)},
      {"store", add_store(app, g)},
      {"diff", add_diff(app, g)}};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ErrorKind::usage);
  }

  auto logger = spdlog::stderr_color_mt("tdximg");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(g.quiet ? spdlog::level::err
                    : g.verbose >= 2 ? spdlog::level::trace
                    : g.verbose == 1 ? spdlog::level::debug
                                     : spdlog::level::info);
  spdlog::set_default_logger(logger);

  try {
    const std::string name = app.get_subcommands().at(0)->get_name();
    auto it = runners.find(name);
    if (it != runners.end()) return it->second();
    spdlog::error("unknown command {}", name);
    return static_cast<int>(ErrorKind::usage);
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory");
    return static_cast<int>(ErrorKind::internal);
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return static_cast<int>(ErrorKind::internal);
  }
}
