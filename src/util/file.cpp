#include <tdximg/util/file.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <tdximg/util/error.hpp>

namespace tdximg {

std::string errno_text() { return std::strerror(errno); }

namespace {
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
} // namespace

Bytes read_file(const fs::path& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(ErrorKind::io, "{}: cannot open: {}", path.string(), errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(ErrorKind::io, "{}: cannot stat: {}", path.string(), errno_text());
  if (S_ISDIR(st.st_mode)) fail(ErrorKind::io, "{}: is a directory, expected a file", path.string());
  Bytes out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::io, "{}: read failed: {}", path.string(), errno_text());
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

std::string read_text_file(const fs::path& path) {
  Bytes b = read_file(path);
  return std::string(b.begin(), b.end());
}

void fsync_dir(const fs::path& dir) noexcept {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

void write_file_atomic(const fs::path& path, ByteSpan data, unsigned mode) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  Fd f{::mkstemp(tmpl.data())};
  if (f.fd < 0) fail(ErrorKind::io, "{}: cannot create a temporary file in {}: {}", path.string(), dir.string(), errno_text());
  const fs::path tmp = tmpl;
  try {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(f.fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(ErrorKind::io, "{}: write failed: {}", path.string(), errno_text());
      }
      done += static_cast<std::size_t>(n);
    }
    // The mode is explicit, never from the umask.
    if (::fchmod(f.fd, static_cast<mode_t>(mode)) != 0) fail(ErrorKind::io, "{}: chmod failed: {}", path.string(), errno_text());
    if (::fsync(f.fd) != 0) fail(ErrorKind::io, "{}: fsync failed: {}", path.string(), errno_text());
    ::close(f.fd);
    f.fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(ErrorKind::io, "{}: rename failed: {}", path.string(), errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(dir);
}

TempDir::TempDir(const fs::path& parent, std::string_view prefix) {
  fs::path base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = (t != nullptr && *t != '\0') ? fs::path(t) : fs::path("/tmp");
  }
  std::string tmpl = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) fail(ErrorKind::io, "{}: cannot create a temporary directory: {}", base.string(), errno_text());
  m_path = tmpl;
}

TempDir::~TempDir() {
  if (!m_path.empty()) {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
}

fs::path TempDir::release() noexcept { return std::exchange(m_path, {}); }

} // namespace tdximg
