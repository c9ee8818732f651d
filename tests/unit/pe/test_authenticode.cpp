#include "pe/pe_test_data.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;
using pe_test::hex;

namespace {
// Hashes explicit byte ranges of `b` (a hand computation that does not walk the section table).
Bytes hash_ranges(HashAlg alg, const Bytes& b,
                  std::initializer_list<std::pair<std::size_t, std::size_t>> ranges,
                  std::size_t zero_pad = 0) {
  Hasher h(alg);
  for (auto [begin, end] : ranges)
    h.update(ByteSpan(b).subspan(begin, end - begin));
  h.update_zeros(zero_pad);
  return h.finish();
}
} // namespace

TEST_CASE("authenticode of the synthetic PE files matches pesign -h", "[pe]") {
  // Golden values: pesign 0.112-6 `pesign -h -i FILE` (PROVENANCE.md).
  CHECK(hex(pe::authenticode(pe_test::data_file("pe/gap_overlay.efi"), HashAlg::sha256)) ==
        "18812d0c1d71e4fb776e536af41bdac9abaff2ade8824f3784ba00683271ae2a");
  CHECK(hex(pe::authenticode(pe_test::data_file("pe/plain.efi"), HashAlg::sha256)) ==
        "67c6a6bcbb40dae5ce84201346b086d9f4585f3c9a4eea8526a110b9039de129");
}

TEST_CASE("authenticode excludes the certificate table and its directory entry", "[pe]") {
  // signed.efi = sbsign(plain.efi); osslsigncode 2.9 verify: "Calculated message digest:
  // 67C6A6BC..." and pesign -h agree.
  const Bytes signed_pe = pe_test::data_file("pe/signed.efi");
  const pe::PeFile f(signed_pe, "signed.efi");
  REQUIRE(f.cert_table());
  CHECK(f.cert_table()->offset == 0x600);
  CHECK(f.cert_table()->size == 0x608);
  CHECK(hex(pe::authenticode(signed_pe, HashAlg::sha256)) ==
        "67c6a6bcbb40dae5ce84201346b086d9f4585f3c9a4eea8526a110b9039de129");
}

TEST_CASE("authenticode hashes sections by file order, skips gaps and SizeOfRawData 0, and does "
          "not pad to 8 bytes",
          "[pe]") {
  // gap_overlay.efi: table order .data .text .bss; .text [0x200,0x400), gap [0x400,0x600),
  // .data [0x600,0x800), .bss SRD 0, 3 bytes after the last section (size 0x803).
  // EDK2: headers minus CheckSum (0xd8) and cert entry (0x128), sections sorted, then the
  // trailing data from SizeOfHeaders + sum(SRD) = 0x600 to the end.
  const Bytes b = pe_test::data_file("pe/gap_overlay.efi");
  REQUIRE(b.size() == 0x803);
  for (HashAlg alg : {HashAlg::sha256, HashAlg::sha384}) {
    const Bytes expected = hash_ranges(
        alg, b,
        {{0, 0xd8}, {0xdc, 0x128}, {0x130, 0x200}, {0x200, 0x400}, {0x600, 0x800}, {0x600, 0x803}});
    CHECK(pe::authenticode(b, alg) == expected);
  }
  // The padding variant (Authenticode spec step 15, `pesign -h -P`) appends 5 zero bytes and
  // gives a different digest: 87f8ea91... from pesign -P, reproduced by the hand computation.
  const Bytes padded = hash_ranges(
      HashAlg::sha256, b,
      {{0, 0xd8}, {0xdc, 0x128}, {0x130, 0x200}, {0x200, 0x400}, {0x600, 0x800}, {0x600, 0x803}},
      5);
  CHECK(hex(padded) == "87f8ea9123a3d4771c69a03179d8c399d98c92741cd03792b8587a12094acac3");
  CHECK(pe::authenticode(b, HashAlg::sha256) != padded);
}

