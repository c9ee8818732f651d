#pragma once
// Library entry points behind the CLI commands. Each returns a JSON report (what `--json`
// prints); the CLI renders it as text otherwise. Errors are thrown as tdximg::Error.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tdximg::pipeline {

namespace fs = std::filesystem;

struct CommonOptions {
  std::optional<fs::path> cache_dir; // default: store::default_store_root()
  bool offline = false;              // store only, never fetch
  unsigned jobs = 0;                 // 0 = number of CPUs; never changes output bytes
  // Progress lines ("fetch kernel", "layer 2/3 app") for a terminal; may be empty.
  std::function<void(const std::string&)> progress;
};

struct BuildOptions {
  CommonOptions common;
  fs::path recipe;
  fs::path out_dir;
  // Test-only fault injection: throw right before the named step ("publish" = after staging
  // every output, before the first rename). Set via TDXIMG_TEST_FAIL_AT in the CLI.
  std::string fail_at;
};

// Builds every output the recipe names into out_dir atomically (staged inside out_dir,
// renamed into place, manifest.json last). Throws tdximg::Error; out_dir is then unchanged.
nlohmann::json build(const BuildOptions& options);

struct LockOptions {
  CommonOptions common;
  fs::path recipe;
  bool check = false;  // only report whether the lock file is current; write nothing
  bool update = false; // re-resolve every input even if the previous lock still resolves
};

// Resolves every input and writes the recipe's lock file. Returns the lock report.
nlohmann::json lock(const LockOptions& options);

} // namespace tdximg::pipeline
