#include <catch2/catch.hpp>

#include <fstream>

#include <tdximg/store/archive.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;

namespace {

recipe::LockFile lock_for(Store& s, const std::map<std::string, std::string>& contents) {
  recipe::LockFile lock;
  for (const auto& [name, text] : contents) {
    recipe::LockEntry e;
    e.name = name;
    e.kind = recipe::InputKind::url;
    e.sha256 = s.put(as_bytes(text));
    e.size = text.size();
    lock.entries[name] = e;
  }
  return lock;
}

} // namespace

TEST_CASE("export writes every input blob and import restores them into another store", "[store]") {
  TempDir dir;
  Store a(dir.path() / "a");
  const recipe::LockFile lock = lock_for(a, {{"kernel", "K"}, {"app", "A"}, {"dup", "A"}});
  const fs::path out = dir.path() / "inputs.tar";
  export_archive(a, lock, "{\"schema\":1}\n", out);
  // Independent reader: GNU tar lists the members in the documented order.
  if (store_test::have_tool("tar")) {
    const std::string listing = store_test::sh("tar -tf '" + out.string() + "'");
    const std::string ha = sha256_hex(as_bytes("A")), hk = sha256_hex(as_bytes("K"));
    const std::string first = std::min(ha, hk), second = std::max(ha, hk);
    CHECK(listing == "lock.json\nsha256/" + first + "\nsha256/" + second + "\n");
  }
  Store b(dir.path() / "b");
  const ImportResult r = import_archive(b, out);
  CHECK(r.lock_json == "{\"schema\":1}\n");
  CHECK(r.imported.size() == 2);
  for (const auto& [name, e] : lock.entries) {
    const auto blob = b.get(e.sha256);
    REQUIRE(blob);
    CHECK(blob->size() == e.size);
  }
}

TEST_CASE("export is deterministic", "[store]") {
  TempDir dir;
  Store a(dir.path() / "a");
  const recipe::LockFile lock = lock_for(a, {{"x", "1"}, {"y", "2"}});
  export_archive(a, lock, "{}", dir.path() / "1.tar");
  export_archive(a, lock, "{}", dir.path() / "2.tar");
  CHECK(read_file(dir.path() / "1.tar") == read_file(dir.path() / "2.tar"));
}

TEST_CASE("export of a lock whose blob is missing names the input", "[store]") {
  TempDir dir;
  Store a(dir.path() / "a");
  recipe::LockFile lock = lock_for(a, {{"x", "1"}});
  lock.entries["x"].sha256 = sha256_hex(as_bytes("not stored"));
  try {
    export_archive(a, lock, "{}", dir.path() / "o.tar");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::fetch);
    CHECK_THAT(e.what(), Catch::Contains("input 'x'"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "o.tar"));
}

TEST_CASE("import rejects a member whose content does not match its name", "[store]") {
  if (!store_test::have_tool("tar")) { WARN("GNU tar not installed"); return; }
  TempDir dir;
  // Built by GNU tar (an independent writer): a member named by the digest of "A" holding "B".
  const std::string ha = sha256_hex(as_bytes("A"));
  store_test::write(dir.path() / "src/sha256" / ha, "B");
  store_test::sh("cd '" + (dir.path() / "src").string() + "' && tar --format=ustar -cf ../bad.tar sha256");
  Store b(dir.path() / "b");
  try {
    (void)import_archive(b, dir.path() / "bad.tar");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
    CHECK_THAT(e.what(), Catch::Contains(ha) && Catch::Contains(sha256_hex(as_bytes("B"))));
  }
  CHECK_FALSE(b.has(ha));
  CHECK_FALSE(b.has(sha256_hex(as_bytes("B"))));
}

TEST_CASE("import accepts GNU tar's archives and rejects unexpected members", "[store]") {
  if (!store_test::have_tool("tar")) { WARN("GNU tar not installed"); return; }
  TempDir dir;
  const std::string ha = sha256_hex(as_bytes("A"));
  store_test::write(dir.path() / "src/sha256" / ha, "A");
  store_test::sh("cd '" + (dir.path() / "src").string() + "' && tar -cf ../good.tar sha256");
  Store b(dir.path() / "b");
  CHECK(import_archive(b, dir.path() / "good.tar").imported == std::vector<std::string>{ha});
  CHECK(b.has(ha));
  store_test::write(dir.path() / "src/etc/passwd", "x");
  store_test::sh("cd '" + (dir.path() / "src").string() + "' && tar -cf ../evil.tar etc/passwd");
  CHECK_THROWS_AS(import_archive(b, dir.path() / "evil.tar"), Error);
}

TEST_CASE("every truncation of an export archive fails cleanly", "[store]") {
  TempDir dir;
  Store a(dir.path() / "a");
  const recipe::LockFile lock = lock_for(a, {{"x", std::string(700, 'x')}});
  export_archive(a, lock, "{\"k\":1}", dir.path() / "o.tar");
  const Bytes full = read_file(dir.path() / "o.tar");
  Store b(dir.path() / "b");
  // The end-of-archive block starts at size - 1024; any shorter prefix must fail.
  for (std::size_t n = 0; n + 1024 < full.size(); ++n) {
    {
      // No fsync per prefix, and a fresh file each time (ext4 flushes a truncated-and-rewritten
      // file on close): either would make this sweep slow.
      fs::remove(dir.path() / "t.tar");
      std::ofstream f(dir.path() / "t.tar", std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(full.data()), static_cast<std::streamsize>(n));
    }
    try {
      (void)import_archive(b, dir.path() / "t.tar");
      FAIL("prefix " << n << " was accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}
