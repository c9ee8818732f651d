#pragma once
// The one exception type of tdximg. Its kind maps to a documented, stable exit code (README,
// "Exit codes"); the message names the object and the place: "uki.efi: section .linux: ...".

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tdximg {

// Never renumber: these are the tool's exit codes and scripts depend on them.
enum class ErrorKind : int {
  usage = 2,       // bad command line
  input = 3,       // malformed recipe, archive, PE, event log, firmware ... (bad data)
  integrity = 4,   // a digest did not match its pin
  io = 5,          // reading or writing a file failed
  fetch = 6,       // downloading or resolving an input failed (network, apt, missing offline)
  unsupported = 7, // valid input that tdximg does not handle (yet)
  internal = 70,   // a bug in tdximg
};

class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
  ErrorKind kind() const noexcept { return m_kind; }
  int exit_code() const noexcept { return static_cast<int>(m_kind); }

private:
  ErrorKind m_kind;
};

// Throws Error(kind, fmt::format(...)).
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

} // namespace tdximg
