// Robustness sweeps (reliability.md §4.1, issue text): corrupting or truncating a stub, kernel
// or UKI gives a clean tdximg::Error, never a crash. Run under ASan+UBSan in CI.
#include "pe/pe_test_data.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;

namespace {

struct Tally {
  std::size_t ok = 0;
  std::size_t rejected = 0;
};

// Runs every reader over `b`: each either succeeds or throws tdximg::Error (anything else,
// e.g. std::bad_alloc or std::out_of_range, escapes and fails the test; ASan catches the rest).
void probe(ByteSpan b, Tally& t) {
  try {
    const pe::PeFile f(b, "fuzz.efi");
    for (const pe::Section& s : f.sections())
      (void)f.section_data(s);
    (void)pe::authenticode(f, HashAlg::sha256);
    (void)uki::read_uki(b, "fuzz.efi");
    ++t.ok;
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind("fuzz.efi", 0) == 0);
    ++t.rejected;
  }
}

void put(Bytes& b, std::uint64_t off, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i)
    b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t get(const Bytes& b, std::uint64_t off, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i)
    v |= std::uint64_t{b[off + i]} << (8 * i);
  return v;
}

// Every structure field that holds a size, count or offset, as (file offset, width).
std::vector<std::pair<std::uint64_t, int>> size_fields(const Bytes& good) {
  const pe::PeFile f(good, "x");
  const std::uint64_t coff = f.coff_offset(), opt = f.optional_header_offset();
  std::vector<std::pair<std::uint64_t, int>> v = {
      {0x3c, 4},      {coff + 2, 2},
      {coff + 8, 4},  {coff + 12, 4},
      {coff + 16, 2}, {opt + 32, 4},
      {opt + 36, 4},  {opt + 56, 4},
      {opt + 60, 4},  {opt + (f.is_pe32_plus() ? 108 : 92), 4}};
  for (const pe::DataDirectory& d : f.optional().DataDirectories) {
    v.push_back({d.entry_offset, 4});
    v.push_back({d.entry_offset + 4, 4});
  }
  for (const pe::Section& s : f.sections()) {
    for (std::uint64_t o : {8, 12, 16, 20})
      v.push_back({s.header_offset + o, 4});
  }
  return v;
}

void sweep(const Bytes& good, std::uint64_t truncation_step) {
  Tally t;
  const pe::PeFile f(good, "x");
  const std::uint64_t headers = f.optional().SizeOfHeaders;
  // 1. Every byte of the headers and section table set to 0x00 and to 0xff.
  for (std::uint64_t i = 0; i < headers; ++i) {
    for (std::uint8_t v : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
      Bytes b = good;
      b[i] = v;
      probe(b, t);
    }
  }
  // 2. Truncation at every offset inside the headers, every `truncation_step` beyond, and at
  //    every structure boundary +-1.
  std::vector<std::uint64_t> cuts;
  for (std::uint64_t i = 0; i < good.size(); i += (i < headers ? 1 : truncation_step))
    cuts.push_back(i);
  for (const pe::Section& s : f.sections()) {
    for (std::uint64_t at :
         {std::uint64_t{s.PointerToRawData}, std::uint64_t{s.PointerToRawData} + s.SizeOfRawData}) {
      for (std::uint64_t d : {0, 1, 2})
        cuts.push_back(at + d - 1);
    }
  }
  for (std::uint64_t c : cuts) {
    if (c <= good.size()) probe(ByteSpan(good).first(c), t);
  }
  // 3. Every size/offset/count field +-1, and set to 0 and to all-ones.
  for (auto [off, width] : size_fields(good)) {
    const std::uint64_t v = get(good, off, width);
    for (std::uint64_t nv : {v + 1, v - 1, std::uint64_t{0}, ~std::uint64_t{0}}) {
      Bytes b = good;
      put(b, off, nv, width);
      probe(b, t);
    }
  }
  // 4. A few hundred seeded random corruptions of 1-8 bytes, mostly in the headers.
  std::mt19937_64 rng(0x7d1a5eedULL);
  for (int n = 0; n < 300; ++n) {
    Bytes b = good;
    const int k = 1 + static_cast<int>(rng() % 8);
    for (int j = 0; j < k; ++j) {
      const std::uint64_t range = (rng() % 4 == 0) ? b.size() : headers;
      b[rng() % range] = static_cast<std::uint8_t>(rng());
    }
    probe(b, t);
  }
  INFO("accepted " << t.ok << ", rejected " << t.rejected);
  CHECK(t.rejected > 0);
  CHECK(t.ok > 0);
}

} // namespace

TEST_CASE("corrupted or truncated synthetic PE files give a clean error, never a crash", "[uki]") {
  for (const char* name : {"pe/gap_overlay.efi", "pe/signed.efi", "pe/nrva4.efi"}) {
    INFO(name);
    sweep(pe_test::data_file(name), 1);
  }
}

TEST_CASE("a corrupted or truncated UKI gives a clean error, never a crash", "[uki]") {
  uki::UkiParts p;
  p.linux = pe_test::data_file("pe/plain.efi");
  p.cmdline = "console=ttyS0\n";
  p.uname = "6.1.0";
  p.initrd = Bytes(600, 0x5a);
  const Bytes u = uki::pack_uki(pe_test::data_file("pe/stub.efi"), p);
  sweep(u, 1);
  // The embedded kernel: corrupt .linux's own headers inside the UKI.
  const pe::PeFile f(u, "u");
  const pe::Section& lx = *f.section(".linux");
  Tally t;
  for (std::uint64_t i = 0; i < 0x200; ++i) {
    for (std::uint8_t v : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
      Bytes b = u;
      b[lx.PointerToRawData + i] = v;
      probe(b, t);
    }
  }
  CHECK(t.rejected > 0);
}

TEST_CASE("a corrupted or truncated Debian systemd-stub gives a clean error, never a crash",
          "[uki]") {
  auto stub = pe_test::host_file(pe_test::k_stub_path, pe_test::k_stub_sha256);
  if (!stub) {
    WARN("Debian 12 systemd-boot-efi 252.39-1~deb12u2 not installed; skipped");
    return;
  }
  sweep(*stub, 509);
}

TEST_CASE("pack_uki on a corrupted stub either succeeds with a valid PE or throws cleanly",
          "[uki]") {
  const Bytes stub = pe_test::data_file("pe/stub.efi");
  uki::UkiParts p;
  p.linux = pe_test::data_file("pe/plain.efi");
  p.cmdline = "x";
  std::size_t ok = 0;
  for (std::uint64_t i = 0; i < 0x400; ++i) {
    Bytes b = stub;
    b[i] = static_cast<std::uint8_t>(b[i] ^ 0xff);
    try {
      const Bytes out = uki::pack_uki(b, p);
      const pe::PeFile f(out, "out"); // must parse
      CHECK(f.section(".linux") != nullptr);
      ++ok;
    } catch (const Error& e) {
      CHECK(e.kind() != ErrorKind::internal);
    }
  }
  CHECK(ok > 0);
}
