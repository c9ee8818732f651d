#include <catch2/catch.hpp>

#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/store/resolve.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;
using store_test::HttpServer;

namespace {

// sha256 of "hello\n" as printed by coreutils `printf 'hello\n' | sha256sum`.
constexpr const char* k_hello = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
constexpr const char* k_zero = "0000000000000000000000000000000000000000000000000000000000000000";

recipe::Input url_input(const std::string& url, const std::string& sha) {
  recipe::Input in;
  in.name = "app";
  in.kind = recipe::InputKind::url;
  in.url = url;
  in.sha256 = sha;
  return in;
}

std::string error_of(const std::function<void()>& f, ErrorKind want) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == want);
    return e.what();
  }
  FAIL("expected an error");
  return {};
}

} // namespace

TEST_CASE("a url input is downloaded, verified, stored and then served from the store", "[store]") {
  HttpServer srv({{"/blob", {200, "hello\n", {}}}});
  TempDir dir;
  Store s(dir.path());
  const ResolvedInput r = resolve_input(url_input(srv.url("/blob"), k_hello), s, Offline::no);
  CHECK(as_chars(r.data) == "hello\n");
  CHECK(r.sha256 == k_hello);
  CHECK(r.size == 6);
  CHECK(s.has(k_hello));
  const int before = srv.requests();
  const ResolvedInput again = resolve_input(url_input(srv.url("/blob"), k_hello), s, Offline::yes);
  CHECK(again.data == r.data);
  CHECK(srv.requests() == before);
}

TEST_CASE("a url input follows redirects", "[store]") {
  HttpServer srv({{"/blob", {200, "hello\n", {}}}, {"/r1", {302, "", "/r2"}}, {"/r2", {301, "", "/blob"}}});
  TempDir dir;
  Store s(dir.path());
  CHECK(as_chars(resolve_input(url_input(srv.url("/r1"), k_hello), s, Offline::no).data) == "hello\n");
}

TEST_CASE("a url input with the wrong digest is an integrity error and nothing is stored", "[store]") {
  HttpServer srv({{"/blob", {200, "hello\n", {}}}});
  TempDir dir;
  Store s(dir.path());
  const std::string url = srv.url("/blob");
  const std::string msg = error_of([&] { resolve_input(url_input(url, k_zero), s, Offline::no); },
                                   ErrorKind::integrity);
  CHECK(msg == "input 'app': sha256 mismatch: expected " + std::string(k_zero) + ", got " + k_hello +
                   " (url " + url + ")");
  CHECK_FALSE(s.has(k_zero));
  CHECK_FALSE(s.has(k_hello));
}

TEST_CASE("a pinned size that does not match is an integrity error", "[store]") {
  HttpServer srv({{"/blob", {200, "hello\n", {}}}});
  TempDir dir;
  Store s(dir.path());
  recipe::Input in = url_input(srv.url("/blob"), k_hello);
  in.size = 7;
  const std::string msg = error_of([&] { resolve_input(in, s, Offline::no); }, ErrorKind::integrity);
  CHECK_THAT(msg, Catch::Contains("size mismatch: expected 7 bytes, got 6"));
}

TEST_CASE("HTTP errors and redirect loops are fetch errors naming the url", "[store]") {
  HttpServer srv({{"/loop", {302, "", "/loop"}}});
  TempDir dir;
  Store s(dir.path());
  const std::string m404 = error_of([&] { resolve_input(url_input(srv.url("/missing"), k_hello), s, Offline::no); },
                                    ErrorKind::fetch);
  CHECK_THAT(m404, Catch::Contains(srv.url("/missing")) && Catch::Contains("404"));
  const std::string loop = error_of([&] { resolve_input(url_input(srv.url("/loop"), k_hello), s, Offline::no); },
                                    ErrorKind::fetch);
  CHECK_THAT(loop, Catch::Contains("/loop"));
}

TEST_CASE("a missing input in offline mode names the input, its source and digest", "[store]") {
  TempDir dir;
  Store s(dir.path());
  recipe::Input in;
  in.name = "kernel";
  in.kind = recipe::InputKind::deb;
  in.deb = {"linux-image-6.1.0-41-amd64", "6.1.158-1", "bookworm", "amd64"};
  in.sha256 = k_hello;
  const std::string msg = error_of([&] { resolve_input(in, s, Offline::yes); }, ErrorKind::fetch);
  CHECK(msg == "input 'kernel' (deb linux-image-6.1.0-41-amd64=6.1.158-1, sha256 " +
                   std::string(k_hello) + ") is not in the store and --offline was given");
  const std::string murl = error_of(
      [&] { resolve_input(url_input("http://127.0.0.1:9/x", k_hello), s, Offline::yes); },
      ErrorKind::fetch);
  CHECK(murl == "input 'app' (url http://127.0.0.1:9/x, sha256 " + std::string(k_hello) +
                    ") is not in the store and --offline was given");
}

TEST_CASE("an input without a pin is refused", "[store]") {
  TempDir dir;
  Store s(dir.path());
  const std::string msg = error_of([&] { resolve_input(url_input("http://x/y", ""), s, Offline::no); },
                                   ErrorKind::input);
  CHECK_THAT(msg, Catch::Contains("no sha256 pin"));
}

