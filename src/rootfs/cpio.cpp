// cpio "newc" writer and initramfs stream reader.
// Format: Documentation/driver-api/early-userspace/buffer-format.rst (Linux) and cpio(5) of
// libarchive. Header: "070701" + 13 fields of 8 hex digits (c_ino, c_mode, c_uid, c_gid,
// c_nlink, c_mtime, c_filesize, c_devmajor, c_devminor, c_rdevmajor, c_rdevminor, c_namesize,
// c_check) = 110 bytes; then the NUL-terminated name, padded so header+name is a multiple of 4;
// then the body, padded to a multiple of 4.

#include <array>
#include <map>
#include <string_view>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {
namespace {

constexpr std::string_view k_trailer = "TRAILER!!!";
constexpr std::uint64_t k_u32_max = 0xffffffffULL;

// ---- writer -----------------------------------------------------------------------------

void put_hex8(ByteWriter& w, std::uint32_t v) {
  // Uppercase, as usr/gen_init_cpio.c ("%08X") and GNU cpio write it.
  static constexpr char k_digits[] = "0123456789ABCDEF";
  std::array<std::uint8_t, 8> out{};
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(k_digits[v & 0xfU]);
    v >>= 4;
  }
  w.bytes(out);
}

struct HeaderFields {
  std::uint32_t ino, mode, uid, gid, nlink, mtime, filesize, rdev_major, rdev_minor, namesize;
};

void put_entry(ByteWriter& w, const HeaderFields& h, std::string_view name, ByteSpan body) {
  w.str("070701");
  put_hex8(w, h.ino);
  put_hex8(w, h.mode);
  put_hex8(w, h.uid);
  put_hex8(w, h.gid);
  put_hex8(w, h.nlink);
  put_hex8(w, h.mtime);
  put_hex8(w, h.filesize);
  put_hex8(w, 0); // c_devmajor: normalised, the build host's device means nothing in the image
  put_hex8(w, 0); // c_devminor
  put_hex8(w, h.rdev_major);
  put_hex8(w, h.rdev_minor);
  put_hex8(w, h.namesize);
  put_hex8(w, 0); // c_check: 0 for 070701
  w.str(name);
  w.u8(0);
  w.pad_to(4); // the archive starts 4-aligned in our buffer, so this aligns header+name
  w.bytes(body);
  w.pad_to(4);
}

bool is_known_type(std::uint32_t type) {
  switch (type) {
  case k_mode_socket:
  case k_mode_symlink:
  case k_mode_regular:
  case k_mode_block:
  case k_mode_dir:
  case k_mode_char:
  case k_mode_fifo:
    return true;
  default:
    return false;
  }
}

[[noreturn]] void entry_error(std::size_t index, const CpioEntry& e, std::string_view detail) {
  fail(ErrorKind::input, "cpio entry {} ({:?}): {}", index, e.path, detail);
}

void validate_entry(std::size_t index, const CpioEntry& e) {
  if (e.path.empty()) entry_error(index, e, "empty path");
  if (e.path.front() == '/') entry_error(index, e, "path must not start with '/'");
  if (e.path == "." || e.path == k_trailer) entry_error(index, e, "reserved path");
  if (e.path.find('\0') != std::string::npos) entry_error(index, e, "path contains a NUL byte");
  if (e.path.size() + 1 > k_cpio_path_max) {
    entry_error(index, e, fmt::format("path longer than {} bytes", k_cpio_path_max - 1));
  }
  const std::uint32_t type = e.mode & k_mode_type_mask;
  if (!is_known_type(type))
    entry_error(index, e, fmt::format("unknown file type in mode 0{:o}", e.mode));
  const std::uint64_t size = e.data ? e.data->size() : 0;
  if (type == k_mode_regular || type == k_mode_symlink) {
    if (size > k_u32_max)
      entry_error(index, e, "data larger than 4 GiB - 1 (c_filesize is 32-bit)");
    if (type == k_mode_symlink && (size == 0 || size > k_cpio_path_max)) {
      entry_error(index, e, fmt::format("symlink target must be 1..{} bytes", k_cpio_path_max));
    }
  } else if (size != 0) {
    entry_error(index, e, "only regular files and symlinks carry data");
  }
  if (e.nlink == 0) entry_error(index, e, "nlink 0");
}

bool is_hardlinked(const CpioEntry& e) {
  return (e.mode & k_mode_type_mask) == k_mode_regular && e.nlink > 1;
}

} // namespace

