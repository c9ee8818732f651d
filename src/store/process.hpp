#pragma once
// Running a helper program (apt-get, apt-cache) without a shell. Internal to store/.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <tdximg/util/bytes.hpp>

namespace tdximg::store {

struct ProcessResult {
  int status = 0; // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with `argv`, in `cwd` (empty = current), with the current
// environment plus `env` (overrides), stdin empty. Throws ErrorKind::io if it cannot be
// started; a non-zero exit is returned, not thrown.
ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {},
                          const std::map<std::string, std::string>& env = {});

} // namespace tdximg::store
