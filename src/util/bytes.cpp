#include <tdximg/util/bytes.hpp>

#include <limits>

#include <tdximg/util/error.hpp>

namespace tdximg {

ByteSpan checked_slice(ByteSpan data, std::uint64_t offset, std::uint64_t size,
                       std::string_view what) {
  if (offset > data.size() || size > data.size() - offset) {
    fail(ErrorKind::input, "{}: range [0x{:x}, +0x{:x}) is outside the {} bytes available", what,
         offset, size, data.size());
  }
  return data.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
}

std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, std::string_view what) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) {
    fail(ErrorKind::input, "{}: 0x{:x} + 0x{:x} overflows", what, a, b);
  }
  return a + b;
}

std::uint64_t align_up(std::uint64_t v, std::uint64_t alignment, std::string_view what) {
  if (alignment == 0) fail(ErrorKind::internal, "{}: alignment 0", what);
  const std::uint64_t rem = v % alignment;
  return rem == 0 ? v : checked_add(v, alignment - rem, what);
}

namespace {
template <typename T> T load_le(ByteSpan data, std::uint64_t offset, std::string_view what) {
  ByteSpan s = checked_slice(data, offset, sizeof(T), what);
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | (static_cast<T>(s[i]) << (8 * i)));
  return v;
}
template <typename T> T load_be(ByteSpan s) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | s[i]);
  return v;
}
} // namespace

std::uint16_t load_u16le(ByteSpan d, std::uint64_t o, std::string_view w) { return load_le<std::uint16_t>(d, o, w); }
std::uint32_t load_u32le(ByteSpan d, std::uint64_t o, std::string_view w) { return load_le<std::uint32_t>(d, o, w); }
std::uint64_t load_u64le(ByteSpan d, std::uint64_t o, std::string_view w) { return load_le<std::uint64_t>(d, o, w); }

void ByteReader::error(std::string_view what, std::string_view detail) const {
  fail(ErrorKind::input, "{}: {} at offset 0x{:x}: {}", m_name, what, m_base + m_pos, detail);
}

ByteSpan ByteReader::take(std::uint64_t n, std::string_view what) {
  if (n > remaining()) {
    error(what, fmt::format("needs {} bytes, only {} left (truncated)", n, remaining()));
  }
  ByteSpan s = m_data.subspan(static_cast<std::size_t>(m_pos), static_cast<std::size_t>(n));
  m_pos += n;
  return s;
}

std::uint8_t ByteReader::u8(std::string_view w) { return take(1, w)[0]; }
std::uint16_t ByteReader::u16le(std::string_view w) { return load_le<std::uint16_t>(take(2, w), 0, w); }
std::uint32_t ByteReader::u32le(std::string_view w) { return load_le<std::uint32_t>(take(4, w), 0, w); }
std::uint64_t ByteReader::u64le(std::string_view w) { return load_le<std::uint64_t>(take(8, w), 0, w); }
std::uint16_t ByteReader::u16be(std::string_view w) { return load_be<std::uint16_t>(take(2, w)); }
std::uint32_t ByteReader::u32be(std::string_view w) { return load_be<std::uint32_t>(take(4, w)); }
std::uint64_t ByteReader::u64be(std::string_view w) { return load_be<std::uint64_t>(take(8, w)); }
ByteSpan ByteReader::bytes(std::uint64_t n, std::string_view w) { return take(n, w); }
void ByteReader::skip(std::uint64_t n, std::string_view w) { take(n, w); }

void ByteReader::seek(std::uint64_t offset, std::string_view what) {
  if (offset > m_data.size()) {
    error(what, fmt::format("offset 0x{:x} is past the end (size 0x{:x})", offset, m_data.size()));
  }
  m_pos = offset;
}

ByteReader ByteReader::sub(std::uint64_t offset, std::uint64_t size, std::string_view what) const {
  if (offset > m_data.size() || size > m_data.size() - offset) {
    fail(ErrorKind::input, "{}: {} at offset 0x{:x}: range of 0x{:x} bytes exceeds the 0x{:x} available",
         m_name, what, m_base + offset, size, m_data.size() - std::min<std::uint64_t>(offset, m_data.size()));
  }
  return ByteReader(m_data.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size)),
                    m_name, m_base + offset);
}

namespace {
template <typename T> void store_le(Bytes& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
template <typename T> void store_be(Bytes& out, T v) {
  for (std::size_t i = sizeof(T); i-- > 0;) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
template <typename T> void patch_le(Bytes& out, std::uint64_t off, T v) {
  if (off > out.size() || sizeof(T) > out.size() - off) {
    fail(ErrorKind::internal, "ByteWriter: patch at 0x{:x} outside 0x{:x} bytes", off, out.size());
  }
  for (std::size_t i = 0; i < sizeof(T); ++i) out[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
} // namespace

void ByteWriter::u16le(std::uint16_t v) { store_le(m_out, v); }
void ByteWriter::u32le(std::uint32_t v) { store_le(m_out, v); }
void ByteWriter::u64le(std::uint64_t v) { store_le(m_out, v); }
void ByteWriter::u16be(std::uint16_t v) { store_be(m_out, v); }
void ByteWriter::u32be(std::uint32_t v) { store_be(m_out, v); }
void ByteWriter::u64be(std::uint64_t v) { store_be(m_out, v); }
void ByteWriter::pad_to(std::uint64_t alignment) { m_out.resize(align_up(m_out.size(), alignment, "padding"), 0); }
void ByteWriter::patch_u16le(std::uint64_t o, std::uint16_t v) { patch_le(m_out, o, v); }
void ByteWriter::patch_u32le(std::uint64_t o, std::uint32_t v) { patch_le(m_out, o, v); }
void ByteWriter::patch_u64le(std::uint64_t o, std::uint64_t v) { patch_le(m_out, o, v); }
void ByteWriter::patch(std::uint64_t off, ByteSpan b) {
  if (off > m_out.size() || b.size() > m_out.size() - off) {
    fail(ErrorKind::internal, "ByteWriter: patch at 0x{:x} outside 0x{:x} bytes", off, m_out.size());
  }
  std::copy(b.begin(), b.end(), m_out.begin() + static_cast<std::ptrdiff_t>(off));
}

} // namespace tdximg
