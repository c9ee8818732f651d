#include <tdximg/store/store.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::store {

namespace {

// Footer of a keyed entry: sha256(data) followed by this magic.
constexpr std::string_view k_keyed_magic = "TDXKEY01";
constexpr std::size_t k_keyed_footer = 32 + 8;

bool is_lower_hex(std::string_view s) {
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void check_digest(std::string_view hex) {
  if (hex.size() != 64 || !is_lower_hex(hex))
    fail(ErrorKind::input, "store: '{}' is not a lowercase sha256 hex digest", hex);
}

void check_name(std::string_view what, std::string_view name, bool allow_upper) {
  bool ok = !name.empty() && name.size() <= 128 && name != "." && name != "..";
  for (const char c : name) {
    const bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                       c == '-';
    const bool upper = allow_upper && c >= 'A' && c <= 'Z';
    if (!lower && !upper) ok = false;
  }
  if (!ok) fail(ErrorKind::input, "store: invalid {} '{}'", what, name);
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot create directory: {}", dir.string(), ec.message());
}

// Reads a store file; nullopt if it does not exist.
std::optional<Bytes> read_if_exists(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  try {
    return read_file(p);
  } catch (const Error&) {
    if (!fs::exists(p, ec)) return std::nullopt; // removed concurrently
    throw;
  }
}

void remove_corrupt(const fs::path& p) {
  // Best effort: another process may have replaced or removed it already.
  ::unlink(p.c_str());
}

} // namespace

fs::path default_store_root() {
  auto env = [](const char* name) -> std::optional<fs::path> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    fs::path p(v);
    if (!p.is_absolute()) return std::nullopt;
    return p;
  };
  if (auto p = env("TDXIMG_CACHE")) return *p;
  if (auto p = env("XDG_CACHE_HOME")) return *p / "tdximg";
  if (auto p = env("HOME")) return *p / ".cache" / "tdximg";
  fail(ErrorKind::io, "no cache directory: set TDXIMG_CACHE (or XDG_CACHE_HOME or HOME) to an "
                      "absolute path, or pass --cache");
}

