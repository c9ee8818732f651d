#pragma once
// Bounds-checked access to untrusted binary data. Every offset and size is checked without
// overflow before use; nothing forms an out-of-range pointer. Errors are ErrorKind::input and
// name the object ("what") and the offset.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tdximg {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// data[offset, offset+size) or throws ErrorKind::input naming `what`. No wrapping sums.
ByteSpan checked_slice(ByteSpan data, std::uint64_t offset, std::uint64_t size,
                       std::string_view what);

// a + b, or throws ErrorKind::input naming `what` if it overflows.
std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, std::string_view what);

// Little/big-endian loads at a checked offset.
std::uint16_t load_u16le(ByteSpan data, std::uint64_t offset, std::string_view what);
std::uint32_t load_u32le(ByteSpan data, std::uint64_t offset, std::string_view what);
std::uint64_t load_u64le(ByteSpan data, std::uint64_t offset, std::string_view what);

// Sequential reader over a span. `name` (e.g. "uki.efi") prefixes every error message.
class ByteReader {
public:
  explicit ByteReader(ByteSpan data, std::string name = "input", std::uint64_t base = 0)
      : m_data(data), m_name(std::move(name)), m_base(base) {}

  std::uint8_t u8(std::string_view what);
  std::uint16_t u16le(std::string_view what);
  std::uint32_t u32le(std::string_view what);
  std::uint64_t u64le(std::string_view what);
  std::uint16_t u16be(std::string_view what);
  std::uint32_t u32be(std::string_view what);
  std::uint64_t u64be(std::string_view what);
  ByteSpan bytes(std::uint64_t n, std::string_view what);
  void skip(std::uint64_t n, std::string_view what);
  void seek(std::uint64_t offset, std::string_view what); // absolute within this reader
  // A reader over [offset, offset+size) of this reader's data (errors keep absolute offsets).
  ByteReader sub(std::uint64_t offset, std::uint64_t size, std::string_view what) const;

  std::uint64_t offset() const noexcept { return m_pos; }
  std::uint64_t size() const noexcept { return m_data.size(); }
  std::uint64_t remaining() const noexcept { return m_data.size() - m_pos; }
  bool at_end() const noexcept { return m_pos == m_data.size(); }
  ByteSpan data() const noexcept { return m_data; }
  const std::string& name() const noexcept { return m_name; }

  // Throws ErrorKind::input: "<name>: <what> at offset 0x..: <detail>".
  [[noreturn]] void error(std::string_view what, std::string_view detail) const;

private:
  ByteSpan take(std::uint64_t n, std::string_view what);
  ByteSpan m_data;
  std::string m_name;
  std::uint64_t m_base; // absolute offset of m_data[0], for messages
  std::uint64_t m_pos = 0;
};

// Appending writer with explicit padding and in-place patching.
class ByteWriter {
public:
  ByteWriter() = default;
  explicit ByteWriter(Bytes initial) : m_out(std::move(initial)) {}

  void u8(std::uint8_t v) { m_out.push_back(v); }
  void u16le(std::uint16_t v);
  void u32le(std::uint32_t v);
  void u64le(std::uint64_t v);
  void u16be(std::uint16_t v);
  void u32be(std::uint32_t v);
  void u64be(std::uint64_t v);
  void bytes(ByteSpan b) { m_out.insert(m_out.end(), b.begin(), b.end()); }
  void str(std::string_view s) { bytes(as_bytes(s)); }
  void zeros(std::uint64_t n) { m_out.resize(m_out.size() + n, 0); }
  // Appends zero bytes until size() is a multiple of `alignment` (a power of two or any > 0).
  void pad_to(std::uint64_t alignment);
  // Overwrites already-written bytes; throws ErrorKind::internal when out of range.
  void patch_u16le(std::uint64_t offset, std::uint16_t v);
  void patch_u32le(std::uint64_t offset, std::uint32_t v);
  void patch_u64le(std::uint64_t offset, std::uint64_t v);
  void patch(std::uint64_t offset, ByteSpan b);

  std::uint64_t size() const noexcept { return m_out.size(); }
  const Bytes& data() const noexcept { return m_out; }
  Bytes take() { return std::move(m_out); }

private:
  Bytes m_out;
};

// Rounds v up to a multiple of `alignment` (> 0); throws ErrorKind::input on overflow.
std::uint64_t align_up(std::uint64_t v, std::uint64_t alignment, std::string_view what = "value");

} // namespace tdximg
