#include "tar.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include <tdximg/util/error.hpp>

namespace tdximg::store::tar {

namespace {

constexpr std::size_t k_block = 512;

// Writes `v` as a zero-padded octal number of width-1 digits plus a NUL; false if it does not fit.
bool put_octal(std::uint8_t* field, std::size_t width, std::uint64_t v) {
  std::string s(width - 1, '0');
  for (std::size_t i = width - 1; i-- > 0;) {
    s[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  if (v != 0) return false;
  std::memcpy(field, s.data(), width - 1);
  field[width - 1] = 0;
  return true;
}

std::string pax_record(std::string_view key, std::string_view value) {
  // "<len> key=value\n" where <len> counts itself.
  const std::size_t base = key.size() + value.size() + 3; // ' ', '=', '\n'
  std::size_t len = base + 1;
  while (std::to_string(len).size() + base != len) ++len;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

} // namespace

void Writer::header(std::string_view name, char type, std::uint32_t mode, std::uint64_t size,
                    std::string_view linkname) {
  std::uint8_t h[k_block] = {};
  if (!name.empty()) std::memcpy(h, name.data(), std::min<std::size_t>(name.size(), 100));
  put_octal(h + 100, 8, mode);
  put_octal(h + 108, 8, 0); // uid
  put_octal(h + 116, 8, 0); // gid
  if (!put_octal(h + 124, 12, size)) fail(ErrorKind::unsupported, "tar: {}: too large", name);
  put_octal(h + 136, 12, 0); // mtime
  std::memset(h + 148, ' ', 8);
  h[156] = static_cast<std::uint8_t>(type);
  if (!linkname.empty()) // memcpy from a null pointer is undefined even for 0 bytes
    std::memcpy(h + 157, linkname.data(), std::min<std::size_t>(linkname.size(), 100));
  std::memcpy(h + 257, "ustar\0" "00", 8);
  put_octal(h + 329, 8, 0); // devmajor
  put_octal(h + 337, 8, 0); // devminor
  unsigned sum = 0;
  for (const std::uint8_t b : h) sum += b;
  put_octal(h + 148, 7, sum);
  h[155] = ' ';
  m_out.bytes(ByteSpan(h, k_block));
}

void Writer::add(const Entry& e) {
  const bool long_name = e.name.size() > 100;
  const bool long_link = e.linkname.size() > 100;
  if (long_name || long_link) {
    // Always one PAX header per long entry, named "PaxHeader" so the header itself never needs
    // a long name; readers that ignore PAX still see a truncated, deterministic name.
    std::string records;
    if (long_link) records += pax_record("linkpath", e.linkname);
    if (long_name) records += pax_record("path", e.name);
    header("PaxHeader", 'x', 0644, records.size(), {});
    m_out.str(records);
    m_out.pad_to(k_block);
  }
  const std::uint64_t size = e.type == Type::file ? e.data.size() : 0;
  header(e.name, static_cast<char>(e.type), e.mode, size, e.linkname);
  if (size != 0) {
    m_out.bytes(e.data);
    m_out.pad_to(k_block);
  }
}

Bytes Writer::finish() {
  m_out.zeros(2 * k_block);
  return m_out.take();
}

namespace {

std::string field_str(ByteSpan h, std::size_t off, std::size_t len) {
  const ByteSpan f = h.subspan(off, len);
  const auto end = std::find(f.begin(), f.end(), std::uint8_t{0});
  return std::string(f.begin(), end);
}

std::uint64_t field_octal(ByteSpan h, std::size_t off, std::size_t len, const std::string& what,
                          std::uint64_t base, std::string_view field) {
  const ByteSpan f = h.subspan(off, len);
  if (!f.empty() && (f[0] & 0x80) != 0)
    fail(ErrorKind::unsupported, "{}: {} at offset 0x{:x}: base-256 numbers are not supported",
         what, field, base + off);
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < f.size() && f[i] == ' ') ++i;
  bool any = false;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i) {
    if (v > (UINT64_MAX >> 3))
      fail(ErrorKind::input, "{}: {} at offset 0x{:x}: overflows", what, field, base + off);
    v = (v << 3) | static_cast<std::uint64_t>(f[i] - '0');
    any = true;
  }
  for (; i < f.size(); ++i) {
    if (f[i] != ' ' && f[i] != 0)
      fail(ErrorKind::input, "{}: {} at offset 0x{:x}: not an octal number", what, field,
           base + off);
  }
  if (!any && field == "size") return 0;
  return v;
}

void parse_pax(ByteSpan body, std::string& path, std::string& linkpath, bool& has_size, std::uint64_t& size,
               const std::string& what, std::uint64_t base) {
  std::string_view s = as_chars(body);
  std::uint64_t pos = 0;
  while (!s.empty()) {
    if (s[0] == '\0') break;
    const std::size_t sp = s.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20)
      fail(ErrorKind::input, "{}: PAX record at offset 0x{:x}: no length", what, base + pos);
    std::uint64_t len = 0;
    for (std::size_t i = 0; i < sp; ++i) {
      if (s[i] < '0' || s[i] > '9')
        fail(ErrorKind::input, "{}: PAX record at offset 0x{:x}: bad length", what, base + pos);
      len = len * 10 + static_cast<std::uint64_t>(s[i] - '0');
    }
    if (len <= sp + 1 || len > s.size() || s[len - 1] != '\n')
      fail(ErrorKind::input, "{}: PAX record at offset 0x{:x}: bad length {}", what, base + pos, len);
    const std::string_view rec = s.substr(sp + 1, len - sp - 2);
    const std::size_t eq = rec.find('=');
    if (eq == std::string_view::npos)
      fail(ErrorKind::input, "{}: PAX record at offset 0x{:x}: no '='", what, base + pos);
    const std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") path = value;
    else if (key == "linkpath") linkpath = value;
    else if (key == "size") {
      std::uint64_t v = 0;
      if (value.empty() || value.size() > 19)
        fail(ErrorKind::input, "{}: PAX size at offset 0x{:x}: bad value", what, base + pos);
      for (const char c : value) {
        if (c < '0' || c > '9')
          fail(ErrorKind::input, "{}: PAX size at offset 0x{:x}: bad value", what, base + pos);
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      size = v;
      has_size = true;
    }
    s.remove_prefix(len);
    pos += len;
  }
}

} // namespace

std::vector<Entry> read(ByteSpan archive, const std::string& what) {
  std::vector<Entry> out;
  ByteReader r(archive, what);
  std::string next_path, next_link;
  bool has_next_size = false;
  std::uint64_t next_size = 0;
  bool ended = false;
  while (!r.at_end()) {
    const std::uint64_t at = r.offset();
    const ByteSpan h = r.bytes(k_block, "tar header");
    if (std::all_of(h.begin(), h.end(), [](std::uint8_t b) { return b == 0; })) {
      ended = true; // end-of-archive marker (the second zero block and padding are not needed)
      break;
    }
    const std::uint64_t stored = field_octal(h, 148, 8, what, at, "checksum");
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < k_block; ++i) sum += (i >= 148 && i < 156) ? std::uint64_t{' '} : std::uint64_t{h[i]};
    if (sum != stored)
      fail(ErrorKind::input, "{}: tar header at offset 0x{:x}: checksum mismatch", what, at);
    std::uint64_t size = field_octal(h, 124, 12, what, at, "size");
    if (has_next_size) size = next_size;
    const char type = static_cast<char>(h[156]);
    const ByteSpan body = r.bytes(size, "tar member data");
    r.skip(align_up(size, k_block) - size, "tar padding");
    if (type == 'x' || type == 'g') {
      if (type == 'x') parse_pax(body, next_path, next_link, has_next_size, next_size, what, at + k_block);
      continue;
    }
    if (type == 'L' || type == 'K') {
      std::string v(as_chars(body));
      v = v.substr(0, v.find('\0'));
      (type == 'L' ? next_path : next_link) = v;
      continue;
    }
    Entry e;
    e.name = field_str(h, 0, 100);
    const std::string magic = field_str(h, 257, 6);
    if (magic == "ustar") {
      const std::string prefix = field_str(h, 345, 155);
      if (!prefix.empty()) e.name = prefix + "/" + e.name;
    }
    if (!next_path.empty()) e.name = next_path;
    e.linkname = next_link.empty() ? field_str(h, 157, 100) : next_link;
    e.mode = static_cast<std::uint32_t>(field_octal(h, 100, 8, what, at, "mode") & 07777);
    switch (type) {
    case '0': case '\0': case '7': e.type = Type::file; break;
    case '1': e.type = Type::hardlink; break;
    case '2': e.type = Type::symlink; break;
    case '3': e.type = Type::chardev; break;
    case '4': e.type = Type::blockdev; break;
    case '5': e.type = Type::directory; break;
    case '6': e.type = Type::fifo; break;
    default:
      fail(ErrorKind::unsupported, "{}: tar header at offset 0x{:x}: entry type '{}' not supported",
           what, at, type);
    }
    e.data = e.type == Type::file ? body : ByteSpan{};
    if (e.name.empty()) fail(ErrorKind::input, "{}: tar header at offset 0x{:x}: empty name", what, at);
    out.push_back(std::move(e));
    next_path.clear();
    next_link.clear();
    has_next_size = false;
  }
  if (!ended) fail(ErrorKind::input, "{}: truncated at offset 0x{:x}: no end-of-archive block", what, r.offset());
  return out;
}

} // namespace tdximg::store::tar
