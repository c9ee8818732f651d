#include <tdximg/util/hex.hpp>

#include <tdximg/util/error.hpp>

namespace tdximg {

std::string to_hex(ByteSpan data) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out.push_back(k_digits[b >> 4]);
    out.push_back(k_digits[b & 0xf]);
  }
  return out;
}

namespace {
int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
} // namespace

bool is_hex(std::string_view s) {
  if (s.size() % 2 != 0) return false;
  for (char c : s)
    if (nibble(c) < 0) return false;
  return true;
}

Bytes from_hex(std::string_view hex, std::string_view what) {
  if (hex.size() % 2 != 0) fail(ErrorKind::input, "{}: odd number of hex digits ({})", what, hex.size());
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) fail(ErrorKind::input, "{}: not a hex digit at position {}", what, 2 * i + (hi < 0 ? 0 : 1));
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

} // namespace tdximg
