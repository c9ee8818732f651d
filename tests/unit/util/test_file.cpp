#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;

TEST_CASE("write_file_atomic replaces the file and ignores the umask", "[util]") {
  TempDir dir;
  const fs::path p = dir.path() / "out.bin";
  const mode_t old = ::umask(0077);
  write_file_atomic(p, std::string_view("first"));
  write_file_atomic(p, std::string_view("second"), 0644);
  ::umask(old);
  CHECK(read_text_file(p) == "second");
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  // No temporary file is left behind.
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path())) ++n;
  CHECK(n == 1);
}

TEST_CASE("write_file_atomic into a missing directory fails with an io error", "[util]") {
  TempDir dir;
  try {
    write_file_atomic(dir.path() / "nope" / "x", std::string_view("x"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::io);
  }
}

TEST_CASE("read_file names the path when it cannot open it", "[util]") {
  try {
    read_file("/nonexistent/tdximg-test");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/tdximg-test") != std::string::npos);
    CHECK(e.kind() == ErrorKind::io);
  }
}
