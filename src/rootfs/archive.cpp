// Archive readers on libarchive's read API, from memory, with an explicit format/filter list.
// Why not archive_read_support_format_all: most libarchive CVEs are in readers we never need
// (RAR, 7z, LHA); see reliability.md §0.2. Why not archive_write_disk: reliability.md §0.1.

#include <tdximg/rootfs/archive.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>

#include <archive.h>
#include <archive_entry.h>

#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {

namespace {

struct ArchiveFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

// What is left of the limits; shared by the outer ar and the inner tars of a .deb.
struct Budget {
  std::uint64_t bytes;
  std::uint64_t entries;
  const ArchiveLimits& limits;
  std::string_view name;

  void take_bytes(std::uint64_t n) {
    if (n > bytes)
      fail(ErrorKind::input, "{}: archive expands to more than {} bytes (limit)", name,
           limits.max_total_bytes);
    bytes -= n;
  }
  void take_entry() {
    if (entries == 0)
      fail(ErrorKind::input, "{}: archive has more than {} entries (limit)", name,
           limits.max_entries);
    --entries;
  }
};

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string lib_error(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

ArchivePtr open_memory(ByteSpan data, std::string_view name, bool ar) {
  ArchivePtr a(archive_read_new());
  if (!a) fail(ErrorKind::internal, "{}: archive_read_new failed", name);
  int rc = ARCHIVE_OK;
  if (ar) {
    rc |= archive_read_support_format_ar(a.get());
  } else {
    rc |= archive_read_support_format_tar(a.get());
    rc |= archive_read_support_filter_gzip(a.get());
    rc |= archive_read_support_filter_xz(a.get());
    rc |= archive_read_support_filter_zstd(a.get());
    rc |= archive_read_support_filter_bzip2(a.get());
  }
  rc |= archive_read_support_filter_none(a.get());
  if (rc != ARCHIVE_OK)
    fail(ErrorKind::internal, "{}: libarchive lacks a needed format or filter: {}", name,
         lib_error(a.get()));
  // An empty buffer: libarchive wants a valid pointer.
  static const std::uint8_t k_empty = 0;
  const void* ptr = data.empty() ? &k_empty : data.data();
  if (archive_read_open_memory(a.get(), ptr, data.size()) != ARCHIVE_OK)
    fail(ErrorKind::input, "{}: not a readable archive: {}", name, lib_error(a.get()));
  return a;
}

// Reads the current entry's data, counting every byte against the budget; keeps it if asked.
Bytes read_data(archive* a, Budget& budget, bool keep, std::string_view name,
                std::string_view path) {
  Bytes out;
  std::array<std::uint8_t, 65536> buf{};
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0)
      fail(ErrorKind::input, "{}: entry '{}': reading data failed: {}", name, path, lib_error(a));
    const auto un = static_cast<std::size_t>(n);
    budget.take_bytes(un);
    if (keep) out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(un));
  }
  return out;
}

std::uint32_t id_field(la_int64_t v, std::string_view name, std::string_view path,
                       std::string_view field) {
  if (v < 0 || v > static_cast<la_int64_t>(std::numeric_limits<std::uint32_t>::max()))
    fail(ErrorKind::input, "{}: entry '{}': {} {} out of range", name, path, field, v);
  return static_cast<std::uint32_t>(v);
}

