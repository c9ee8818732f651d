#include "pe/pe_test_data.hpp"
#include "pe/test_chain.hpp"

#include <catch2/catch.hpp>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/signature.hpp>
#include <tdximg/util/error.hpp>

using namespace tdximg;
using pe_test::hex;

namespace {

void put_u32le(Bytes& b, std::size_t off, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i)
    b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

Bytes signed_plain(const chain_test::Chain& c, const std::string& name) {
  write_file_atomic(c.file("plain.efi"), pe_test::data_file("pe/plain.efi"));
  REQUIRE(c.sign(c.file("plain.efi"), c.file(name)));
  return read_file(c.file(name));
}

} // namespace

TEST_CASE("an unsigned PE has no certificate entries and no signatures", "[pe]") {
  const Bytes plain = pe_test::data_file("pe/plain.efi");
  const pe::PeFile f(plain, "plain.efi");
  CHECK(pe::certificate_entries(f).empty());
  CHECK(pe::authenticode_signatures(f).empty());
}

TEST_CASE("the committed sbsign'ed file has one PKCS#7 entry covering the pesign digest", "[pe]") {
  // signed.efi: sbsign of plain.efi; certificate table at 0x600, size 0x608 (objdump -p);
  // the digest it signs is osslsigncode's "Current message digest" 67c6a6bc... (PROVENANCE.md).
  const Bytes b = pe_test::data_file("pe/signed.efi");
  const pe::PeFile f(b, "signed.efi");
  const auto entries = pe::certificate_entries(f);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].offset == 0x600);
  CHECK(entries[0].revision == 0x0200);
  CHECK(entries[0].type == pe::k_win_cert_type_pkcs_signed_data);
  const auto sigs = pe::authenticode_signatures(f);
  REQUIRE(sigs.size() == 1);
  CHECK(sigs[0].digest_alg == HashAlg::sha256);
  CHECK(hex(sigs[0].image_digest) ==
        "67c6a6bcbb40dae5ce84201346b086d9f4585f3c9a4eea8526a110b9039de129");
  REQUIRE(sigs[0].certificates.size() == 1);
  CHECK(pe::certificate_subject(sigs[0].certificates[0]) == "/CN=tdximg test");
  // Its signer certificate anchors it (the self-signed key was thrown away, so nothing else).
  CHECK(pe::verifies_with_anchor(sigs[0], sigs[0].certificates[0]));
}

TEST_CASE("a signature verifies with the signer or any issuer of its chain as the anchor", "[pe]") {
  const auto& c = chain_test::chain();
  if (!c.ok) {
    WARN("check skipped: " << c.error);
    return;
  }
  const Bytes b = signed_plain(c, "chain-signed.efi");
  const pe::PeFile f(b, "chain-signed.efi");
  const auto sigs = pe::authenticode_signatures(f);
  REQUIRE(sigs.size() == 1);
  // sbsign put the leaf and the --addcert intermediate into the SignedData.
  std::vector<std::string> subjects;
  for (const Bytes& cert : sigs[0].certificates)
    subjects.push_back(pe::certificate_subject(cert));
  CHECK(std::find(subjects.begin(), subjects.end(), "/CN=tdximg test signer") != subjects.end());
  CHECK(std::find(subjects.begin(), subjects.end(), "/CN=tdximg test intermediate") !=
        subjects.end());
  CHECK(sigs[0].image_digest == pe::authenticode(f, HashAlg::sha256));

  CHECK(pe::verifies_with_anchor(sigs[0], c.leaf));
  CHECK(pe::verifies_with_anchor(sigs[0], c.intermediate));
  CHECK(pe::verifies_with_anchor(sigs[0], c.root));
  CHECK_FALSE(pe::verifies_with_anchor(sigs[0], c.other));
  CHECK_THROWS_AS(pe::verifies_with_anchor(sigs[0], Bytes{0x30, 0x03, 0x02, 0x01, 0x00}), Error);
}

TEST_CASE("a signature no longer verifies once its signed content is altered", "[pe]") {
  const auto& c = chain_test::chain();
  if (!c.ok) {
    WARN("check skipped: " << c.error);
    return;
  }
  const Bytes b = signed_plain(c, "chain-signed2.efi");
  auto sig = pe::authenticode_signatures(pe::PeFile(b, "x"))[0];
  REQUIRE(pe::verifies_with_anchor(sig, c.root));
  sig.content.back() ^= 0x01; // the image digest inside SpcIndirectDataContent
  CHECK_FALSE(pe::verifies_with_anchor(sig, c.root));
}

TEST_CASE("malformed certificate tables fail with the entry's offset", "[pe]") {
  Bytes b = pe_test::data_file("pe/signed.efi");
  // dwLength below the 8-byte header.
  Bytes short_len = b;
  put_u32le(short_len, 0x600, 4);
  try {
    pe::certificate_entries(pe::PeFile(short_len, "signed.efi"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("0x600") != std::string::npos);
    CHECK(std::string(e.what()).find("shorter than its 8-byte header") != std::string::npos);
  }
  // dwLength past the table.
  Bytes long_len = b;
  put_u32le(long_len, 0x600, 0x609);
  CHECK_THROWS_AS(pe::certificate_entries(pe::PeFile(long_len, "signed.efi")), Error);
  // PKCS#7 bytes that are not a SignedData.
  Bytes garbage = b;
  for (std::size_t i = 0x608; i < 0x640; ++i)
    garbage[i] = 0x41;
  try {
    pe::authenticode_signatures(pe::PeFile(garbage, "signed.efi"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("signature at file offset 0x600") != std::string::npos);
  }
  // Every truncation of the PKCS#7 blob fails cleanly or parses; none crashes.
  for (std::uint32_t len = 8; len < 0x608; len += 37) {
    Bytes t = b;
    put_u32le(t, 0x600, len);
    try {
      (void)pe::authenticode_signatures(pe::PeFile(t, "signed.efi"));
    } catch (const Error&) {
    }
  }
}

TEST_CASE("certificates are accepted as PEM or DER and nothing else", "[pe]") {
  const auto& c = chain_test::chain();
  if (!c.ok) {
    WARN("check skipped: " << c.error);
    return;
  }
  CHECK(pe::certificate_der(c.root, "root.der") == c.root);
  CHECK(pe::certificate_der(read_file(c.file("root.crt")), "root.crt") == c.root);
  CHECK(pe::certificate_subject(c.root) == "/CN=tdximg test root");
  try {
    pe::certificate_der(as_bytes(std::string_view("not a certificate")), "x.pem");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("x.pem: expected an X.509 certificate (PEM or DER)") !=
          std::string::npos);
  }
  CHECK(pe::certificate_subject(Bytes{1, 2, 3}) == "?");
}
