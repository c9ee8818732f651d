#include <catch2/catch.hpp>

#include "pe/test_chain.hpp"

#include <cstdlib>
#include <functional>

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

// ---- Secure Boot authority (which db entry EV_EFI_VARIABLE_AUTHORITY measures) ------------

namespace {

struct TestVar {
  Guid vendor;
  std::string name;
  Bytes data;
};

// An OVMF-style vars file (FV header, authenticated store, VAR_ADDED records), laid out by
// hand from edk2's VariableFormat.h for tests that need a db of their own.
Bytes make_vars(const std::vector<TestVar>& vars) {
  const std::uint64_t fv_size = 0x10000;
  ByteWriter w;
  w.zeros(32);
  w.u64le(fv_size);
  w.str("_FVH");
  w.u32le(0);
  w.u16le(72);
  w.zeros(72 - w.size());
  w.bytes(parse_guid("aaf32c78-947b-439a-a180-2e144ec37792"));
  w.u32le(static_cast<std::uint32_t>(fv_size - 72));
  w.u8(0x5a);
  w.u8(0xfe);
  w.zeros(6);
  for (const TestVar& v : vars) {
    w.u16le(0x55AA);
    w.u8(0x3F); // VAR_ADDED
    w.u8(0);
    w.u32le(0x27);
    w.zeros(8 + 16 + 4);
    w.u32le(static_cast<std::uint32_t>(2 * (v.name.size() + 1)));
    w.u32le(static_cast<std::uint32_t>(v.data.size()));
    w.bytes(v.vendor);
    for (char c : v.name) w.u16le(static_cast<std::uint8_t>(c));
    w.u16le(0);
    w.bytes(v.data);
    while ((w.size() - 72) % 4 != 0) w.u8(0xff);
  }
  while (w.size() < fv_size) w.u8(0xff);
  return w.take();
}

const Guid k_owner = parse_guid("11111111-2222-3333-4444-555555555555");

// One EFI_SIGNATURE_LIST holding one EFI_SIGNATURE_DATA (owner + data).
Bytes esl(const Guid& type, ByteSpan data) {
  ByteWriter w;
  w.bytes(type);
  w.u32le(static_cast<std::uint32_t>(28 + 16 + data.size()));
  w.u32le(0);
  w.u32le(static_cast<std::uint32_t>(16 + data.size()));
  w.bytes(k_owner);
  w.bytes(data);
  return w.take();
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes owner_plus(const Bytes& data) {
  Bytes out(k_owner.begin(), k_owner.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<UefiVariable> vars_with(const Bytes& db, const Bytes& dbx = {}) {
  std::vector<TestVar> v{{k_efi_global_variable_guid(), "PK", Bytes{1}},
                         {k_image_security_database_guid(), "db", db}};
  if (!dbx.empty()) v.push_back({k_image_security_database_guid(), "dbx", dbx});
  return parse_ovmf_vars(make_vars(v), "test-vars.fd");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// pesign -h -i tests/data/pe/plain.efi (tests/data/pe/PROVENANCE.md).
const char* k_plain_sha256 = "67c6a6bcbb40dae5ce84201346b086d9f4585f3c9a4eea8526a110b9039de129";

} // namespace

TEST_CASE("SecureBoot follows PK and the SecureBootEnable switch", "[measure]") {
  const Guid& g = k_efi_global_variable_guid();
  CHECK(secure_boot_value(parse_ovmf_vars(make_vars({}))) == 0);
  CHECK(secure_boot_value(parse_ovmf_vars(make_vars({{g, "PK", Bytes{1, 2}}}))) == 1);
  CHECK(secure_boot_value(parse_ovmf_vars(make_vars(
            {{g, "PK", Bytes{1}}, {k_secure_boot_enable_guid(), "SecureBootEnable", Bytes{0}}}))) == 0);
  CHECK(secure_boot_value(parse_ovmf_vars(make_vars(
            {{g, "PK", Bytes{1}}, {k_secure_boot_enable_guid(), "SecureBootEnable", Bytes{1}}}))) == 1);
  // A SecureBootEnable without PK does not turn Secure Boot on (setup mode).
  CHECK(secure_boot_value(parse_ovmf_vars(make_vars(
            {{k_secure_boot_enable_guid(), "SecureBootEnable", Bytes{1}}}))) == 0);
  if (fs::exists("/usr/share/OVMF/OVMF_VARS_4M.fd") && fs::exists(k_snakeoil_vars)) {
    CHECK(secure_boot_value(parse_ovmf_vars(read_file("/usr/share/OVMF/OVMF_VARS_4M.fd"))) == 0);
    CHECK(secure_boot_value(parse_ovmf_vars(read_file(k_snakeoil_vars))) == 1);
  }
}

TEST_CASE("the authority is the first db certificate, in db order, that anchors the signature",
          "[measure]") {
  const auto& c = chain_test::chain();
  if (!c.ok) {
    WARN("check skipped: " << c.error);
    return;
  }
  write_file_atomic(c.file("p.efi"), read_file(fs::path(TDXIMG_SOURCE_DIR) / "tests/data/pe/plain.efi"));
  REQUIRE(c.sign(c.file("p.efi"), c.file("p-signed.efi")));
  const Bytes image = read_file(c.file("p-signed.efi"));
  const Guid& x509 = k_cert_x509_guid();

  auto authority = [&](const Bytes& db) {
    return secure_boot_authority(vars_with(db), "test-vars.fd", image, "p-signed.efi", std::nullopt);
  };
  const auto a1 = authority(cat({esl(x509, c.other), esl(x509, c.intermediate), esl(x509, c.root)}));
  CHECK(a1.signature_data == owner_plus(c.intermediate));
  CHECK(a1.kind == "x509");
  CHECK(a1.subject == "/CN=tdximg test intermediate");
  CHECK(a1.db_offset == 28 + 16 + c.other.size() + 28);
  CHECK(authority(esl(x509, c.root)).signature_data == owner_plus(c.root));
  CHECK(authority(cat({esl(x509, c.leaf), esl(x509, c.root)})).signature_data == owner_plus(c.leaf));
  // The image's own digest in db authorizes it when no certificate does.
  const Bytes digest = from_hex(k_plain_sha256, "plain");
  const auto a2 = authority(cat({esl(x509, c.other), esl(k_cert_sha256_guid(), digest)}));
  CHECK(a2.kind == "sha256");
  CHECK(a2.signature_data == owner_plus(digest));

  // Nothing in db anchors it: the error names what was expected and what db holds.
  const std::string none = error_of([&] { authority(esl(x509, c.other)); });
  CHECK(none.find("p-signed.efi: Secure Boot on: no db entry of test-vars.fd authorizes it") !=
        std::string::npos);
  CHECK(none.find("/CN=tdximg test signer") != std::string::npos);
  CHECK(none.find("db holds 1 X.509 certificate(s): /CN=tdximg unrelated") != std::string::npos);

  // A --db-cert that is not the entry found is a conflict, not silently ignored.
  const std::string conflict = error_of([&] {
    secure_boot_authority(vars_with(cat({esl(x509, c.root), esl(x509, c.other)})), "v", image,
                          "p-signed.efi", c.other);
  });
  CHECK(conflict.find("is not the db entry that authorizes") != std::string::npos);
  CHECK(secure_boot_authority(vars_with(esl(x509, c.root)), "v", image, "p-signed.efi",
                              read_file(c.file("root.crt")))
            .signature_data == owner_plus(c.root));

  // dbx: a revoked issuer, or the image's digest.
  CHECK(error_of([&] {
          secure_boot_authority(vars_with(esl(x509, c.root), esl(x509, c.intermediate)), "v",
                                image, "p-signed.efi", std::nullopt);
        }).find("revoked in dbx") != std::string::npos);
  CHECK(error_of([&] {
          secure_boot_authority(vars_with(esl(x509, c.root), esl(k_cert_sha256_guid(), digest)),
                                "v", image, "p-signed.efi", std::nullopt);
        }).find("revoked in dbx") != std::string::npos);

  // Changed after signing: the signature no longer covers the image.
  Bytes tampered = image;
  tampered[0x210] ^= 0x01;
  const std::string t = error_of([&] {
    secure_boot_authority(vars_with(esl(x509, c.root)), "v", tampered, "p-signed.efi", std::nullopt);
  });
  CHECK(t.find("covers sha256 digest") != std::string::npos);
}

TEST_CASE("an unsigned image needs the db certificate that will sign it", "[measure]") {
  const auto& c = chain_test::chain();
  if (!c.ok) {
    WARN("check skipped: " << c.error);
    return;
  }
  const Bytes image = read_file(fs::path(TDXIMG_SOURCE_DIR) / "tests/data/pe/plain.efi");
  const Guid& x509 = k_cert_x509_guid();
  const auto vars = vars_with(cat({esl(x509, c.other), esl(x509, c.root)}));
  const std::string missing =
      error_of([&] { secure_boot_authority(vars, "v.fd", image, "uki.efi", std::nullopt); });
  CHECK(missing.find("uki.efi: unsigned") != std::string::npos);
  CHECK(missing.find("--db-cert") != std::string::npos);
  CHECK(missing.find(k_plain_sha256) != std::string::npos);
  const auto a = secure_boot_authority(vars, "v.fd", image, "uki.efi", read_file(c.file("root.crt")));
  CHECK(a.signature_data == owner_plus(c.root));
  const std::string absent = error_of([&] {
    secure_boot_authority(vars_with(esl(x509, c.root)), "v.fd", image, "uki.efi", c.leaf);
  });
  CHECK(absent.find("the db certificate /CN=tdximg test signer is not in db of v.fd") !=
        std::string::npos);
  // No db at all.
  const auto no_db = parse_ovmf_vars(make_vars({{k_efi_global_variable_guid(), "PK", Bytes{1}}}));
  CHECK(error_of([&] { secure_boot_authority(no_db, "v.fd", image, "uki.efi", c.root); })
            .find("no db variable") != std::string::npos);
  // A malformed signature list is an error naming the list, not a crash.
  Bytes bad = esl(x509, c.root);
  bad[16] = 0x10; // SignatureListSize 16: smaller than the list header
  bad[17] = bad[18] = bad[19] = 0;
  CHECK(error_of([&] {
          secure_boot_authority(vars_with(bad), "v.fd", image, "uki.efi", c.root);
        }).find("EFI_SIGNATURE_LIST at 0x0") != std::string::npos);
}

TEST_CASE("an image signed with Debian's snakeoil key is authorized by the snakeoil db entry",
          "[measure]") {
  const auto& c = chain_test::chain();
  if (!c.ok || !fs::exists(k_snakeoil_vars) || !fs::exists(k_snakeoil_pem) ||
      !fs::exists("/usr/share/ovmf/PkKek-1-snakeoil.key")) {
    WARN("ovmf snakeoil files, openssl or sbsign missing; check skipped");
    return;
  }
  // The same signing the boot test does (tests/e2e/lib/qemu.sh e2e_sign_snakeoil).
  const std::string dir = c.dir.path().string();
  REQUIRE(std::system(fmt::format("cd '{}' && openssl pkey -in /usr/share/ovmf/PkKek-1-snakeoil.key "
                                  "-passin pass:snakeoil -out so.key && cp '{}' so-in.efi && "
                                  "sbsign --key so.key --cert '{}' --output so.efi so-in.efi >/dev/null 2>&1 && "
                                  "openssl x509 -in '{}' -outform DER -out so.der",
                                  dir, (fs::path(TDXIMG_SOURCE_DIR) / "tests/data/pe/plain.efi").string(),
                                  k_snakeoil_pem, k_snakeoil_pem)
                          .c_str()) == 0);
  const auto vars = parse_ovmf_vars(read_file(k_snakeoil_vars));
  const auto a = secure_boot_authority(vars, "snakeoil", read_file(c.file("so.efi")), "so.efi", std::nullopt);
  const auto expected = find_db_signature(vars, read_file(c.file("so.der")));
  REQUIRE(expected.has_value());
  CHECK(a.signature_data == *expected);
  CHECK(a.kind == "x509");
}

TEST_CASE("mutated and truncated variable stores fail cleanly or parse, never crash",
          "[measure]") {
  if (!fs::exists(k_snakeoil_vars)) {
    WARN("ovmf snakeoil vars not installed; check skipped");
    return;
  }
  const Bytes good = read_file(k_snakeoil_vars);
  std::size_t errors = 0;
  auto exercise = [&](ByteSpan b) {
    try {
      const auto vars = parse_ovmf_vars(b, "mutated.fd");
      (void)secure_boot_value(vars);
      for (const char* n : {"db", "dbx"})
        if (const UefiVariable* v = find_variable(vars, k_image_security_database_guid(), n))
          (void)signature_entries(*v);
      const HashAlg banks[] = {HashAlg::sha256};
      (void)pcr7_events(vars, Pcr7Config{}, banks);
    } catch (const Error&) {
      ++errors;
    }
  };
  // Truncations across the headers and the variables that matter (PK/KEK/db/dbx sit below 0x5000).
  for (std::size_t len = 0; len < 0x5000; len += 97) exercise(ByteSpan(good).first(len));
  // Byte flips (deterministic LCG) in the FV/store headers and the variable area.
  std::uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    Bytes m = good;
    const std::size_t at = (x >> 8) % 0x5000;
    m[at] = static_cast<std::uint8_t>(m[at] ^ (1u << ((x >> 4) % 8)));
    exercise(m);
  }
  CHECK(errors > 0); // the sweep did reach the error paths
}
