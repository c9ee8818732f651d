#pragma once
// Shared state of the CLI: global flags and the command registry.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tdximg/pipeline/build.hpp>

namespace tdximg::cli {

struct Globals {
  bool json = false;
  int verbose = 0;
  bool quiet = false;
  std::string cache_dir;
  bool offline = false;
  unsigned jobs = 0;

  pipeline::CommonOptions common() const;
};

// A command registers its options on `app` and returns the function that runs it; the
// function returns the process exit code (0 ok, 1 "differences found" for verify/diff).
using Runner = std::function<int()>;

Runner add_build(CLI::App& app, Globals& g);
Runner add_lock(CLI::App& app, Globals& g);
Runner add_measure(CLI::App& app, Globals& g);
Runner add_verify(CLI::App& app, Globals& g);
Runner add_inspect(CLI::App& app, Globals& g);
Runner add_store(CLI::App& app, Globals& g);
Runner add_diff(CLI::App& app, Globals& g);

// Prints `report` as JSON on stdout (with --json) or calls `text` to render it.
void emit(const Globals& g, const nlohmann::json& report,
          const std::function<void(const nlohmann::json&)>& text);

} // namespace tdximg::cli
