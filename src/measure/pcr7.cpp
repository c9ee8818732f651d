// PCR 7 from an OVMF variable store. Formats: PI spec vol. 3 §3.2.1
// EFI_FIRMWARE_VOLUME_HEADER; edk2 MdeModulePkg/Include/Guid/VariableFormat.h
// (VARIABLE_STORE_HEADER, AUTHENTICATED_VARIABLE_HEADER, VAR_ADDED etc.); UEFI 2.10 §32.4.1
// EFI_SIGNATURE_LIST/EFI_SIGNATURE_DATA; TCG PFP 1.05 §10.4.4 UEFI_VARIABLE_DATA.

#include <tdximg/measure/pcr7.hpp>

#include <algorithm>

#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/signature.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::measure {

namespace {

constexpr std::uint16_t k_variable_start_id = 0x55AA;
constexpr std::uint8_t k_var_added = 0x3F;
constexpr std::uint8_t k_var_added_in_deleted_transition = 0x3E; // VAR_ADDED & ~bit 0
constexpr std::uint64_t k_auth_header_size = 60;
constexpr std::uint64_t k_store_header_size = 28;

Guid read_guid(ByteReader& r, std::string_view what) {
  const ByteSpan b = r.bytes(16, what);
  Guid g{};
  std::copy(b.begin(), b.end(), g.begin());
  return g;
}

} // namespace

Guid parse_guid(std::string_view text) {
  // 8-4-4-4-12 hex digits; the first three fields are stored little-endian.
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-')
    fail(ErrorKind::input, "GUID '{}': expected 8-4-4-4-12 hex digits", text);
  std::string hex;
  for (char c : text)
    if (c != '-') hex.push_back(c);
  Bytes be;
  for (std::size_t i = 0; i < 32; i += 2) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      const char c = hex[i + k];
      unsigned d = 0;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else fail(ErrorKind::input, "GUID '{}': '{}' is not a hex digit", text, c);
      v = v * 16 + d;
    }
    be.push_back(static_cast<std::uint8_t>(v));
  }
  Guid g{};
  const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (std::size_t i = 0; i < 16; ++i) g[i] = be[static_cast<std::size_t>(order[i])];
  return g;
}

