#pragma once
// Helpers for the disk tests: run an independent host tool and capture its output.
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include <tdximg/util/bytes.hpp>

namespace disk_test {

struct RunResult {
  int status = -1;
  std::string output; // stdout and stderr
};

inline RunResult run(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool have_tool(const std::string& name) {
  return run("command -v " + name + " || test -x /usr/sbin/" + name + " || test -x /sbin/" + name).status == 0;
}

// A deterministic pseudo-random payload (xorshift), so content bugs cannot hide in zeros.
inline tdximg::Bytes payload(std::size_t n, std::uint32_t seed = 1) {
  tdximg::Bytes b(n);
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& c : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<std::uint8_t>(x);
  }
  return b;
}

} // namespace disk_test
