#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <tdximg/store/store.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;

namespace {
// sha256("abc"), FIPS 180-2 appendix B.1 (published vector).
constexpr const char* k_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
}

TEST_CASE("a blob is stored under its sha256 with mode 0444 and read back", "[store]") {
  TempDir dir;
  Store s(dir.path());
  CHECK(s.put(as_bytes("abc")) == k_abc);
  const fs::path p = dir.path() / "blobs/sha256/ba" / k_abc;
  CHECK(s.blob_path(k_abc) == p);
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
  CHECK(s.has(k_abc));
  const auto b = s.get(k_abc);
  REQUIRE(b);
  CHECK(as_chars(*b) == "abc");
  // Storing it again is a no-op.
  CHECK(s.put(as_bytes("abc")) == k_abc);
}

TEST_CASE("a missing blob is reported as missing and a malformed digest is an input error", "[store]") {
  TempDir dir;
  Store s(dir.path());
  CHECK_FALSE(s.get(k_abc).has_value());
  CHECK_FALSE(s.has(k_abc));
  try {
    (void)s.get("../../etc/passwd");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
  }
  CHECK_THROWS_AS(s.has("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"), Error);
}

TEST_CASE("a corrupt blob is detected, deleted and reported missing, then stored again", "[store]") {
  TempDir dir;
  Store s(dir.path());
  s.put(as_bytes("abc"));
  const fs::path p = s.blob_path(k_abc);
  ::chmod(p.c_str(), 0644);
  write_file_atomic(p, std::string_view("abd"), 0444);
  CHECK_FALSE(s.get(k_abc).has_value());
  CHECK_FALSE(fs::exists(p));
  // A put over a corrupt entry replaces it.
  write_file_atomic(p, std::string_view("xyz"), 0444);
  s.put(as_bytes("abc"));
  const auto b = s.get(k_abc);
  REQUIRE(b);
  CHECK(as_chars(*b) == "abc");
}

TEST_CASE("a crash mid-write leaves no visible blob and stale temporaries are cleaned", "[store]") {
  TempDir dir;
  Store s(dir.path());
  // What a writer killed between write and rename leaves: a temporary in the final directory.
  const fs::path shard = dir.path() / "blobs/sha256/ba";
  fs::create_directories(shard);
  const fs::path tmp = shard / ("." + std::string(k_abc) + ".tmp-AbC123");
  store_test::write(tmp, "ab"); // truncated content
  CHECK_FALSE(s.has(k_abc));
  CHECK_FALSE(s.get(k_abc).has_value());
  CHECK(s.remove_stale_temporaries(3600) == 0); // too young
  fs::last_write_time(tmp, fs::file_time_type::clock::now() - std::chrono::hours(2));
  CHECK(s.remove_stale_temporaries(3600) == 1);
  CHECK_FALSE(fs::exists(tmp));
  CHECK(s.put(as_bytes("abc")) == k_abc);
  CHECK(s.get(k_abc).has_value());
}

