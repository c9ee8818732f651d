#pragma once
// File helpers. Writes are atomic: the bytes go to a temporary name in the same directory, are
// fsync'ed, and renamed over the target, so a reader sees the old file or the new one.

#include <filesystem>
#include <string>

#include <tdximg/util/bytes.hpp>

namespace tdximg {

namespace fs = std::filesystem;

// Whole file into memory. Throws ErrorKind::io naming the path and errno text.
Bytes read_file(const fs::path& path);
std::string read_text_file(const fs::path& path);

// Atomically replaces `path` with `data` (mode 0644 unless given). Throws ErrorKind::io.
void write_file_atomic(const fs::path& path, ByteSpan data, unsigned mode = 0644);
inline void write_file_atomic(const fs::path& path, std::string_view text, unsigned mode = 0644) {
  write_file_atomic(path, as_bytes(text), mode);
}

// fsync a directory so that a rename inside it is durable. Errors are ignored (best effort).
void fsync_dir(const fs::path& dir) noexcept;

// A fresh, private temporary directory (0700) under `parent` (default: $TMPDIR or /tmp),
// removed recursively on destruction unless release()d.
class TempDir {
public:
  explicit TempDir(const fs::path& parent = {}, std::string_view prefix = "tdximg-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const noexcept { return m_path; }
  fs::path release() noexcept;

private:
  fs::path m_path;
};

// "<errno text>" for the current errno, for messages.
std::string errno_text();

} // namespace tdximg
