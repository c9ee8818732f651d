#include "json_read.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <tdximg/util/error.hpp>

namespace tdximg::recipe::detail {

namespace {

// Tracks the JSON path during parsing so that a duplicate key can be named. nlohmann keeps
// the last of two equal keys silently; a recipe with two "mode"s is a mistake we report.
class DuplicateKeyCheck {
public:
  explicit DuplicateKeyCheck(std::string_view display)
      : m_display(display) {}

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
    case json::parse_event_t::object_start:
      m_frames.push_back(Frame{true, {}, {}, 0});
      break;
    case json::parse_event_t::array_start:
      m_frames.push_back(Frame{false, {}, {}, 0});
      break;
    case json::parse_event_t::key: {
      Frame& f = m_frames.back();
      std::string key = parsed.get<std::string>();
      if (!f.keys.insert(key).second) {
        std::string ptr;
        for (std::size_t i = 0; i + 1 < m_frames.size(); ++i)
          ptr = frame_step(ptr, m_frames[i]);
        fail(ErrorKind::input, "{}: {}: duplicate key", m_display, child(ptr, key));
      }
      f.key = std::move(key);
      break;
    }
    case json::parse_event_t::object_end:
    case json::parse_event_t::array_end:
      m_frames.pop_back();
      end_element();
      break;
    case json::parse_event_t::value:
      end_element();
      break;
    }
    return true;
  }

private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;
    std::size_t index; // arrays: index of the current element
  };
  static std::string frame_step(const std::string& ptr, const Frame& f) {
    return f.object ? child(ptr, f.key) : child(ptr, f.index);
  }
  // An element of the enclosing array is complete: the next one has the next index.
  void end_element() {
    if (!m_frames.empty() && !m_frames.back().object) ++m_frames.back().index;
  }
  std::string m_display;
  std::vector<Frame> m_frames;
};

std::string strip_nlohmann_prefix(const std::string& what) {
  // "[json.exception.parse_error.101] parse error at line 3, column 14: syntax error ..."
  const auto col = what.find("column ");
  if (col != std::string::npos) {
    const auto colon = what.find(": ", col);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  const auto bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

} // namespace

json parse_json(std::string_view text, std::string_view display, bool comments) {
  DuplicateKeyCheck check(display);
  try {
    return json::parse(text.begin(), text.end(), json::parser_callback_t(std::ref(check)),
                       /*allow_exceptions=*/true, /*ignore_comments=*/comments);
  } catch (const json::parse_error& e) {
    // nlohmann's `byte` is the 1-based count of bytes read when the error was seen; the
    // offending character is the last one read. Line and column are 1-based, column in bytes.
    const std::size_t end = std::min<std::size_t>(e.byte, text.size());
    const std::size_t offset = end > 0 ? end - 1 : 0;
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    fail(ErrorKind::input, "{}:{}:{}: {}", display, line, offset - line_start + 1,
         strip_nlohmann_prefix(e.what()));
  }
}

std::string type_name(const json& v) {
  switch (v.type()) {
  case json::value_t::object:
    return "object";
  case json::value_t::array:
    return "array";
  case json::value_t::string:
    return "string";
  case json::value_t::number_integer:
  case json::value_t::number_unsigned:
    return "integer";
  case json::value_t::number_float:
    return "number";
  case json::value_t::boolean:
    return "boolean";
  case json::value_t::null:
    return "null";
  default:
    return "value";
  }
}

std::string show(const json& v) {
  std::string s;
  if (v.is_object())
    s = "object";
  else if (v.is_array())
    s = "array";
  else
    s = type_name(v) + " " + v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string child(const std::string& ptr, std::string_view key) {
  std::string out = ptr;
  out.push_back('/');
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}

std::string child(const std::string& ptr, std::size_t index) {
  return ptr + "/" + std::to_string(index);
}

void Where::fail_at(const std::string& ptr, const std::string& message) const {
  fail(ErrorKind::input, "{}: {}: {}", file, ptr.empty() ? "/" : ptr, message);
}

Obj::Obj(const Where& w, const json& j, std::string ptr,
         std::initializer_list<std::string_view> allowed)
    : m_w(w)
    , m_j(j)
    , m_ptr(std::move(ptr)) {
  if (!j.is_object()) w.fail_at(m_ptr, "expected object, got " + show(j));
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed)
      list += (list.empty() ? "" : ", ") + std::string(a);
    w.fail_at(child(m_ptr, key), "unknown key (expected one of: " + list + ")");
  }
}

bool Obj::has(std::string_view key) const {
  return m_j.contains(key);
}

const json& Obj::at(std::string_view key) const {
  const auto it = m_j.find(key);
  if (it == m_j.end()) m_w.fail_at(m_ptr, fmt::format("missing required key \"{}\"", key));
  return *it;
}

std::string Obj::str(std::string_view key) const {
  return read_string(m_w, at(key), ptr(key), false);
}

std::string Obj::str_or(std::string_view key, std::string def) const {
  return has(key) ? read_string(m_w, at(key), ptr(key), true) : def;
}

bool Obj::boolean_or(std::string_view key, bool def) const {
  return has(key) ? read_bool(m_w, at(key), ptr(key)) : def;
}

std::uint64_t Obj::uint(std::string_view key, std::uint64_t max) const {
  return read_uint(m_w, at(key), ptr(key), max);
}

std::uint64_t Obj::uint_or(std::string_view key, std::uint64_t def, std::uint64_t max) const {
  return has(key) ? read_uint(m_w, at(key), ptr(key), max) : def;
}

void expect_type(const Where& w, const json& v, const std::string& ptr, json::value_t t,
                 std::string_view expected) {
  if (v.type() != t) w.fail_at(ptr, fmt::format("expected {}, got {}", expected, show(v)));
}

std::string read_string(const Where& w, const json& v, const std::string& ptr, bool allow_empty) {
  expect_type(w, v, ptr, json::value_t::string, "string");
  std::string s = v.get<std::string>();
  if (!allow_empty && s.empty()) w.fail_at(ptr, "expected a non-empty string, got \"\"");
  if (s.find('\0') != std::string::npos) w.fail_at(ptr, "expected a string without NUL bytes");
  return s;
}

bool read_bool(const Where& w, const json& v, const std::string& ptr) {
  expect_type(w, v, ptr, json::value_t::boolean, "boolean");
  return v.get<bool>();
}

std::uint64_t read_uint(const Where& w, const json& v, const std::string& ptr, std::uint64_t max) {
  if (v.is_number_unsigned()) {
    const auto n = v.get<std::uint64_t>();
    if (n > max) w.fail_at(ptr, fmt::format("expected an integer in 0..{}, got {}", max, n));
    return n;
  }
  if (v.is_number_integer()) // only negative values end up here
    w.fail_at(ptr, fmt::format("expected a non-negative integer, got {}", v.get<std::int64_t>()));
  w.fail_at(ptr, "expected integer, got " + show(v));
}

std::string read_sha256(const Where& w, const json& v, const std::string& ptr) {
  std::string s = read_string(w, v, ptr, true);
  const bool ok =
      s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      });
  if (!ok) w.fail_at(ptr, "expected 64 hex digits (sha256), got " + show(v));
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return s;
}

} // namespace tdximg::recipe::detail
