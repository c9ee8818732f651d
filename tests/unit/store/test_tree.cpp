#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <tdximg/store/resolve.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "store/store_test_util.hpp"

using namespace tdximg;
using namespace tdximg::store;
using store_test::sh;

namespace {

// The same logical tree, created in a given order under a given umask.
void make_tree(const fs::path& root, bool reverse, mode_t mask) {
  const mode_t old = ::umask(mask);
  fs::create_directories(root);
  std::vector<std::function<void()>> steps = {
      [&] { store_test::write(root / "bin/tool", "#!/bin/sh\necho hi\n", 0777 & ~mask); },
      [&] { store_test::write(root / "etc/app.conf", "key=value\n", 0666 & ~mask); },
      [&] { store_test::write(root / "a.c", "int main(){}\n", 0666 & ~mask); },
      [&] { fs::create_directories(root / "a"); store_test::write(root / "a/b", "b\n", 0666 & ~mask); },
      [&] { fs::create_directories(root / "empty"); },
      [&] { fs::create_symlink("../bin/tool", root / "etc/link"); },
  };
  if (reverse) std::reverse(steps.begin(), steps.end());
  for (auto& s : steps) {
    if (reverse) fs::create_directories(root / "etc"), fs::create_directories(root / "bin");
    s();
  }
  ::umask(old);
}

} // namespace

TEST_CASE("the tree archive is byte-identical to GNU tar's ustar output for the same tree", "[store]") {
  if (!store_test::have_tool("tar")) { WARN("GNU tar not installed"); return; }
  TempDir dir;
  const fs::path root = dir.path() / "tree";
  make_tree(root, false, 0022);
  const Bytes ours = canonical_tree_archive(root);
  // Independent writer: GNU tar, told to do what our format documents (sorted by path bytes,
  // ustar, mtime 0, numeric owner 0:0, 512-byte records). Modes are already 0644/0755 here.
  const std::string gnu_tar = dir.path() / "gnu.tar";
  sh("cd '" + root.string() + "' && find . -mindepth 1 -printf '%P\\n' | LC_ALL=C sort | "
     "tar --format=ustar --no-recursion -b1 --mtime=@0 --owner=0 --group=0 --numeric-owner "
     "-T - -cf '" + gnu_tar + "'");
  const Bytes theirs = read_file(gnu_tar);
  CHECK(ours.size() == theirs.size());
  CHECK(sha256_hex(ours) == sha256_hex(theirs));
}

TEST_CASE("the tree digest ignores creation order, umask, owner and timestamps", "[store]") {
  TempDir dir;
  make_tree(dir.path() / "one", false, 0022);
  make_tree(dir.path() / "two", true, 0077);
  fs::last_write_time(dir.path() / "two/a.c", fs::file_time_type::clock::now() - std::chrono::hours(100));
  CHECK(sha256_hex(canonical_tree_archive(dir.path() / "one")) ==
        sha256_hex(canonical_tree_archive(dir.path() / "two")));
}

TEST_CASE("the tree digest changes with an executable bit, a symlink target or content", "[store]") {
  TempDir dir;
  const fs::path root = dir.path() / "t";
  make_tree(root, false, 0022);
  const std::string base = sha256_hex(canonical_tree_archive(root));
  SECTION("executable bit") { ::chmod((root / "a.c").c_str(), 0744); }
  SECTION("symlink target") {
    fs::remove(root / "etc/link");
    fs::create_symlink("/bin/tool", root / "etc/link");
  }
  SECTION("content") { store_test::write(root / "a/b", "c\n"); }
  SECTION("an empty directory") { fs::create_directories(root / "empty/sub"); }
  CHECK(sha256_hex(canonical_tree_archive(root)) != base);
}

TEST_CASE("long names use a PAX header that GNU tar reads back", "[store]") {
  if (!store_test::have_tool("tar")) { WARN("GNU tar not installed"); return; }
  TempDir dir;
  const fs::path root = dir.path() / "t";
  const std::string deep = std::string(60, 'd') + "/" + std::string(70, 'f');
  store_test::write(root / deep, "x");
  fs::create_symlink(std::string(150, 't'), root / "longlink");
  const Bytes ar = canonical_tree_archive(root);
  write_file_atomic(dir.path() / "a.tar", ar);
  const std::string listing = sh("tar -tf '" + (dir.path() / "a.tar").string() + "'");
  CHECK(listing == std::string(60, 'd') + "/\n" + deep + "\nlonglink\n");
  const std::string link =
      sh("cd '" + dir.path().string() + "' && mkdir x && tar -C x -xf a.tar && readlink x/longlink");
  CHECK(link == std::string(150, 't') + "\n");
}

TEST_CASE("special files in a path input are rejected", "[store]") {
  TempDir dir;
  const fs::path root = dir.path() / "t";
  fs::create_directories(root);
  REQUIRE(::mkfifo((root / "fifo").c_str(), 0644) == 0);
  try {
    (void)canonical_tree_archive(root);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.what(), Catch::Contains("fifo"));
  }
}
