#pragma once
// Content-addressed store of immutable blobs plus keyed entries for derived results.
//
// Layout under the root (default_store_root()):
//   blobs/sha256/<2 hex>/<64 hex>      immutable blob, mode 0444, content hashes to its name
//   keyed/<namespace>/<2 hex>/<key>    derived result: data || sha256(data) || "TDXKEY01"
//                                      (namespaces: "segments" compressed initramfs segments,
//                                      "layers" FileTree snapshots, "members" files taken from
//                                      archive inputs, "gcp" GCP tarballs; pipeline/steps.hpp)
//   locks/<name>.lock                  flock(2) lock files (e.g. the private apt state)
//   apt/...                            private apt states (store/resolve.cpp)
//   tmp/                               scratch space
// Every file is written to a temporary name in its final directory, fsync'ed and renamed, so a
// crash never leaves a visible partial entry and two processes may share a store. The bytes a
// reader gets are the bytes it hashed: entries are read into memory, verified, and that buffer is
// returned. A corrupt entry is deleted and reported as missing, so it is fetched/rebuilt again.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <tdximg/util/bytes.hpp>

namespace tdximg::store {

namespace fs = std::filesystem;

// $TDXIMG_CACHE, else $XDG_CACHE_HOME/tdximg, else $HOME/.cache/tdximg (empty or relative values
// are ignored). Throws ErrorKind::io if none of them is usable.
fs::path default_store_root();

// An exclusive flock(2) on a file, held until destruction. Blocks until acquired.
class FileLock {
public:
  // Creates `path` (and its parent directory) if needed. Throws ErrorKind::io.
  explicit FileLock(const fs::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;

private:
  int m_fd = -1;
};

class Store {
public:
  // Opens (creating if needed) a store rooted at `root`. Throws ErrorKind::io.
  explicit Store(fs::path root);

  const fs::path& root() const noexcept { return m_root; }

  // Stores `data` under its sha256 (skipped if already present and intact); returns the
  // lowercase hex digest. Throws ErrorKind::io.
  std::string put(ByteSpan data);
  // The blob named `sha256_hex`, re-verified; nullopt if absent or corrupt (a corrupt blob is
  // deleted). Throws ErrorKind::input for a malformed digest, ErrorKind::io for read errors.
  std::optional<Bytes> get(std::string_view sha256_hex);
  // Whether a blob file exists under that name (not verified; get() verifies).
  bool has(std::string_view sha256_hex) const;
  // Path where the blob would live (for messages and tools; never read it without verifying).
  fs::path blob_path(std::string_view sha256_hex) const;

  // Keyed entry: `ns` is [a-z0-9._-]+, `key_hex` lowercase hex of 16..128 digits (e.g. a digest
  // of everything the result depends on). put_keyed replaces any previous value atomically.
  // Throws ErrorKind::input for a bad namespace/key, ErrorKind::io for write errors.
  void put_keyed(std::string_view ns, std::string_view key_hex, ByteSpan data);
  // The value, verified against its integrity footer; nullopt if absent or corrupt (deleted).
  std::optional<Bytes> get_keyed(std::string_view ns, std::string_view key_hex);

  // A lock shared by every process using this store, e.g. lock("apt-bookworm-amd64").
  // `name` is [a-zA-Z0-9._-]+. Throws ErrorKind::input / ErrorKind::io.
  FileLock lock(std::string_view name) const;

  // Removes temporary files left by crashed writers that are older than `min_age_seconds`.
  // Returns how many were removed. Never throws for individual files.
  std::size_t remove_stale_temporaries(long min_age_seconds = 3600);

  // A directory under the store for private state (created 0700 if needed), e.g. "apt".
  fs::path state_dir(std::string_view name) const;

private:
  fs::path m_root;
};

// Writes `data` to `path` atomically (temp in the same directory, fsync, rename, fsync dir) with
// the given mode. Throws ErrorKind::io. Exposed for the store's own modules and tests.
void write_atomic(const fs::path& path, ByteSpan data, unsigned mode);

} // namespace tdximg::store
