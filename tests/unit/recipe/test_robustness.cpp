#include "recipe_test_util.hpp"

#include <random>
#include <tdximg/recipe/lockfile.hpp>

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

namespace {
// Loads `text` as a recipe; succeeds, or fails with tdximg::Error. Anything else (a nlohmann
// exception, std::out_of_range, a crash under ASan) fails the test.
void load_cleanly(const fs::path& file, const std::string& text) {
  try {
    parse_recipe_text(text, file);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    FAIL("non-tdximg exception: " << e.what() << "\ninput:\n" << text);
  }
}
} // namespace

TEST_CASE("every prefix of a valid recipe fails cleanly", "[recipe]") {
  const std::string text = read_text_file(data_dir() / "full" / "recipe.json");
  const fs::path file = data_dir() / "full" / "recipe.json";
  for (std::size_t n = 0; n < text.size(); ++n) {
    try {
      parse_recipe_text(std::string_view(text).substr(0, n), file);
      // Only a prefix that ends inside the trailing whitespace may load.
      CHECK(text.find_first_not_of(" \n", n) == std::string::npos);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
    }
  }
}

TEST_CASE("single-byte changes to a valid recipe load or fail cleanly", "[recipe]") {
  const std::string text = read_text_file(data_dir() / "full" / "recipe.json");
  const fs::path file = data_dir() / "full" / "recipe.json";
  std::mt19937 rng(20261128); // fixed seed: the same cases on every run
  const std::string alphabet = "{}[]\",:/.-0123456789 \\\n\xff\x00azZ*";
  for (int i = 0; i < 800; ++i) {
    std::string t = text;
    const std::size_t at = rng() % t.size();
    t[at] = alphabet[rng() % alphabet.size()];
    load_cleanly(file, t);
  }
}

TEST_CASE("single-byte changes to a lock file parse or fail cleanly", "[recipe]") {
  LockFile lock;
  LockEntry e;
  e.name = "kernel";
  e.kind = InputKind::deb;
  e.sha256 = std::string(64, 'a');
  e.size = 7;
  e.package = "linux-image-amd64";
  e.version = "1";
  e.suite = "bookworm";
  lock.entries["kernel"] = e;
  const std::string text = write_lock_json(lock);
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    std::string t = text;
    t[rng() % t.size()] = static_cast<char>(rng() % 256);
    try {
      parse_lock(t, "x.lock.json");
    } catch (const Error& err) {
      CHECK(err.kind() == ErrorKind::input);
    } catch (const std::exception& ex) {
      FAIL("non-tdximg exception: " << ex.what());
    }
  }
}