TEST_CASE("two threads putting the same blobs concurrently both succeed", "[store]") {
  TempDir dir;
  Store s(dir.path());
  Bytes big(1 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const std::string want = sha256_hex(big);
  std::atomic<int> failures{0};
  auto worker = [&] {
    for (int i = 0; i < 20; ++i) {
      try {
        Store mine(dir.path());
        if (mine.put(big) != want) ++failures;
        auto b = mine.get(want);
        if (!b || *b != big) ++failures;
      } catch (...) {
        ++failures;
      }
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  CHECK(failures == 0);
  // Exactly one file in the shard: no temporaries left.
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(s.blob_path(want).parent_path())) ++n;
  CHECK(n == 1);
}

TEST_CASE("two processes putting the same blob concurrently leave one intact blob", "[store]") {
  TempDir dir;
  const Bytes data(300000, 0x5a);
  const std::string want = sha256_hex(data);
  pid_t kids[2];
  for (pid_t& k : kids) {
    k = ::fork();
    REQUIRE(k >= 0);
    if (k == 0) {
      int rc = 0;
      try {
        for (int i = 0; i < 20; ++i) {
          Store s(dir.path());
          if (s.put(data) != want || !s.get(want)) rc = 1;
        }
      } catch (...) {
        rc = 2;
      }
      ::_exit(rc);
    }
  }
  for (pid_t k : kids) {
    int status = 0;
    REQUIRE(::waitpid(k, &status, 0) == k);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Store s(dir.path());
  const auto b = s.get(want);
  REQUIRE(b);
  CHECK(*b == data);
}

TEST_CASE("keyed entries round-trip and corruption of value or footer is detected", "[store]") {
  TempDir dir;
  Store s(dir.path());
  const std::string key = std::string(k_abc);
  CHECK_FALSE(s.get_keyed("layer", key).has_value());
  s.put_keyed("layer", key, as_bytes("tree bytes"));
  auto v = s.get_keyed("layer", key);
  REQUIRE(v);
  CHECK(as_chars(*v) == "tree bytes");
  // Another namespace is another entry.
  CHECK_FALSE(s.get_keyed("cpio-zstd", key).has_value());
  // Replacing works.
  s.put_keyed("layer", key, as_bytes("new"));
  CHECK(as_chars(*s.get_keyed("layer", key)) == "new");
  const fs::path p = dir.path() / "keyed/layer/ba" / key;
  REQUIRE(fs::exists(p));
  SECTION("a flipped value byte") {
    Bytes raw = read_file(p);
    raw[0] ^= 1;
    ::chmod(p.c_str(), 0644);
    write_file_atomic(p, raw, 0444);
  }
  SECTION("a truncated entry") {
    Bytes raw = read_file(p);
    raw.resize(raw.size() - 1);
    write_file_atomic(p, raw, 0444);
  }
  SECTION("an entry shorter than the footer") {
    write_file_atomic(p, std::string_view("x"), 0444);
  }
  CHECK_FALSE(s.get_keyed("layer", key).has_value());
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("keyed entries reject namespaces and keys that could escape the store", "[store]") {
  TempDir dir;
  Store s(dir.path());
  CHECK_THROWS_AS(s.put_keyed("../x", k_abc, as_bytes("v")), Error);
  CHECK_THROWS_AS(s.put_keyed("a/b", k_abc, as_bytes("v")), Error);
  CHECK_THROWS_AS(s.put_keyed("ok", "../../../../etc/passwd", as_bytes("v")), Error);
  CHECK_THROWS_AS(s.get_keyed("ok", "abc"), Error); // too short
}

TEST_CASE("default_store_root follows TDXIMG_CACHE, then XDG_CACHE_HOME, then HOME", "[store]") {
  auto save = [](const char* n) {
    const char* v = std::getenv(n);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto c = save("TDXIMG_CACHE"), x = save("XDG_CACHE_HOME"), h = save("HOME");
  ::setenv("TDXIMG_CACHE", "/c", 1);
  ::setenv("XDG_CACHE_HOME", "/x", 1);
  ::setenv("HOME", "/h", 1);
  CHECK(default_store_root() == fs::path("/c"));
  ::unsetenv("TDXIMG_CACHE");
  CHECK(default_store_root() == fs::path("/x/tdximg"));
  ::setenv("XDG_CACHE_HOME", "relative", 1); // ignored, as the XDG spec says
  CHECK(default_store_root() == fs::path("/h/.cache/tdximg"));
  ::unsetenv("XDG_CACHE_HOME");
  ::unsetenv("HOME");
  CHECK_THROWS_AS(default_store_root(), Error);
  auto restore = [](const char* n, const std::optional<std::string>& v) {
    if (v) ::setenv(n, v->c_str(), 1);
    else ::unsetenv(n);
  };
  restore("TDXIMG_CACHE", c);
  restore("XDG_CACHE_HOME", x);
  restore("HOME", h);
}

TEST_CASE("a store lock excludes another holder until released", "[store]") {
  TempDir dir;
  Store s(dir.path());
  std::optional<FileLock> held(s.lock("apt-bookworm-amd64"));
  std::atomic<bool> acquired{false};
  // flock(2) locks belong to open file descriptions: a second open() in another thread
  // conflicts just like another process would (a forked child would share ours instead).
  std::thread t([&] {
    Store other(dir.path());
    FileLock l = other.lock("apt-bookworm-amd64");
    acquired = true;
  });
  ::usleep(200000);
  CHECK_FALSE(acquired);
  held.reset();
  t.join();
  CHECK(acquired);
}
