#pragma once
// Readers for archive inputs: tar (plain, gzip, xz, zstd, bzip2) and Debian .deb (ar with
// debian-binary, control.tar.*, data.tar.*). libarchive's read API only, from memory, with only
// the formats and filters listed here enabled (never *_all, never archive_write_disk).
// Entries are checked and normalized here; placing them in a FileTree is layer.hpp's job.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::rootfs {

// Caps against archive bombs. Bytes are counted as produced by the decoder (all entries,
// including skipped ones and the inner tar of a .deb), not as claimed by headers.
struct ArchiveLimits {
  std::uint64_t max_total_bytes = 8ULL << 30;
  std::uint64_t max_entries = 1'000'000;
};

enum class EntryType { directory, regular, symlink, hardlink, chardev, blockdev, fifo };

struct ArchiveEntry {
  // Normalized, relative, no leading "./" or "/", no trailing "/": "usr/bin/x". The archive's
  // own root entry ("./") is dropped.
  std::string path;
  EntryType type = EntryType::regular;
  std::uint32_t mode = 0644; // permission bits only (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  Content content;           // regular: data (empty Content with null data if not kept)
  std::string target;        // symlink: verbatim target; hardlink: normalized archive path
  std::uint32_t rdev_major = 0;
  std::uint32_t rdev_minor = 0;
};

// Decides, from the normalized path, whether a regular entry's data is kept in memory.
// Entries whose data is not kept still appear (with null content data) and still count.
using KeepData = std::function<bool(const std::string& path)>;

// Normalizes one archive member name: strips "./" prefixes and a trailing '/', folds "//" and
// "/./". Returns "" for the archive root ("." or "./"). Throws ErrorKind::input naming `what`
// for an absolute path, a ".." component, an empty name, NUL or control bytes (< 0x20, 0x7f),
// a component over 255 bytes or a path over k_max_path_bytes.
std::string normalize_archive_path(std::string_view raw, std::string_view what);

// Reads every entry of a tar archive (plain/gz/xz/zst/bz2) held in memory, in archive order.
// Duplicates are returned as they come (the caller applies last-wins). Throws ErrorKind::input
// naming `name` and the entry for: malformed/truncated data, a bad path (see above), a
// hardlink carrying data, a socket or unknown type, limits exceeded.
std::vector<ArchiveEntry> read_tar(ByteSpan data, std::string_view name,
                                   const ArchiveLimits& limits = {}, const KeepData& keep = {});

struct DebContents {
  std::vector<ArchiveEntry> entries;           // data.tar.*, as read_tar() returns them
  std::vector<std::string> maintainer_scripts; // control.tar members that are scripts, sorted
                                               // (preinst, postinst, prerm, postrm, config)
};

// True if `data` starts like a Debian binary package ("!<arch>\n" + "debian-binary").
bool is_deb(ByteSpan data) noexcept;

// Reads a .deb: checks debian-binary is "2.x", reads control.tar.* (member names only) and
// data.tar{,.gz,.xz,.zst,.bz2}. Throws ErrorKind::input naming `name` for a malformed package
// or anything read_tar() rejects; ErrorKind::unsupported for a package format other than 2.x.
DebContents read_deb(ByteSpan data, std::string_view name, const ArchiveLimits& limits = {},
                     const KeepData& keep = {});

// An archive input of either kind: a .deb (is_deb) or a tar. Maintainer scripts of a .deb are
// returned in `scripts` when non-null. Throws as read_deb()/read_tar().
std::vector<ArchiveEntry> read_archive_input(ByteSpan data, std::string_view name,
                                             const ArchiveLimits& limits = {},
                                             const KeepData& keep = {},
                                             std::vector<std::string>* scripts = nullptr);

} // namespace tdximg::rootfs