TEST_CASE("a path input file is verified and a mismatch names both digests", "[store]") {
  TempDir dir;
  Store s(dir.path() / "store");
  const fs::path f = dir.path() / "files/app";
  store_test::write(f, "hello\n");
  recipe::Input in;
  in.name = "app";
  in.kind = recipe::InputKind::path;
  in.path = f;
  in.sha256 = k_hello;
  const ResolvedInput r = resolve_input(in, s, Offline::yes);
  CHECK(as_chars(r.data) == "hello\n");
  CHECK(s.has(k_hello)); // kept for `store export`
  store_test::write(f, "hellO\n");
  const std::string msg = error_of([&] { resolve_input(in, s, Offline::yes); }, ErrorKind::integrity);
  CHECK(msg == "input 'app': sha256 mismatch: expected " + std::string(k_hello) + ", got " +
                   sha256_hex(as_bytes("hellO\n")) + " (path " + f.string() + ")");
  // Once the file is gone, the stored copy is used.
  fs::remove(f);
  CHECK(as_chars(resolve_input(in, s, Offline::yes).data) == "hello\n");
}

TEST_CASE("a path input directory resolves to its canonical tree archive", "[store]") {
  TempDir dir;
  Store s(dir.path() / "store");
  const fs::path d = dir.path() / "tree";
  store_test::write(d / "x", "1");
  recipe::Input in;
  in.name = "overlay";
  in.kind = recipe::InputKind::path;
  in.path = d;
  in.sha256 = sha256_hex(canonical_tree_archive(d));
  const ResolvedInput r = resolve_input(in, s, Offline::no);
  CHECK(r.data == canonical_tree_archive(d));
  CHECK_THAT(r.description, Catch::Contains("tree archive"));
}

TEST_CASE("apply_lock_entry fills the pins and refuses a lock entry that contradicts the recipe", "[store]") {
  recipe::Input in;
  in.name = "kernel";
  in.kind = recipe::InputKind::deb;
  in.deb = {"linux-image-amd64", "", "bookworm", "amd64"};
  recipe::LockEntry e;
  e.name = "kernel";
  e.kind = recipe::InputKind::deb;
  e.sha256 = k_hello;
  e.size = 6;
  e.package = "linux-image-6.1.0-41-amd64";
  e.version = "6.1.158-1";
  e.suite = "bookworm";
  e.arch = "amd64";
  const recipe::Input out = recipe::apply_lock_entry(in, e, "test.lock.json");
  CHECK(out.sha256 == k_hello);
  CHECK(out.size == std::optional<std::uint64_t>(6));
  CHECK(out.deb.package == "linux-image-6.1.0-41-amd64");
  CHECK(out.deb.version == "6.1.158-1");
  in.sha256 = k_zero;
  error_of([&] { recipe::apply_lock_entry(in, e, "test.lock.json"); }, ErrorKind::integrity);
  e.kind = recipe::InputKind::url;
  in.sha256.clear();
  error_of([&] { recipe::apply_lock_entry(in, e, "test.lock.json"); }, ErrorKind::input);
}

TEST_CASE("the mirror URIs come from the host's apt sources, deb822 and one-line", "[store]") {
  const char* saved = std::getenv("TDXIMG_APT_MIRROR");
  const std::optional<std::string> keep = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::unsetenv("TDXIMG_APT_MIRROR");
  ::unsetenv("TDXIMG_APT_SECURITY_MIRROR");
  TempDir dir;
  const fs::path etc = dir.path();
  store_test::write(etc / "sources.list", "# deb http://commented/debian bookworm main\n");
  store_test::write(etc / "sources.list.d/debian.sources",
                    "Types: deb deb-src\n"
                    "# a comment\n"
                    "URIs: http://mirror.example/debian/\n"
                    "Suites: bookworm bookworm-updates\n"
                    "Components: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                    "\n"
                    "Types: deb\n"
                    "URIs: http://mirror.example/debian-security\n"
                    "Suites: bookworm-security\n"
                    "Components: main\n"
                    "\n"
                    "Enabled: no\n"
                    "Types: deb\n"
                    "URIs: http://disabled.example/debian\n"
                    "Suites: sid\n");
  AptMirrors m = host_apt_mirrors(etc);
  CHECK(m.archive == "http://mirror.example/debian");
  CHECK(m.security == "http://mirror.example/debian-security");

  TempDir dir2;
  store_test::write(dir2.path() / "sources.list",
                    "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
                    "deb http://one.example/debian-security bookworm-security main\n");
  m = host_apt_mirrors(dir2.path());
  CHECK(m.archive == "http://one.example/debian");
  CHECK(m.security == "http://one.example/debian-security");

  ::setenv("TDXIMG_APT_MIRROR", "http://override.example/debian/", 1);
  CHECK(host_apt_mirrors(dir2.path()).archive == "http://override.example/debian");
  ::unsetenv("TDXIMG_APT_MIRROR");

  TempDir empty;
  error_of([&] { host_apt_mirrors(empty.path()); }, ErrorKind::fetch);
  if (keep) ::setenv("TDXIMG_APT_MIRROR", keep->c_str(), 1);
}
