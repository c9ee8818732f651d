// tdximg entry point: parse the command line, run one command, map errors to exit codes.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <tdximg/util/error.hpp>

int main(int argc, char** argv) {
  CLI::App app{"tdximg: reproducible Intel TDX guest images with precomputed measurements"};
  app.set_version_flag("--version", std::string("tdximg ") + TDXIMG_VERSION);
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(tdximg::ErrorKind::usage);
  }
  return 0;
}
