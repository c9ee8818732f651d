#pragma once
// Test-only builders for archive fixtures: tar via libarchive's WRITE api into memory (never
// archive_write_disk), raw ustar headers by hand (for entries libarchive refuses to write),
// ar/.deb containers by hand, and minimal ELF64 kernel modules with a .modinfo section.

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/file.hpp>

namespace rootfs_test {

using tdximg::Bytes;

struct TarItem {
  TarItem(std::string path_, char type_ = 'f', std::string data_ = {}, unsigned mode_ = 0644,
          std::string link_ = {}, unsigned uid_ = 0, unsigned gid_ = 0, unsigned major_ = 0,
          unsigned minor_ = 0)
      : path(std::move(path_)), type(type_), data(std::move(data_)), mode(mode_),
        link(std::move(link_)), uid(uid_), gid(gid_), major(major_), minor(minor_) {}
  std::string path;
  char type = 'f';       // f file, d dir, l symlink, h hardlink, c chardev, b blockdev, p fifo, s socket
  std::string data;      // file data
  unsigned mode = 0644;  // permission bits
  std::string link;      // symlink target or hardlink target
  unsigned uid = 0, gid = 0;
  unsigned major = 0, minor = 0;
};

inline Bytes make_tar(const std::vector<TarItem>& items, std::string_view filter = "none",
                      std::string_view format = "pax") {
  struct Sink {
    static la_ssize_t write(archive*, void* self, const void* buf, size_t n) {
      auto* out = static_cast<Bytes*>(self);
      const auto* p = static_cast<const std::uint8_t*>(buf);
      out->insert(out->end(), p, p + n);
      return static_cast<la_ssize_t>(n);
    }
  };
  Bytes out;
  archive* a = archive_write_new();
  if (format == "gnu") archive_write_set_format_gnutar(a);
  else if (format == "ustar") archive_write_set_format_ustar(a);
  else archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  else if (filter == "xz") archive_write_add_filter_xz(a);
  else if (filter == "zstd") archive_write_add_filter_zstd(a);
  else if (filter == "bzip2") archive_write_add_filter_bzip2(a);
  else archive_write_add_filter_none(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, &Sink::write, nullptr);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.path.c_str());
    archive_entry_set_uid(e, it.uid);
    archive_entry_set_gid(e, it.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    unsigned type = AE_IFREG;
    switch (it.type) {
    case 'd': type = AE_IFDIR; break;
    case 'l': type = AE_IFLNK; archive_entry_set_symlink(e, it.link.c_str()); break;
    case 'h': archive_entry_set_hardlink(e, it.link.c_str()); break;
    case 'c': type = AE_IFCHR; break;
    case 'b': type = AE_IFBLK; break;
    case 'p': type = AE_IFIFO; break;
    case 's': type = AE_IFSOCK; break;
    default: break;
    }
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, it.mode);
    if (it.type == 'c' || it.type == 'b') {
      archive_entry_set_rdevmajor(e, it.major);
      archive_entry_set_rdevminor(e, it.minor);
    }
    archive_entry_set_size(e, it.type == 'f' ? static_cast<la_int64_t>(it.data.size()) : 0);
    archive_write_header(a, e);
    if (it.type == 'f' && !it.data.empty()) archive_write_data(a, it.data.data(), it.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// One raw ustar header block (+ data blocks) with arbitrary name/size fields: for entries that
// a well-behaved writer refuses (hardlink with data, ...). Append end_of_tar() after the last.
inline Bytes raw_ustar(std::string_view name, char typeflag, std::string_view data,
                       std::string_view linkname = "", std::uint64_t size_field = UINT64_MAX) {
  Bytes h(512, 0);
  auto put = [&](std::size_t off, std::string_view s) { std::memcpy(&h[off], s.data(), s.size()); };
  auto octal = [&](std::size_t off, std::size_t width, std::uint64_t v) {
    std::string s(width - 1, '0');
    for (std::size_t i = width - 1; i-- > 0; v >>= 3) s[i] = static_cast<char>('0' + (v & 7));
    put(off, s);
  };
  put(0, name.substr(0, 100));
  octal(100, 8, 0644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size_field == UINT64_MAX ? data.size() : size_field);
  octal(136, 12, 1700000000);
  h[156] = static_cast<std::uint8_t>(typeflag);
  put(157, linkname.substr(0, 100));
  put(257, std::string_view("ustar\0" "00", 8));
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (auto b : h) sum += b;
  std::string chk(6, '0');
  for (std::size_t i = 6; i-- > 0; sum >>= 3) chk[i] = static_cast<char>('0' + (sum & 7));
  put(148, chk);
  h[154] = 0;
  h[155] = ' ';
  Bytes out = h;
  out.insert(out.end(), data.begin(), data.end());
  out.resize((out.size() + 511) / 512 * 512, 0);
  return out;
}
inline Bytes end_of_tar() { return Bytes(1024, 0); }
inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A System V / GNU ar archive as dpkg-deb writes it.
inline Bytes make_ar(const std::vector<std::pair<std::string, Bytes>>& members) {
  std::string out = "!<arch>\n";
  for (const auto& [name, data] : members) {
    char hdr[61];
    std::snprintf(hdr, sizeof hdr, "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name.c_str(), "1700000000",
                  "0", "0", "100644", data.size());
    out.append(hdr, 60);
    out.append(data.begin(), data.end());
    if (data.size() % 2) out += '\n';
  }
  return Bytes(out.begin(), out.end());
}

inline Bytes make_deb(const Bytes& data_tar, std::string data_name = "data.tar",
                      const std::vector<std::string>& scripts = {},
                      std::string version = "2.0\n") {
  std::vector<TarItem> control{{"./", 'd', "", 0755}, {"./control", 'f', "Package: t\n"}};
  for (const auto& s : scripts) control.push_back({"./" + s, 'f', "#!/bin/sh\n", 0755});
  return make_ar({{"debian-binary", Bytes(version.begin(), version.end())},
                  {"control.tar.gz", make_tar(control, "gzip")},
                  {data_name, data_tar}});
}

// A minimal ELF64 little-endian relocatable file whose .modinfo holds `modinfo` strings.
inline Bytes make_ko(const std::vector<std::string>& modinfo) {
  std::string info;
  for (const auto& s : modinfo) {
    info += s;
    info += '\0';
  }
  const std::string shstr = std::string("\0.modinfo\0.shstrtab\0", 20);
  // Built as a string first: GCC 12 -O2 reports a false -Warray-bounds on vector::insert here.
  std::string body(64, '\0');
  const std::uint64_t info_off = body.size();
  body += info;
  const std::uint64_t str_off = body.size();
  body += shstr;
  while (body.size() % 8) body.push_back('\0');
  Bytes f(body.begin(), body.end());
  const std::uint64_t shoff = f.size();
  auto le = [&](Bytes& b, std::size_t off, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  Bytes sh(3 * 64, 0);
  // [1] .modinfo: PROGBITS, [2] .shstrtab: STRTAB
  le(sh, 64 + 0, 1, 4); le(sh, 64 + 4, 1, 4); le(sh, 64 + 0x18, info_off, 8); le(sh, 64 + 0x20, info.size(), 8);
  le(sh, 128 + 0, 10, 4); le(sh, 128 + 4, 3, 4); le(sh, 128 + 0x18, str_off, 8); le(sh, 128 + 0x20, shstr.size(), 8);
  f.insert(f.end(), sh.begin(), sh.end());
  const char ident[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
  std::memcpy(f.data(), ident, 8);
  le(f, 0x10, 1, 2);      // ET_REL
  le(f, 0x12, 62, 2);     // EM_X86_64
  le(f, 0x14, 1, 4);      // EV_CURRENT
  le(f, 0x28, shoff, 8);  // e_shoff
  le(f, 0x34, 64, 2);     // e_ehsize
  le(f, 0x3a, 64, 2);     // e_shentsize
  le(f, 0x3c, 3, 2);      // e_shnum
  le(f, 0x3e, 2, 2);      // e_shstrndx
  return f;
}

// A single xz stream (like a trixie .ko.xz), through libarchive's raw writer.
inline Bytes xz_compress(const Bytes& data) {
  struct Sink {
    static la_ssize_t write(archive*, void* self, const void* buf, size_t n) {
      auto* out = static_cast<Bytes*>(self);
      const auto* p = static_cast<const std::uint8_t*>(buf);
      out->insert(out->end(), p, p + n);
      return static_cast<la_ssize_t>(n);
    }
  };
  Bytes out;
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_xz(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, &Sink::write, nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "x");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline Bytes fixture(const std::string& name) {
  return tdximg::read_file(std::string(TDXIMG_SOURCE_DIR) + "/tests/data/rootfs/" + name);
}

inline std::string text(const tdximg::Bytes& b) { return std::string(b.begin(), b.end()); }

} // namespace rootfs_test
