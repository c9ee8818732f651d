#pragma once
// Private to recipe/: strict JSON reading shared by the recipe and lock-file parsers.
// Every error is ErrorKind::input and reads "<file>: <json path>: <what>; expected X, got Y".

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tdximg::recipe::detail {

using json = nlohmann::json;

// Parses JSON (comments allowed when `comments`); rejects duplicate keys. Syntax errors name
// "<display>:<line>:<column>". Throws ErrorKind::input.
json parse_json(std::string_view text, std::string_view display, bool comments);

// "object", "array", "string", "integer", "number", "boolean", "null".
std::string type_name(const json& v);
// A short rendering of a value for messages (JSON text, truncated).
std::string show(const json& v);
// ptr + "/" + key with RFC 6901 escaping.
std::string child(const std::string& ptr, std::string_view key);
std::string child(const std::string& ptr, std::size_t index);

// Where errors point: the file's display name.
struct Where {
  std::string file;
  [[noreturn]] void fail_at(const std::string& ptr, const std::string& message) const;
};

// An object whose keys were checked against `allowed`.
class Obj {
public:
  Obj(const Where& w, const json& j, std::string ptr,
      std::initializer_list<std::string_view> allowed);
  bool has(std::string_view key) const;
  const json& at(std::string_view key) const; // throws "missing required key"
  std::string ptr(std::string_view key) const { return child(m_ptr, key); }
  const std::string& self_ptr() const noexcept { return m_ptr; }
  const json& raw() const noexcept { return m_j; }
  const Where& where() const noexcept { return m_w; }

  std::string str(std::string_view key) const;                     // required, non-empty
  std::string str_or(std::string_view key, std::string def) const; // optional; may be empty
  bool boolean_or(std::string_view key, bool def) const;
  std::uint64_t uint(std::string_view key, std::uint64_t max) const;
  std::uint64_t uint_or(std::string_view key, std::uint64_t def, std::uint64_t max) const;

private:
  const Where& m_w;
  const json& m_j;
  std::string m_ptr;
};

void expect_type(const Where& w, const json& v, const std::string& ptr, json::value_t t,
                 std::string_view expected);
std::string read_string(const Where& w, const json& v, const std::string& ptr, bool allow_empty);
bool read_bool(const Where& w, const json& v, const std::string& ptr);
std::uint64_t read_uint(const Where& w, const json& v, const std::string& ptr, std::uint64_t max);
// A lowercase 64-hex-digit sha256 (either case accepted, lowercased).
std::string read_sha256(const Where& w, const json& v, const std::string& ptr);

} // namespace tdximg::recipe::detail
