// Replays the fuzz corpus through LLVMFuzzerTestOneInput without libFuzzer (GCC builds), plus a
// deterministic mutation sweep per seed: every truncation of the first 1 KiB, and `mutations`
// seeded random edits (1-8 bytes set to random values, or a 4-byte field set to 0, 0xffffffff
// or a value near the file size). A crash or sanitizer report fails the ctest entry
// `unit.fuzz_pe_corpus` (label unit, so the ASan run of scripts/test covers it too).
//   fuzz_pe_replay CORPUS_DIR [MUTATIONS_PER_SEED]

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS_PER_SEED]\n", argv[0]);
    return 2;
  }
  const unsigned mutations = argc > 2 ? static_cast<unsigned>(std::stoul(argv[2])) : 2000;
  std::vector<std::filesystem::path> seeds;
  for (const auto& e : std::filesystem::directory_iterator(argv[1]))
    if (e.is_regular_file()) seeds.push_back(e.path());
  std::sort(seeds.begin(), seeds.end());
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no seed files\n", argv[1]);
    return 1;
  }
  std::size_t runs = 0;
  for (const auto& path : seeds) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<std::uint8_t> seed((std::istreambuf_iterator<char>(in)), {});
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
    ++runs;
    for (std::size_t n = 0; n < std::min<std::size_t>(seed.size(), 1024); ++n, ++runs)
      LLVMFuzzerTestOneInput(seed.data(), n);
    std::mt19937_64 rng(0x7d81 + seed.size());
    for (unsigned i = 0; i < mutations && !seed.empty(); ++i, ++runs) {
      std::vector<std::uint8_t> m = seed;
      // Headers and the section table are where the parsers make decisions: bias there.
      const std::size_t span = rng() % 4 == 0 ? m.size() : std::min<std::size_t>(m.size(), 1024);
      const std::size_t at = rng() % span;
      switch (rng() % 3) {
      case 0: {
        const std::size_t n = 1 + rng() % 8;
        for (std::size_t k = 0; k < n && at + k < m.size(); ++k) m[at + k] = static_cast<std::uint8_t>(rng());
        break;
      }
      case 1: {
        const std::uint32_t vals[] = {0u, 0xffffffffu, static_cast<std::uint32_t>(m.size()),
                                      static_cast<std::uint32_t>(m.size() + 1), 0x80000000u};
        const std::uint32_t v = vals[rng() % 5];
        for (std::size_t k = 0; k < 4 && at + k < m.size(); ++k) m[at + k] = static_cast<std::uint8_t>(v >> (8 * k));
        break;
      }
      default:
        m.resize(at);
        break;
      }
      LLVMFuzzerTestOneInput(m.data(), m.size());
    }
  }
  std::printf("fuzz_pe_replay: %zu inputs from %zu seeds, no crash\n", runs, seeds.size());
  return 0;
}
