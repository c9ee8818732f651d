#include <catch2/catch.hpp>

#include <tdximg/store/lock.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;
using store_test::HttpServer;

namespace {
// sha256 of "hello\n" (coreutils sha256sum) and of "abc" (FIPS 180-2 B.1).
constexpr const char* k_hello = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
constexpr const char* k_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
} // namespace

TEST_CASE("lock pins path and url inputs with their digest and size", "[store]") {
  HttpServer srv({{"/app", {200, "hello\n", {}}}});
  TempDir dir;
  Store s(dir.path() / "store");
  store_test::write(dir.path() / "files/init", "abc");
  recipe::Recipe r;
  recipe::Input p;
  p.name = "init";
  p.kind = recipe::InputKind::path;
  p.path = dir.path() / "files/init";
  recipe::Input u;
  u.name = "app";
  u.kind = recipe::InputKind::url;
  u.url = srv.url("/app");
  r.inputs = {{"init", p}, {"app", u}};

  const recipe::LockFile lock = lock_inputs(r, s, nullptr, {});
  REQUIRE(lock.entries.size() == 2);
  CHECK(lock.entries.at("init").sha256 == k_abc);
  CHECK(lock.entries.at("init").size == 3);
  CHECK(lock.entries.at("app").sha256 == k_hello);
  CHECK(lock.entries.at("app").size == 6);
  CHECK(lock.entries.at("app").url == srv.url("/app"));
  CHECK(s.has(k_abc));
  CHECK(s.has(k_hello));

  // With the previous lock, the url input is kept (and served offline from the store).
  const int before = srv.requests();
  const LockResult again = lock_inputs_detailed(r, s, &lock, {Offline::yes, Update::no});
  CHECK(again.lock.entries.at("app").sha256 == k_hello);
  CHECK(srv.requests() == before);
  for (const LockNote& n : again.notes)
    if (n.input == "app") CHECK(n.from_previous);
}

TEST_CASE("lock checks a recipe pin and refuses unresolvable inputs offline", "[store]") {
  HttpServer srv({{"/app", {200, "hello\n", {}}}});
  TempDir dir;
  Store s(dir.path() / "store");
  recipe::Recipe r;
  recipe::Input u;
  u.name = "app";
  u.kind = recipe::InputKind::url;
  u.url = srv.url("/app");
  u.sha256 = k_abc; // wrong on purpose
  r.inputs = {{"app", u}};
  try {
    (void)lock_inputs(r, s, nullptr, {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
    CHECK_THAT(e.what(), Catch::Contains(k_abc) && Catch::Contains(k_hello));
  }
  r.inputs["app"].sha256.clear();
  try {
    (void)lock_inputs(r, s, nullptr, {Offline::yes, Update::no});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::fetch);
    CHECK_THAT(e.what(), Catch::Contains("--offline"));
  }
  recipe::Input d;
  d.name = "kernel";
  d.kind = recipe::InputKind::deb;
  d.deb = {"linux-image-amd64", "", "bookworm", "amd64"};
  r.inputs = {{"kernel", d}};
  try {
    (void)lock_inputs(r, s, nullptr, {Offline::yes, Update::no});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::fetch);
    CHECK_THAT(e.what(), Catch::Contains("input 'kernel'") && Catch::Contains("--offline"));
  }
}