TEST_CASE("authenticode without a security directory entry hashes the whole header after CheckSum",
          "[pe]") {
  const Bytes b = pe_test::data_file("pe/nrva4.efi");
  const pe::PeFile f(b, "nrva4.efi");
  REQUIRE(f.optional().NumberOfRvaAndSizes == 4);
  for (HashAlg alg : {HashAlg::sha256, HashAlg::sha384}) {
    CHECK(pe::authenticode(b, alg) ==
          hash_ranges(alg, b, {{0, 0xd8}, {0xdc, 0x200}, {0x200, 0x600}}));
  }
  // pesign -h skips 8 bytes where DataDirectory[4] would be even when it does not exist (here
  // they are section-table bytes 0x128..0x130): its 05758b92... is NOT what EDK2 measures.
  const Bytes pesign_style =
      hash_ranges(HashAlg::sha256, b, {{0, 0xd8}, {0xdc, 0x128}, {0x130, 0x200}, {0x200, 0x600}});
  CHECK(hex(pesign_style) == "05758b926f5b1bf9e1bfbcf7ed855ec4f32ad581fb5490d9a659084b9de7656a");
  CHECK(pe::authenticode(b, HashAlg::sha256) != pesign_style);
}

TEST_CASE("authenticode refuses an image smaller than its sections plus certificate size", "[pe]") {
  // EDK2 returns EFI_UNSUPPORTED when ImageSize < SumOfBytesHashed + CertSize.
  Bytes b = pe_test::data_file("pe/gap_overlay.efi");
  // DataDirectory[4] at 0x128: file offset 0x200, size 0x300 (inside the file, so the parser
  // accepts it), but 0x600 + 0x300 > 0x803.
  b[0x128] = 0x00;
  b[0x129] = 0x02;
  b[0x12a] = 0;
  b[0x12b] = 0;
  b[0x12c] = 0x00;
  b[0x12d] = 0x03;
  b[0x12e] = 0;
  b[0x12f] = 0;
  REQUIRE_NOTHROW(pe::PeFile(b, "x"));
  try {
    pe::authenticode(b, HashAlg::sha256, "bad.efi");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.what(), Catch::Contains("bad.efi") && Catch::Contains("certificate"));
  }
}

TEST_CASE("authenticode of Debian's systemd-stub and systemd-boot matches pesign -h", "[pe]") {
  // These files are not 8-aligned (83297 and 140891 bytes): pesign -h (no padding) matches,
  // pesign -P does not.
  auto stub = pe_test::host_file(pe_test::k_stub_path, pe_test::k_stub_sha256);
  auto boot = pe_test::host_file(pe_test::k_sdboot_path, pe_test::k_sdboot_sha256);
  if (!stub || !boot) {
    WARN("Debian 12 systemd-boot-efi 252.39-1~deb12u2 not installed; skipped");
    return;
  }
  CHECK(hex(pe::authenticode(*stub, HashAlg::sha256)) ==
        "28fd6b9a39b745449fa2389a31045900804eae49ea7edb0f8c152a131df0002c");
  CHECK(hex(pe::authenticode(*boot, HashAlg::sha256)) ==
        "7843e376e57323bcdfebcffc8d5109eb39721c83d8bedab1dfd6431596875c2c");
}

TEST_CASE("authenticode of a signed Debian kernel matches pesign and osslsigncode", "[pe]") {
  // Set TDXIMG_TEST_VMLINUZ to boot/vmlinuz-6.1.0-56-amd64 from
  // linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb (PROVENANCE.md) to run this case.
  const char* path = std::getenv("TDXIMG_TEST_VMLINUZ");
  auto k = pe_test::host_file(path ? path : "",
                              "26f2e57c99338feaf71c46fa4babdc7e1a6c115943002d109fdb746667104f5f");
  if (!k) {
    WARN("TDXIMG_TEST_VMLINUZ not set to the 6.1.0-56 kernel; skipped");
    return;
  }
  const pe::PeFile f(*k, "vmlinuz");
  CHECK(f.optional().NumberOfRvaAndSizes == 6);
  CHECK(f.optional().MajorImageVersion == 1);
  REQUIRE(f.cert_table());
  CHECK(f.cert_table()->offset == 0x7dd200);
  CHECK(f.cert_table()->size == 0x5c0);
  CHECK(hex(pe::authenticode(*k, HashAlg::sha256)) ==
        "6b1bf35c3bee9918250f593a6fff889c75c1e239cd2fe9e5bb0cd3de9dcb8e51");
}
