// Tests that need the Debian mirror named by the host's apt sources (or $TDXIMG_APT_MIRROR).
// Hidden from the default run ("[.]"): tests/cli/store_deb.sh runs them, as a non-root user.

#include <catch2/catch.hpp>

#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/store/lock.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;

namespace {

fs::path network_store_root() {
  // Reuse one store across runs when the caller provides one (saves re-downloading lists).
  const char* c = std::getenv("TDXIMG_TEST_STORE");
  return c != nullptr && *c != '\0' ? fs::path(c) : fs::path();
}

recipe::Input deb_input(const std::string& name, const std::string& pkg, const std::string& suite) {
  recipe::Input in;
  in.name = name;
  in.kind = recipe::InputKind::deb;
  in.deb.package = pkg;
  in.deb.suite = suite;
  return in;
}

} // namespace

TEST_CASE("lock resolves busybox-static in bookworm and systemd-boot-efi in trixie through a private apt state",
          "[.][store][network]") {
  std::optional<TempDir> tmp;
  fs::path root = network_store_root();
  if (root.empty()) {
    tmp.emplace();
    root = tmp->path();
  }
  Store s(root);
  recipe::Recipe r;
  r.name = "net";
  r.inputs["busybox"] = deb_input("busybox", "busybox-static", "bookworm");
  r.inputs["stub"] = deb_input("stub", "systemd-boot-efi", "trixie");
  r.inputs["kernel"] = deb_input("kernel", "linux-image-amd64", "bookworm");
  const LockResult res = lock_inputs_detailed(r, s, nullptr, {});
  REQUIRE(res.lock.entries.size() == 3);

  const recipe::LockEntry& bb = res.lock.entries.at("busybox");
  CHECK(bb.package == "busybox-static");
  CHECK_FALSE(bb.version.empty());
  CHECK(bb.suite == "bookworm");
  CHECK(bb.filename.rfind("pool/main/b/busybox/busybox-static_", 0) == 0);
  const auto blob = s.get(bb.sha256);
  REQUIRE(blob);
  CHECK(blob->size() == bb.size);
  // Independent check: dpkg-deb reads the downloaded package and agrees on name and version.
  TempDir check;
  write_file_atomic(check.path() / "p.deb", *blob);
  CHECK(store_test::sh("dpkg-deb -f '" + (check.path() / "p.deb").string() + "' Package Version") ==
        "Package: busybox-static\nVersion: " + bb.version + "\n");

  const recipe::LockEntry& stub = res.lock.entries.at("stub");
  CHECK(stub.package == "systemd-boot-efi");
  CHECK(stub.suite == "trixie");
  CHECK(stub.version.find("deb13") != std::string::npos);

  // The meta-package is replaced by the concrete kernel package it depends on.
  const recipe::LockEntry& k = res.lock.entries.at("kernel");
  CHECK(k.package.rfind("linux-image-6.1.0-", 0) == 0);
  CHECK(k.package.find("-amd64") != std::string::npos);
  for (const LockNote& n : res.notes) {
    if (n.input == "kernel") {
      CHECK(n.requested == "linux-image-amd64");
      REQUIRE(n.deb);
      CHECK(n.deb->package == k.package);
      // linux-image packages ship maintainer scripts (kernel postinst hooks); tdximg skips them.
      CHECK_FALSE(n.deb->maintainer_scripts.empty());
    }
  }

  // A second lock with the first as `previous` keeps every pin and works offline.
  const LockResult again = lock_inputs_detailed(r, s, &res.lock, {Offline::yes, Update::no});
  CHECK(again.lock.entries.at("kernel").sha256 == k.sha256);
  CHECK(again.lock.entries.at("busybox").version == bb.version);

  // The pinned input now resolves offline from the store.
  const recipe::Input pinned = recipe::apply_lock_entry(r.inputs["busybox"], bb, "test.lock.json");
  CHECK(resolve_input(pinned, s, Offline::yes).data == *blob);
}

TEST_CASE("a version the mirror does not have is a fetch error naming package and suite",
          "[.][store][network]") {
  std::optional<TempDir> tmp;
  fs::path root = network_store_root();
  if (root.empty()) {
    tmp.emplace();
    root = tmp->path();
  }
  Store s(root);
  AptState apt(s, "bookworm");
  try {
    (void)apt.find("busybox-static", "0.0-tdximg-nonexistent");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::fetch);
    CHECK_THAT(e.what(), Catch::Contains("busybox-static=0.0-tdximg-nonexistent") &&
                             Catch::Contains("bookworm"));
  }
}
