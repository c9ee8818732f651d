#include <catch2/catch.hpp>

#include <cstdlib>

#include <tdximg/measure/pcr7.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {
const char* k_snakeoil_vars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd";
const char* k_snakeoil_pem = "/usr/share/ovmf/PkKek-1-snakeoil.pem";
const char* k_ms_vars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
} // namespace

TEST_CASE("GUIDs are stored with their first three fields little-endian", "[measure]") {
  // EFI_GLOBAL_VARIABLE as it appears in every OVMF vars file.
  CHECK(to_hex(k_efi_global_variable_guid()) == "61dfe48bca93d211aa0d00e098032b8c");
  CHECK_THROWS_AS(parse_guid("61dfe48b-ca93-d211-aa0d-00e098032b8"), Error);
}

TEST_CASE("UEFI_VARIABLE_DATA is GUID, name length, data length, UTF-16 name, data",
          "[measure]") {
  const Bytes v = uefi_variable_data(k_efi_global_variable_guid(), "SecureBoot", Bytes{1});
  CHECK(to_hex(v) == "61dfe48bca93d211aa0d00e098032b8c"
                     "0a00000000000000"
                     "0100000000000000"
                     "53006500630075007200650042006f006f007400"
                     "01");
}

TEST_CASE("Debian's snakeoil vars file holds PK, KEK and db with the snakeoil certificate",
          "[measure]") {
  if (!fs::exists(k_snakeoil_vars) || !fs::exists(k_snakeoil_pem)) {
    WARN("ovmf snakeoil files not installed; check skipped");
    return;
  }
  const auto vars = parse_ovmf_vars(read_file(k_snakeoil_vars));
  for (const char* name : {"PK", "KEK"})
    CHECK(find_variable(vars, k_efi_global_variable_guid(), name) != nullptr);
  CHECK(find_variable(vars, k_image_security_database_guid(), "dbx") != nullptr);
  CHECK(find_variable(vars, k_efi_global_variable_guid(), "BootOrder") == nullptr); // deleted
  // The certificate in db, independently converted from the PEM by openssl.
  TempDir dir;
  const std::string der = (dir.path() / "cert.der").string();
  REQUIRE(std::system(fmt::format("openssl x509 -in '{}' -outform DER -out '{}'", k_snakeoil_pem,
                                  der)
                          .c_str()) == 0);
  const Bytes cert = read_file(der);
  const auto sig = find_db_signature(vars, cert);
  REQUIRE(sig.has_value());
  CHECK(sig->size() == 16 + cert.size());
  CHECK(!find_db_signature(vars, Bytes(cert.begin(), cert.end() - 1)).has_value());

  const HashAlg banks[] = {HashAlg::sha256};
  Pcr7Config cfg;
  cfg.secure_boot_value = 1;
  cfg.authority = sig;
  const auto events = pcr7_events(vars, cfg, banks);
  REQUIRE(events.size() == 7);
  CHECK(events[5].type == ev::k_separator);
  CHECK(events[6].type == ev::k_efi_variable_authority);
  const UefiVariable* pk = find_variable(vars, k_efi_global_variable_guid(), "PK");
  CHECK(events[1].digests.at(HashAlg::sha256) ==
        hash(HashAlg::sha256, uefi_variable_data(k_efi_global_variable_guid(), "PK", pk->data)));
}

TEST_CASE("Debian's ms vars file db holds X.509 certificates openssl can read", "[measure]") {
  if (!fs::exists(k_ms_vars)) {
    WARN("ovmf ms vars not installed; check skipped");
    return;
  }
  const auto vars = parse_ovmf_vars(read_file(k_ms_vars));
  const UefiVariable* db = find_variable(vars, k_image_security_database_guid(), "db");
  REQUIRE(db != nullptr);
  // First EFI_SIGNATURE_LIST's first certificate: 28-byte list header, 16-byte owner.
  const std::uint32_t sig_size = load_u32le(db->data, 24, "SignatureSize");
  REQUIRE(db->data.size() >= 28 + sig_size);
  TempDir dir;
  write_file_atomic(dir.path() / "c.der",
                    ByteSpan(db->data).subspan(28 + 16, sig_size - 16));
  const std::string cmd = fmt::format(
      "openssl x509 -inform DER -in '{}' -noout -subject > '{}' 2>/dev/null",
      (dir.path() / "c.der").string(), (dir.path() / "subject").string());
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(read_text_file(dir.path() / "subject").find("subject=") == 0);
  const Bytes cert(db->data.begin() + 44, db->data.begin() + 28 + sig_size);
  CHECK(find_db_signature(vars, cert).has_value());
}

TEST_CASE("a vars file without secure boot keys measures empty variables", "[measure]") {
  // Hand-built minimal store: FV header (HeaderLength 72), authenticated store header, no vars.
  ByteWriter w;
  w.zeros(32);
  w.u64le(4096);
  w.str("_FVH");
  w.u32le(0);
  w.u16le(72);
  w.zeros(72 - w.size());
  w.bytes(parse_guid("aaf32c78-947b-439a-a180-2e144ec37792"));
  w.u32le(4096 - 72);
  w.u8(0x5a);
  w.u8(0xfe);
  w.zeros(6);
  while (w.size() < 4096) w.u8(0xff);
  const auto vars = parse_ovmf_vars(w.data());
  CHECK(vars.empty());
  const HashAlg banks[] = {HashAlg::sha256};
  const auto events = pcr7_events(vars, Pcr7Config{}, banks);
  REQUIRE(events.size() == 6);
  CHECK(events[0].digests.at(HashAlg::sha256) ==
        hash(HashAlg::sha256, uefi_variable_data(k_efi_global_variable_guid(), "SecureBoot", {})));
  // Truncations fail cleanly.
  CHECK_THROWS_AS(parse_ovmf_vars(ByteSpan(w.data()).first(50)), Error);
  CHECK_THROWS_AS(parse_ovmf_vars(ByteSpan(w.data()).first(90)), Error);
  Bytes bad = w.data();
  bad[40] = 'X';
  CHECK_THROWS_AS(parse_ovmf_vars(bad), Error);
}