Bytes write_cpio_newc(std::span<const CpioEntry> entries) {
  for (std::size_t i = 0; i < entries.size(); ++i)
    validate_entry(i, entries[i]);

  // Hardlink groups: regular files with nlink > 1 sharing an inode number. The body goes with
  // the group's last member (GNU cpio's newc convention), the others get c_filesize 0.
  struct Group {
    std::size_t count = 0, first = 0, last = 0;
    const Bytes* data = nullptr;
  };
  std::map<std::uint32_t, Group> groups;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const CpioEntry& e = entries[i];
    if (!is_hardlinked(e)) continue;
    auto [it, fresh] = groups.try_emplace(e.ino);
    Group& g = it->second;
    if (fresh) g.first = i;
    const CpioEntry& f = entries[g.first];
    if (e.nlink != f.nlink || e.mode != f.mode || e.uid != f.uid || e.gid != f.gid ||
        e.mtime != f.mtime) {
      entry_error(
          i, e,
          fmt::format("hardlink of entry {} ({:?}) with different metadata", g.first, f.path));
    }
    if (e.data && !e.data->empty()) {
      if (g.data != nullptr && g.data != e.data.get() && *g.data != *e.data) {
        entry_error(
            i, e,
            fmt::format("hardlink of entry {} ({:?}) with different content", g.first, f.path));
      }
      g.data = e.data.get();
    }
    ++g.count;
    g.last = i;
  }
  for (const auto& [ino, g] : groups) {
    if (g.count != entries[g.first].nlink) {
      entry_error(g.first, entries[g.first],
                  fmt::format("hardlink group of inode {} has {} members but nlink {}", ino,
                              g.count, entries[g.first].nlink));
    }
  }

  ByteWriter w;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const CpioEntry& e = entries[i];
    ByteSpan body;
    if (is_hardlinked(e)) {
      const Group& g = groups.at(e.ino);
      if (i == g.last && g.data != nullptr) body = *g.data;
    } else if (e.data) {
      body = *e.data;
    }
    const HeaderFields h{e.ino,
                         e.mode,
                         e.uid,
                         e.gid,
                         e.nlink,
                         e.mtime,
                         static_cast<std::uint32_t>(body.size()),
                         e.rdev_major,
                         e.rdev_minor,
                         static_cast<std::uint32_t>(e.path.size() + 1)};
    put_entry(w, h, e.path, body);
  }
  const HeaderFields trailer{0, 0, 0, 0, 1,
                             0, 0, 0, 0, static_cast<std::uint32_t>(k_trailer.size() + 1)};
  put_entry(w, trailer, k_trailer, {});
  return w.take();
}

std::uint32_t cpio_mtime(std::int64_t seconds_since_epoch) {
  if (seconds_since_epoch < 0 || static_cast<std::uint64_t>(seconds_since_epoch) > k_u32_max) {
    fail(ErrorKind::input, "timestamp {} does not fit cpio's 32-bit c_mtime (1970..2106)",
         seconds_since_epoch);
  }
  return static_cast<std::uint32_t>(seconds_since_epoch);
}

void append_initramfs_segment(Bytes& stream, ByteSpan segment) {
  stream.resize((stream.size() + 3) & ~static_cast<std::size_t>(3), 0);
  stream.insert(stream.end(), segment.begin(), segment.end());
}

// ---- reader -----------------------------------------------------------------------------
namespace {

// Parses the newc archives in one segment's uncompressed bytes, mirroring init/initramfs.c:
// an archive runs to its TRAILER!!!; zero bytes after it are padding; a following '0' starts
// another archive (only inside a decompressed segment, or when `chain` is set).
class SegmentParser {
public:
  SegmentParser(ByteSpan data, std::string context, std::size_t segment, CpioStream& out,
                bool require_trailer)
      : m_data(data)
      , m_ctx(std::move(context))
      , m_segment(segment)
      , m_out(out)
      , m_require_trailer(require_trailer) {}

  // Parses one archive starting at `pos` (4-aligned); returns the offset after its trailer and
  // the trailer's padding.
  std::uint64_t parse_archive(std::uint64_t pos) {
    m_archive_first_entry = m_entry;
    for (;;) {
      if (parse_entry(pos)) {
        ++m_entry;
        return pos;
      }
      ++m_entry;
    }
  }

  // Offset just after the last trailer's padding (before any further zero bytes).
  std::uint64_t archive_end() const { return m_archive_end; }

private:
  [[noreturn]] void error(std::uint64_t offset, std::string_view detail) const {
    fail(ErrorKind::input, "{}: entry {} at offset 0x{:x}: {}", m_ctx, m_entry, offset, detail);
  }

  std::uint32_t hex_field(std::uint64_t header, int index, std::string_view field) const {
    const std::uint64_t at = header + 6 + static_cast<std::uint64_t>(index) * 8;
    std::uint32_t v = 0;
    for (std::uint64_t i = 0; i < 8; ++i) {
      const std::uint8_t c = m_data[at + i];
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9')
        d = c - static_cast<std::uint32_t>('0');
      else if (c >= 'a' && c <= 'f')
        d = c - static_cast<std::uint32_t>('a') + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - static_cast<std::uint32_t>('A') + 10;
      else
        error(at + i, fmt::format("field {}: non-hex character 0x{:02x}", field, c));
      v = (v << 4) | d;
    }
    return v;
  }