std::vector<UefiVariable> parse_ovmf_vars(ByteSpan fd, const std::string& name) {
  ByteReader r(fd, name);
  // EFI_FIRMWARE_VOLUME_HEADER: ZeroVector[16], FileSystemGuid, FvLength, Signature "_FVH",
  // Attributes, HeaderLength, ...
  r.skip(32, "firmware volume ZeroVector/FileSystemGuid");
  const std::uint64_t fv_length = r.u64le("firmware volume FvLength");
  const ByteSpan sig = r.bytes(4, "firmware volume Signature");
  if (as_chars(sig) != "_FVH") r.error("firmware volume Signature", "not \"_FVH\"");
  r.u32le("firmware volume Attributes");
  const std::uint16_t header_length = r.u16le("firmware volume HeaderLength");
  if (fv_length > fd.size())
    r.error("firmware volume FvLength", fmt::format("{} bytes past the end of the file", fv_length));
  ByteReader store = r.sub(header_length, k_store_header_size, "variable store header");
  const Guid store_guid = read_guid(store, "variable store Signature");
  if (store_guid != parse_guid("aaf32c78-947b-439a-a180-2e144ec37792"))
    fail(ErrorKind::unsupported,
         "{}: variable store at offset 0x{:x} is not an authenticated variable store", name,
         header_length);
  const std::uint32_t store_size = store.u32le("variable store Size");
  ByteReader vars = r.sub(header_length, store_size, "variable store");
  vars.seek(k_store_header_size, "variable store first variable");

  std::vector<UefiVariable> out;
  std::vector<bool> in_transition;
  while (vars.remaining() >= k_auth_header_size) {
    const std::uint64_t at = vars.offset();
    const std::uint16_t start = vars.u16le("variable StartId");
    if (start != k_variable_start_id) break; // end of the used area (0xFFFF)
    const std::string what = fmt::format("variable at store offset 0x{:x}", at);
    const std::uint8_t state = vars.u8(what + " State");
    vars.u8(what + " Reserved");
    const std::uint32_t attributes = vars.u32le(what + " Attributes");
    vars.skip(8 + 16 + 4, what + " MonotonicCount/TimeStamp/PubKeyIndex");
    const std::uint32_t name_size = vars.u32le(what + " NameSize");
    const std::uint32_t data_size = vars.u32le(what + " DataSize");
    const Guid vendor = read_guid(vars, what + " VendorGuid");
    const ByteSpan name16 = vars.bytes(name_size, what + " Name");
    const ByteSpan data = vars.bytes(data_size, what + " Data");
    const std::uint64_t next = align_up(vars.offset(), 4, what);
    if (next >= vars.size()) {
      vars.seek(vars.size(), what);
    } else {
      vars.seek(next, what + " alignment");
    }
    if (state != k_var_added && state != k_var_added_in_deleted_transition) continue;
    if (name_size % 2 != 0) vars.error(what + " NameSize", "odd size for a UTF-16 name");
    UefiVariable v;
    v.vendor = vendor;
    v.attributes = attributes;
    for (std::size_t i = 0; i + 1 < name16.size(); i += 2) {
      const auto c = static_cast<std::uint16_t>(name16[i] | (name16[i + 1] << 8));
      if (c == 0) break;
      if (c >= 0x80) vars.error(what + " Name", "non-ASCII variable name");
      v.name.push_back(static_cast<char>(c));
    }
    v.data.assign(data.begin(), data.end());
    const bool transition = state == k_var_added_in_deleted_transition;
    // Of duplicates, a VAR_ADDED record replaces anything; an in-transition one only fills
    // a gap.
    bool replaced = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].vendor == v.vendor && out[i].name == v.name) {
        if (!transition || in_transition[i]) {
          out[i] = v;
          in_transition[i] = transition;
        }
        replaced = true;
      }
    }
    if (!replaced) {
      out.push_back(std::move(v));
      in_transition.push_back(transition);
    }
  }
  return out;
}

const UefiVariable* find_variable(const std::vector<UefiVariable>& vars, const Guid& vendor,
                                  std::string_view name) {
  for (const UefiVariable& v : vars)
    if (v.vendor == vendor && v.name == name) return &v;
  return nullptr;
}

Bytes uefi_variable_data(const Guid& vendor, std::string_view ascii_name, ByteSpan data) {
  ByteWriter w;
  w.bytes(vendor);
  w.u64le(ascii_name.size());
  w.u64le(data.size());
  for (char c : ascii_name) w.u16le(static_cast<std::uint16_t>(static_cast<unsigned char>(c)));
  w.bytes(data);
  return w.take();
}