std::vector<ArchiveEntry> read_tar_budget(ByteSpan data, std::string_view name, Budget& budget,
                                          const KeepData& keep) {
  ArchivePtr a = open_memory(data, name, false);
  std::vector<ArchiveEntry> out;
  std::size_t index = 0;
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      fail(ErrorKind::input, "{}: entry #{}: {}", name, index, lib_error(a.get()));
    ++index;
    budget.take_entry();
    const char* raw = archive_entry_pathname(e);
    if (!raw)
      fail(ErrorKind::input, "{}: entry #{}: name cannot be decoded", name, index);
    const std::string what = fmt::format("{}: entry #{}", name, index);
    ArchiveEntry entry;
    entry.path = normalize_archive_path(raw, what);
    const std::string& path = entry.path;
    entry.mode = static_cast<std::uint32_t>(archive_entry_perm(e)) & 07777u;
    entry.uid = id_field(archive_entry_uid(e), name, path, "uid");
    entry.gid = id_field(archive_entry_gid(e), name, path, "gid");
    const char* hardlink = archive_entry_hardlink(e);
    const auto ftype = archive_entry_filetype(e);
    if (hardlink) {
      entry.type = EntryType::hardlink;
      entry.target = normalize_archive_path(hardlink, what + " hardlink target");
      if (entry.target.empty())
        fail(ErrorKind::input, "{}: entry '{}': hardlink to the archive root", name, path);
      if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
        fail(ErrorKind::input, "{}: entry '{}': hardlink carries {} bytes of data", name, path,
             archive_entry_size(e));
      if (!read_data(a.get(), budget, true, name, path).empty())
        fail(ErrorKind::input, "{}: entry '{}': hardlink carries data", name, path);
    } else if (ftype == AE_IFREG) {
      entry.type = EntryType::regular;
      const bool want = !keep || keep(path);
      Bytes bytes = read_data(a.get(), budget, want, name, path);
      if (want) entry.content = Content::make(std::move(bytes));
    } else if (ftype == AE_IFDIR) {
      entry.type = EntryType::directory;
    } else if (ftype == AE_IFLNK) {
      entry.type = EntryType::symlink;
      const char* target = archive_entry_symlink(e);
      if (!target || !*target)
        fail(ErrorKind::input, "{}: entry '{}': symlink without a target", name, path);
      entry.target = target;
      if (entry.target.size() > k_max_path_bytes)
        fail(ErrorKind::input, "{}: entry '{}': symlink target over {} bytes", name, path,
             k_max_path_bytes);
      for (char c : entry.target)
        if (is_control(static_cast<unsigned char>(c)))
          fail(ErrorKind::input, "{}: entry '{}': control byte in symlink target", name, path);
    } else if (ftype == AE_IFCHR || ftype == AE_IFBLK) {
      entry.type = ftype == AE_IFCHR ? EntryType::chardev : EntryType::blockdev;
      entry.rdev_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(e));
      entry.rdev_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(e));
    } else if (ftype == AE_IFIFO) {
      entry.type = EntryType::fifo;
    } else {
      fail(ErrorKind::input, "{}: entry '{}': unsupported entry type 0{:o} (socket?)", name,
           path, static_cast<unsigned>(ftype));
    }
    if (path.empty()) {
      if (entry.type != EntryType::directory)
        fail(ErrorKind::input, "{}: entry #{}: the archive root is not a directory", name, index);
      continue; // "./": the destination itself; its metadata is not taken
    }
    out.push_back(std::move(entry));
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_tar_member(std::string_view member, std::string_view stem) {
  if (!starts_with(member, stem)) return false;
  const std::string_view ext = member.substr(stem.size());
  return ext.empty() || ext == ".gz" || ext == ".xz" || ext == ".zst" || ext == ".bz2";
}

} // namespace

std::string normalize_archive_path(std::string_view raw, std::string_view what) {
  if (raw.empty()) fail(ErrorKind::input, "{}: empty name", what);
  for (char c : raw)
    if (is_control(static_cast<unsigned char>(c)))
      fail(ErrorKind::input, "{}: name contains a NUL or control byte", what);
  if (raw.front() == '/') fail(ErrorKind::input, "{}: absolute name '{}'", what, raw);
  std::string out;
  std::size_t i = 0;
  while (i < raw.size()) {
    std::size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    const std::string_view c = raw.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") fail(ErrorKind::input, "{}: name '{}' contains '..'", what, raw);
    if (c.size() > k_max_name_bytes)
      fail(ErrorKind::input, "{}: name component of {} bytes exceeds {}", what, c.size(),
           k_max_name_bytes);
    if (!out.empty()) out += '/';
    out += c;
  }
  if (out.size() + 1 > k_max_path_bytes)
    fail(ErrorKind::input, "{}: name of {} bytes exceeds {}", what, out.size(), k_max_path_bytes);
  return out;
}

std::vector<ArchiveEntry> read_tar(ByteSpan data, std::string_view name,
                                   const ArchiveLimits& limits, const KeepData& keep) {
  Budget budget{limits.max_total_bytes, limits.max_entries, limits, name};
  return read_tar_budget(data, name, budget, keep);
}