  // Parses the entry at `pos`, advances `pos`; true if it was the trailer (pos then points after
  // the zero padding that follows it).
  bool parse_entry(std::uint64_t& pos) {
    const std::uint64_t header = pos;
    if (!m_require_trailer && m_entry > m_archive_first_entry &&
        (pos == m_data.size() || m_data[pos] != '0')) {
      // The kernel accepts an archive that just ends after a complete entry: at the end of the
      // data, or where the next (compressed) segment begins.
      m_archive_end = pos;
      return true;
    }
    if (pos == m_data.size() || m_data[pos] != '0') {
      error(pos, "missing TRAILER!!! (the archive ends without a trailer)");
    }
    if (m_data.size() - pos < k_newc_header_size) error(pos, "truncated header");
    const ByteSpan magic = m_data.subspan(static_cast<std::size_t>(pos), 6);
    const std::string_view m = as_chars(magic);
    if (m != "070701" && m != "070702") error(pos, "bad magic (expected 070701 or 070702)");
    const bool crc = m == "070702";
    CpioMember mem;
    CpioEntry& e = mem.entry;
    e.ino = hex_field(header, 0, "c_ino");
    e.mode = hex_field(header, 1, "c_mode");
    e.uid = hex_field(header, 2, "c_uid");
    e.gid = hex_field(header, 3, "c_gid");
    e.nlink = hex_field(header, 4, "c_nlink");
    e.mtime = hex_field(header, 5, "c_mtime");
    const std::uint32_t filesize = hex_field(header, 6, "c_filesize");
    mem.dev_major = hex_field(header, 7, "c_devmajor");
    mem.dev_minor = hex_field(header, 8, "c_devminor");
    e.rdev_major = hex_field(header, 9, "c_rdevmajor");
    e.rdev_minor = hex_field(header, 10, "c_rdevminor");
    const std::uint32_t namesize = hex_field(header, 11, "c_namesize");
    mem.check = hex_field(header, 12, "c_check");
    pos += k_newc_header_size;

    // Name: namesize includes the NUL; the kernel rejects 0 and > PATH_MAX.
    if (namesize == 0) error(header, "c_namesize is 0");
    if (namesize > k_cpio_path_max)
      error(header, fmt::format("c_namesize {} exceeds {}", namesize, k_cpio_path_max));
    if (namesize > m_data.size() - pos) {
      error(header,
            fmt::format("name of {} bytes runs past the end (0x{:x})", namesize, m_data.size()));
    }
    const ByteSpan name = m_data.subspan(static_cast<std::size_t>(pos), namesize);
    if (name.back() != 0) error(pos, "name is not NUL-terminated");
    const std::string_view name_chars = as_chars(name.first(name.size() - 1));
    if (name_chars.find('\0') != std::string_view::npos) error(pos, "name contains a NUL byte");
    pos = align_up(pos + namesize, 4, "cpio name padding");
    if (pos > m_data.size()) error(header, "name padding runs past the end");

    if (filesize > m_data.size() - pos) {
      error(header,
            fmt::format("body of {} bytes (c_filesize) at 0x{:x} runs past the end (0x{:x})",
                        filesize, pos, m_data.size()));
    }
    const ByteSpan body = m_data.subspan(static_cast<std::size_t>(pos), filesize);
    pos = align_up(pos + filesize, 4, "cpio body padding");
    if (pos > m_data.size()) error(header, "body padding runs past the end");

    if (name_chars == k_trailer) {
      m_archive_end = pos;
      // The kernel skips zero bytes after the trailer; anything else must start 4-aligned.
      while (pos < m_data.size() && m_data[pos] == 0)
        ++pos;
      return true;
    }
    const std::uint32_t type = e.mode & k_mode_type_mask;
    if (type == k_mode_symlink && filesize > k_cpio_path_max) {
      error(header,
            fmt::format("symlink target of {} bytes exceeds {}", filesize, k_cpio_path_max));
    }
    if (type != k_mode_regular && type != k_mode_symlink && filesize != 0) {
      error(header,
            fmt::format("c_filesize {} on an entry that is not a file or symlink", filesize));
    }
    if (crc) {
      std::uint32_t sum = 0;
      for (const std::uint8_t b : body)
        sum += b;
      if (sum != mem.check)
        error(header,
              fmt::format("c_check 0x{:08x} does not match data sum 0x{:08x}", mem.check, sum));
    }
    e.path = std::string(name_chars);
    e.data = std::make_shared<const Bytes>(body.begin(), body.end());
    mem.segment = m_segment;
    mem.offset = header;
    m_out.members.push_back(std::move(mem));
    return false;
  }