const Guid& k_cert_x509_guid() {
  static const Guid g = parse_guid("a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
  return g;
}
const Guid& k_cert_sha256_guid() {
  static const Guid g = parse_guid("c1c41626-504c-4092-aca9-41f936934328");
  return g;
}
const Guid& k_cert_sha384_guid() {
  static const Guid g = parse_guid("ff3e5307-9fd0-48c9-85f1-8ad56c701e01");
  return g;
}
const Guid& k_cert_sha512_guid() {
  static const Guid g = parse_guid("093e0fae-a6c4-4f50-9f1b-d41e2b89c19a");
  return g;
}
const Guid& k_secure_boot_enable_guid() {
  static const Guid g = parse_guid("f0a30bc7-af08-4556-99c4-001009c93a44");
  return g;
}

std::vector<SignatureEntry> signature_entries(const UefiVariable& var) {
  std::vector<SignatureEntry> out;
  ByteReader r(var.data, var.name);
  while (!r.at_end()) {
    const std::uint64_t at = r.offset();
    const std::string what = fmt::format("EFI_SIGNATURE_LIST at 0x{:x}", at);
    const Guid type = read_guid(r, what + " SignatureType");
    const std::uint32_t list_size = r.u32le(what + " SignatureListSize");
    const std::uint32_t header_size = r.u32le(what + " SignatureHeaderSize");
    const std::uint32_t sig_size = r.u32le(what + " SignatureSize");
    const std::uint64_t fixed = 28 + std::uint64_t{header_size};
    if (list_size < fixed || sig_size < 16 || (list_size - fixed) % sig_size != 0)
      r.error(what, fmt::format("inconsistent sizes (list {}, header {}, signature {}): expected "
                                "list = 28 + header + n * signature, signature >= 16",
                                list_size, header_size, sig_size));
    ByteReader list = r.sub(at, list_size, what);
    list.seek(fixed, what + " signatures");
    while (!list.at_end()) {
      const std::uint64_t entry_at = at + list.offset();
      const ByteSpan entry = list.bytes(sig_size, what + " EFI_SIGNATURE_DATA");
      out.push_back(SignatureEntry{type, Bytes(entry.begin(), entry.end()), entry_at});
    }
    r.seek(at + list_size, what);
  }
  return out;
}

std::optional<Bytes> find_db_signature(const std::vector<UefiVariable>& vars, ByteSpan cert_der) {
  const UefiVariable* db = find_variable(vars, k_image_security_database_guid(), "db");
  if (db == nullptr) return std::nullopt;
  for (const SignatureEntry& e : signature_entries(*db))
    if (e.type == k_cert_x509_guid() && std::ranges::equal(e.data(), cert_der))
      return e.signature_data;
  return std::nullopt;
}

std::uint8_t secure_boot_value(const std::vector<UefiVariable>& vars) {
  const UefiVariable* pk = find_variable(vars, k_efi_global_variable_guid(), "PK");
  if (pk == nullptr || pk->data.empty()) return 0; // setup mode
  const UefiVariable* enable =
      find_variable(vars, k_secure_boot_enable_guid(), "SecureBootEnable");
  // AuthVariableLibInitialize(): in user mode a missing switch is created as enabled.
  if (enable == nullptr || enable->data.empty()) return 1;
  return enable->data[0] == 1 ? 1 : 0;
}

namespace {

std::string_view hash_kind(const Guid& type) {
  if (type == k_cert_sha256_guid()) return "sha256";
  if (type == k_cert_sha384_guid()) return "sha384";
  if (type == k_cert_sha512_guid()) return "sha512";
  if (type == k_cert_x509_guid()) return "x509";
  return "";
}

const Guid* hash_type_for(HashAlg alg) {
  switch (alg) {
  case HashAlg::sha256: return &k_cert_sha256_guid();
  case HashAlg::sha384: return &k_cert_sha384_guid();
  case HashAlg::sha512: return &k_cert_sha512_guid();
  case HashAlg::sha1: return nullptr; // EFI_CERT_SHA1_GUID entries are not modelled
  }
  return nullptr;
}

SecureBootAuthority authority_from(const SignatureEntry& e, std::string how) {
  SecureBootAuthority a;
  a.signature_data = e.signature_data;
  a.db_offset = e.offset;
  a.kind = std::string(hash_kind(e.type));
  if (e.type == k_cert_x509_guid()) a.subject = pe::certificate_subject(e.data());
  a.how = std::move(how);
  return a;
}

std::string describe_db(const std::vector<SignatureEntry>& db) {
  std::string certs;
  std::size_t hashes = 0;
  for (const SignatureEntry& e : db) {
    if (e.type == k_cert_x509_guid())
      certs += fmt::format("{}{}", certs.empty() ? "" : ", ", pe::certificate_subject(e.data()));
    else
      ++hashes;
  }
  return fmt::format("db holds {} X.509 certificate(s){}{} and {} other entr{}",
                     db.size() - hashes, certs.empty() ? "" : ": ", certs, hashes,
                     hashes == 1 ? "y" : "ies");
}

} // namespace

SecureBootAuthority secure_boot_authority(const std::vector<UefiVariable>& vars,
                                          std::string_view vars_name, ByteSpan image,
                                          std::string_view image_name,
                                          const std::optional<Bytes>& db_cert) {
  const UefiVariable* db_var = find_variable(vars, k_image_security_database_guid(), "db");
  if (db_var == nullptr || db_var->data.empty())
    fail(ErrorKind::input,
         "{}: Secure Boot on: no db variable, so nothing can authorize {} (expected db with the "
         "certificate that signs it)",
         vars_name, image_name);
  const std::vector<SignatureEntry> db = signature_entries(*db_var);
  std::vector<SignatureEntry> dbx;
  if (const UefiVariable* v = find_variable(vars, k_image_security_database_guid(), "dbx"))
    dbx = signature_entries(*v);

  const pe::PeFile pe(image, std::string(image_name));
  const std::vector<pe::AuthenticodeSignature> sigs = pe::authenticode_signatures(pe);
  const Bytes sha256 = pe::authenticode(pe, HashAlg::sha256);
  auto in = [](const std::vector<SignatureEntry>& list, const Guid& type, ByteSpan value) {
    return std::find_if(list.begin(), list.end(), [&](const SignatureEntry& e) {
      return e.type == type && std::ranges::equal(e.data(), value);
    });
  };
  if (in(dbx, k_cert_sha256_guid(), sha256) != dbx.end())
    fail(ErrorKind::input, "{}: its SHA-256 Authenticode digest {} is revoked in dbx of {}",
         image_name, to_hex(sha256), vars_name);

  std::optional<Bytes> want_cert;
  if (db_cert) want_cert = pe::certificate_der(*db_cert, "db certificate");

  if (sigs.empty()) {
    if (want_cert) {
      const auto it = in(db, k_cert_x509_guid(), *want_cert);
      if (it == db.end())
        fail(ErrorKind::input,
             "{}: the db certificate {} is not in db of {} (expected it among db's X.509 "
             "entries; {})",
             image_name, pe::certificate_subject(*want_cert), vars_name, describe_db(db));
      return authority_from(*it, fmt::format("unsigned {}: the db certificate named to sign it "
                                             "(db offset 0x{:x})",
                                             image_name, it->offset));
    }
    const auto it = in(db, k_cert_sha256_guid(), sha256);
    if (it == db.end())
      fail(ErrorKind::input,
           "{}: unsigned, and its SHA-256 Authenticode digest {} is not in db of {}; Secure "
           "Boot on needs the db certificate that will sign it (--db-cert, or "
           "measure.secure_boot_db_cert in a recipe) ({})",
           image_name, to_hex(sha256), vars_name, describe_db(db));
    return authority_from(*it, fmt::format("unsigned {}: its SHA-256 digest is in db", image_name));
  }

  std::string tried;
  for (const pe::AuthenticodeSignature& sig : sigs) {
    const Bytes digest = pe::authenticode(pe, sig.digest_alg);
    if (digest != sig.image_digest) {
      // edk2's AuthenticodeVerify() rejects it; the image was changed after signing.
      tried += fmt::format("; signature at 0x{:x} covers {} digest {}, but the image's is {}",
                           sig.offset, hash_name(sig.digest_alg), to_hex(sig.image_digest),
                           to_hex(digest));
      continue;
    }
    for (const SignatureEntry& e : dbx)
      if (e.type == k_cert_x509_guid() && pe::verifies_with_anchor(sig, e.data()))
        fail(ErrorKind::input, "{}: the signature at 0x{:x} chains to {}, revoked in dbx of {}",
             image_name, sig.offset, pe::certificate_subject(e.data()), vars_name);
    std::optional<SecureBootAuthority> found;
    for (const SignatureEntry& e : db) {
      if (e.type != k_cert_x509_guid() || !pe::verifies_with_anchor(sig, e.data())) continue;
      found = authority_from(e, fmt::format("signature at file offset 0x{:x} of {} verified by "
                                            "the db certificate at db offset 0x{:x}",
                                            sig.offset, image_name, e.offset));
      break;
    }
    if (!found)
      if (const Guid* type = hash_type_for(sig.digest_alg))
        if (const auto it = in(db, *type, digest); it != db.end())
          found = authority_from(*it, fmt::format("{} digest of {} is in db",
                                                  hash_name(sig.digest_alg), image_name));
    if (found) {
      if (want_cert && (found->kind != "x509" || !std::ranges::equal(
                                                     ByteSpan(found->signature_data).subspan(16),
                                                     *want_cert)))
        fail(ErrorKind::input,
             "{}: the db certificate given ({}) is not the db entry that authorizes the image's "
             "signature (expected {}, found at db offset 0x{:x})",
             image_name, pe::certificate_subject(*want_cert),
             found->subject.empty() ? found->kind + " hash entry" : found->subject,
             found->db_offset);
      return *found;
    }
    std::string signers;
    for (const Bytes& c : sig.certificates)
      signers += fmt::format("{}{}", signers.empty() ? "" : ", ", pe::certificate_subject(c));
    tried += fmt::format("; signature at 0x{:x} (certificates: {}) verifies with no db entry",
                         sig.offset, signers.empty() ? "none" : signers);
  }
  fail(ErrorKind::input,
       "{}: Secure Boot on: no db entry of {} authorizes it (expected the signer or an issuer "
       "of its chain among db's X.509 certificates, or its digest in db){}; {}",
       image_name, vars_name, tried, describe_db(db));
}

std::vector<Event> pcr7_events(const std::vector<UefiVariable>& vars, const Pcr7Config& config,
                               std::span<const HashAlg> banks) {
  const std::string source = "edk2 Tcg2Dxe MeasureAllSecureVariables";
  std::vector<Event> out;
  auto measure = [&](const Guid& vendor, std::string_view var, ByteSpan data, std::uint32_t type,
                     std::string description, const std::string& src) {
    out.push_back(hashed_event("pcr7", 7, type, uefi_variable_data(vendor, var, data), banks,
                               std::move(description), src));
  };
  // SecureBoot is volatile (computed by the firmware), never in the vars file.
  Bytes sb;
  if (config.secure_boot_value) sb.push_back(*config.secure_boot_value);
  measure(k_efi_global_variable_guid(), "SecureBoot", sb, ev::k_efi_variable_driver_config,
          config.secure_boot_value ? fmt::format("SecureBoot = {}", *config.secure_boot_value)
                                   : std::string("SecureBoot (absent)"),
          source);
  const std::pair<const Guid*, const char*> list[] = {
      {&k_efi_global_variable_guid(), "PK"},
      {&k_efi_global_variable_guid(), "KEK"},
      {&k_image_security_database_guid(), "db"},
      {&k_image_security_database_guid(), "dbx"}};
  for (const auto& [vendor, var] : list) {
    const UefiVariable* v = find_variable(vars, *vendor, var);
    measure(*vendor, var, v != nullptr ? ByteSpan(v->data) : ByteSpan{},
            ev::k_efi_variable_driver_config,
            v != nullptr ? fmt::format("{} ({} bytes)", var, v->data.size())
                         : fmt::format("{} (absent)", var),
            source);
  }
  if (const UefiVariable* dbt = find_variable(vars, k_image_security_database_guid(), "dbt");
      dbt != nullptr && !dbt->data.empty())
    measure(k_image_security_database_guid(), "dbt", dbt->data, ev::k_efi_variable_driver_config,
            "dbt", source);
  const std::uint8_t separator[4] = {0, 0, 0, 0};
  out.push_back(hashed_event("pcr7", 7, ev::k_separator, separator, banks, "separator",
                             "edk2 Tcg2Dxe OnReadyToBoot"));
  if (config.authority)
    measure(k_image_security_database_guid(), "db", *config.authority,
            ev::k_efi_variable_authority, config.authority_description,
            "edk2 DxeImageVerificationLib");
  return out;
}

RegisterPrediction predict_pcr7(const std::vector<UefiVariable>& vars, const Pcr7Config& config,
                                std::span<const HashAlg> banks) {
  return make_prediction("pcr7", 7, pcr7_events(vars, config, banks), banks, true,
                         "from the given OVMF variable store; checked against QEMU + OVMF boots "
                         "(tests/e2e/pcr_*.sh)");
}

} // namespace tdximg::measure