bool is_deb(ByteSpan data) noexcept {
  const std::string_view s = as_chars(data);
  return s.size() >= 8 + 13 && s.substr(0, 8) == "!<arch>\n" && s.substr(8, 13) == "debian-binary";
}

DebContents read_deb(ByteSpan data, std::string_view name, const ArchiveLimits& limits,
                     const KeepData& keep) {
  Budget budget{limits.max_total_bytes, limits.max_entries, limits, name};
  if (!is_deb(data))
    fail(ErrorKind::input, "{}: not a Debian package (no '!<arch>' with debian-binary first)",
         name);
  ArchivePtr a = open_memory(data, name, true);
  DebContents out;
  bool have_version = false;
  bool have_control = false;
  bool have_data = false;
  std::size_t index = 0;
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      fail(ErrorKind::input, "{}: ar member #{}: {}", name, index, lib_error(a.get()));
    ++index;
    budget.take_entry();
    const char* raw = archive_entry_pathname(e);
    const std::string member = raw ? raw : "";
    const std::string mname = fmt::format("{}: {}", name, member);
    if (member == "debian-binary") {
      const Bytes v = read_data(a.get(), budget, true, name, member);
      const std::string_view text = as_chars(v);
      if (index != 1 || have_version)
        fail(ErrorKind::input, "{}: debian-binary is not the first member", name);
      if (!starts_with(text, "2.") || text.back() != '\n')
        fail(ErrorKind::unsupported, "{}: unsupported package format version '{}'", name,
             text.substr(0, std::min<std::size_t>(text.size(), 16)));
      have_version = true;
    } else if (is_tar_member(member, "control.tar")) {
      if (have_control) fail(ErrorKind::input, "{}: two control.tar members", name);
      have_control = true;
      const Bytes inner = read_data(a.get(), budget, true, name, member);
      const auto entries = read_tar_budget(inner, mname, budget, [](const std::string&) {
        return false; // member names only
      });
      for (const auto& ce : entries) {
        static constexpr std::array<std::string_view, 5> k_scripts{"config", "postinst", "postrm",
                                                                   "preinst", "prerm"};
        if (ce.type == EntryType::regular &&
            std::find(k_scripts.begin(), k_scripts.end(), ce.path) != k_scripts.end())
          out.maintainer_scripts.push_back(ce.path);
      }
      std::sort(out.maintainer_scripts.begin(), out.maintainer_scripts.end());
      out.maintainer_scripts.erase(
          std::unique(out.maintainer_scripts.begin(), out.maintainer_scripts.end()),
          out.maintainer_scripts.end());
    } else if (is_tar_member(member, "data.tar")) {
      if (have_data) fail(ErrorKind::input, "{}: two data.tar members", name);
      if (!have_control) fail(ErrorKind::input, "{}: data.tar before control.tar", name);
      have_data = true;
      const Bytes inner = read_data(a.get(), budget, true, name, member);
      out.entries = read_tar_budget(inner, mname, budget, keep);
    } else if (starts_with(member, "_")) {
      read_data(a.get(), budget, false, name, member); // dpkg ignores members starting with '_'
    } else if (starts_with(member, "data.tar") || starts_with(member, "control.tar")) {
      fail(ErrorKind::unsupported, "{}: unsupported compression of member '{}'", name, member);
    } else {
      fail(ErrorKind::input, "{}: unexpected member '{}'", name, member);
    }
  }
  if (!have_version || !have_control || !have_data)
    fail(ErrorKind::input, "{}: truncated Debian package (missing {})", name,
         !have_version ? "debian-binary" : !have_control ? "control.tar" : "data.tar");
  return out;
}

std::vector<ArchiveEntry> read_archive_input(ByteSpan data, std::string_view name,
                                             const ArchiveLimits& limits, const KeepData& keep,
                                             std::vector<std::string>* scripts) {
  if (is_deb(data)) {
    DebContents deb = read_deb(data, name, limits, keep);
    if (scripts) *scripts = std::move(deb.maintainer_scripts);
    return std::move(deb.entries);
  }
  if (scripts) scripts->clear();
  return read_tar(data, name, limits, keep);
}

} // namespace tdximg::rootfs