  ByteSpan m_data;
  std::string m_ctx;
  std::size_t m_segment;
  CpioStream& m_out;
  bool m_require_trailer;
  std::size_t m_entry = 0;
  std::size_t m_archive_first_entry = 0;
  std::uint64_t m_archive_end = 0;
};

} // namespace

CpioStream read_cpio_segments(ByteSpan stream, const CpioReadOptions& options) {
  CpioStream out;
  std::uint64_t pos = 0;
  std::uint64_t budget = options.max_uncompressed_bytes;
  // Mirrors init/initramfs.c unpack_to_rootfs(): zero bytes are skipped one by one, a '0' at a
  // 4-aligned offset starts a plain archive, anything else must be a compressed segment.
  while (pos < stream.size()) {
    const std::uint8_t c = stream[pos];
    if (c == 0) {
      ++pos;
      continue;
    }
    const std::size_t index = out.segments.size();
    CpioSegment seg;
    seg.offset = pos;
    seg.first_member = out.members.size();
    const ByteSpan rest = stream.subspan(static_cast<std::size_t>(pos));
    if (c == '0' && pos % 4 == 0) {
      const std::string ctx =
          fmt::format("{}: segment {} (plain cpio at offset 0x{:x})", options.name, index, pos);
      // The parser sees the rest of the stream; offsets in its errors and in members are relative
      // to the segment start (named in ctx), as they are for decompressed segments.
      SegmentParser parser(rest, ctx, index, out, options.require_trailer);
      const std::uint64_t end = parser.parse_archive(0);
      seg.compression = Compression::none;
      seg.archives = 1;
      seg.stored_size = parser.archive_end();
      seg.uncompressed_size = seg.stored_size;
      if (seg.uncompressed_size > budget) {
        fail(ErrorKind::input, "{}: total size exceeds the limit of {} bytes", ctx,
             options.max_uncompressed_bytes);
      }
      budget -= seg.uncompressed_size;
      pos += end;
      // init/initramfs.c do_reset(): after the zeros that follow an archive, the next byte
      // (plain header or compressed data) must be 4-aligned, else "broken padding".
      if (pos < stream.size() && pos % 4 != 0) {
        fail(ErrorKind::input, "{}: broken padding: next segment at offset 0x{:x} is not 4-aligned",
             ctx, pos);
      }
    } else {
      const std::optional<Compression> method = detect_compression(rest);
      if (!method || *method == Compression::none) {
        const std::string_view other = detect_unsupported_compression(rest);
        if (!other.empty()) {
          fail(ErrorKind::unsupported,
               "{}: segment {} at offset 0x{:x}: {} compression is not supported", options.name,
               index, pos, other);
        }
        fail(ErrorKind::input, "{}: segment {} at offset 0x{:x}: {} (byte 0x{:02x})", options.name,
             index, pos, c == '0' ? "cpio header not 4-aligned" : "invalid magic", c);
      }
      const std::string ctx = fmt::format("{}: segment {} ({} at offset 0x{:x})", options.name,
                                          index, compression_name(*method), pos);
      DecompressedFrame frame;
      try {
        frame = decompress_frame(rest, *method, budget);
      } catch (const Error& err) {
        fail(err.kind(), "{}: {}", ctx, err.what());
      }
      budget -= frame.data.size();
      // The decompressed bytes: archives separated by zero padding; the kernel reports "junk"
      // for anything else and requires the segment to end right after a trailer's padding.
      SegmentParser parser(frame.data, ctx, index, out, options.require_trailer);
      std::uint64_t p = 0;
      if (frame.data.empty()) fail(ErrorKind::input, "{}: decompresses to nothing", ctx);
      while (p < frame.data.size()) {
        if (frame.data[p] != '0') {
          fail(ErrorKind::input,
               "{}: junk byte 0x{:02x} at offset 0x{:x} within the compressed archive", ctx,
               frame.data[p], p);
        }
        if (p % 4 != 0)
          fail(ErrorKind::input, "{}: cpio header at offset 0x{:x} not 4-aligned", ctx, p);
        p = parser.parse_archive(p);
        ++seg.archives;
      }
      seg.compression = *method;
      seg.stored_size = frame.consumed;
      seg.uncompressed_size = frame.data.size();
      // Members keep their own copies of the bodies; the decompressed buffer dies here.
      pos += frame.consumed;
    }
    seg.member_count = out.members.size() - seg.first_member;
    out.segments.push_back(seg);
  }
  return out;
}

std::vector<CpioMember> read_cpio_stream(ByteSpan stream, const CpioReadOptions& options) {
  return read_cpio_segments(stream, options).members;
}

} // namespace tdximg::rootfs