FileLock::FileLock(const fs::path& path) {
  if (path.has_parent_path()) make_dirs(path.parent_path());
  m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (m_fd < 0) fail(ErrorKind::io, "{}: cannot open lock file: {}", path.string(), errno_text());
  while (::flock(m_fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = errno_text();
    ::close(m_fd);
    m_fd = -1;
    fail(ErrorKind::io, "{}: cannot lock: {}", path.string(), why);
  }
}

FileLock::~FileLock() {
  if (m_fd >= 0) ::close(m_fd); // closing releases the flock
}

FileLock::FileLock(FileLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

void write_atomic(const fs::path& path, ByteSpan data, unsigned mode) {
  write_file_atomic(path, data, mode);
}

Store::Store(fs::path root) : m_root(std::move(root)) {
  if (m_root.empty()) fail(ErrorKind::io, "store: empty root directory");
  make_dirs(m_root / "blobs" / "sha256");
  make_dirs(m_root / "keyed");
  make_dirs(m_root / "locks");
}

fs::path Store::blob_path(std::string_view sha256_hex) const {
  check_digest(sha256_hex);
  return m_root / "blobs" / "sha256" / std::string(sha256_hex.substr(0, 2)) /
         std::string(sha256_hex);
}

bool Store::has(std::string_view sha256_hex) const {
  std::error_code ec;
  return fs::is_regular_file(blob_path(sha256_hex), ec);
}

std::string Store::put(ByteSpan data) {
  const std::string hex = sha256_hex(data);
  const fs::path p = blob_path(hex);
  // Skip the write if an intact copy is there; a corrupt one is replaced.
  if (has(hex) && get(hex).has_value()) return hex;
  make_dirs(p.parent_path());
  // Temporary name in the same directory + fsync + rename: readers never see a partial blob;
  // two writers of the same blob both rename identical bytes into place.
  write_file_atomic(p, data, 0444);
  return hex;
}

std::optional<Bytes> Store::get(std::string_view sha256_hex_str) {
  const fs::path p = blob_path(sha256_hex_str);
  std::optional<Bytes> data = read_if_exists(p);
  if (!data) return std::nullopt;
  // The bytes returned are the bytes hashed here, never re-read from the path.
  if (sha256_hex(*data) != sha256_hex_str) {
    remove_corrupt(p);
    return std::nullopt;
  }
  return data;
}

void Store::put_keyed(std::string_view ns, std::string_view key_hex, ByteSpan data) {
  check_name("keyed namespace", ns, false);
  if (key_hex.size() < 16 || key_hex.size() > 128 || !is_lower_hex(key_hex))
    fail(ErrorKind::input, "store: keyed entry '{}': key '{}' is not 16..128 lowercase hex digits",
         ns, key_hex);
  const fs::path dir = m_root / "keyed" / std::string(ns) / std::string(key_hex.substr(0, 2));
  make_dirs(dir);
  Bytes out;
  out.reserve(data.size() + k_keyed_footer);
  out.insert(out.end(), data.begin(), data.end());
  const Sha256 d = sha256(data);
  out.insert(out.end(), d.begin(), d.end());
  const ByteSpan magic = as_bytes(k_keyed_magic);
  out.insert(out.end(), magic.begin(), magic.end());
  write_file_atomic(dir / std::string(key_hex), out, 0444);
}

std::optional<Bytes> Store::get_keyed(std::string_view ns, std::string_view key_hex) {
  check_name("keyed namespace", ns, false);
  if (key_hex.size() < 16 || key_hex.size() > 128 || !is_lower_hex(key_hex))
    fail(ErrorKind::input, "store: keyed entry '{}': key '{}' is not 16..128 lowercase hex digits",
         ns, key_hex);
  const fs::path p =
      m_root / "keyed" / std::string(ns) / std::string(key_hex.substr(0, 2)) / std::string(key_hex);
  std::optional<Bytes> raw = read_if_exists(p);
  if (!raw) return std::nullopt;
  const std::size_t n = raw->size();
  bool ok = n >= k_keyed_footer;
  if (ok) {
    const ByteSpan all(*raw);
    const ByteSpan body = all.first(n - k_keyed_footer);
    const ByteSpan digest = all.subspan(n - k_keyed_footer, 32);
    const ByteSpan magic = all.subspan(n - 8, 8);
    const Sha256 d = sha256(body);
    ok = as_chars(magic) == k_keyed_magic && std::equal(d.begin(), d.end(), digest.begin());
  }
  if (!ok) {
    remove_corrupt(p);
    return std::nullopt;
  }
  raw->resize(n - k_keyed_footer);
  return raw;
}

FileLock Store::lock(std::string_view name) const {
  check_name("lock name", name, true);
  return FileLock(m_root / "locks" / (std::string(name) + ".lock"));
}

fs::path Store::state_dir(std::string_view name) const {
  check_name("state directory", name, true);
  const fs::path p = m_root / std::string(name);
  make_dirs(p);
  ::chmod(p.c_str(), 0700);
  return p;
}

std::size_t Store::remove_stale_temporaries(long min_age_seconds) {
  std::size_t removed = 0;
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  for (const char* top : {"blobs", "keyed"}) {
    fs::recursive_directory_iterator it(m_root / top, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      // util's write_file_atomic names its temporaries ".<target>.tmp-XXXXXX".
      if (name.empty() || name[0] != '.' || name.find(".tmp-") == std::string::npos) continue;
      std::error_code ec2;
      if (!it->is_regular_file(ec2)) continue;
      const auto age = now - it->last_write_time(ec2);
      if (ec2 || age < std::chrono::seconds(min_age_seconds)) continue;
      if (fs::remove(it->path(), ec2)) ++removed;
    }
    ec.clear();
  }
  return removed;
}

} // namespace tdximg::store
