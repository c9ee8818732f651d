// Authenticode signatures: certificate table entries, the PKCS#7 SignedData inside them, and
// edk2's single-anchor verification. See pe/signature.hpp for the specs.

#include <memory>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <tdximg/pe/signature.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::pe {

namespace {

constexpr std::uint64_t k_win_certificate_header = 8;
constexpr std::uint64_t k_efi_guid_header = 8 + 16;
// EFI_CERT_TYPE_PKCS7_GUID 4aafd29d-68df-49ee-8aa9-347d375665a7, as stored (first three
// fields little-endian).
constexpr std::uint8_t k_cert_type_pkcs7_guid[16] = {
    0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49, 0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};
constexpr std::string_view k_spc_indirect_data_oid = "1.3.6.1.4.1.311.2.1.4";

struct Pkcs7Free {
  void operator()(PKCS7* p) const { PKCS7_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkcs7Ptr = std::unique_ptr<PKCS7, Pkcs7Free>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// OpenSSL's error queue, as text, and cleared (so later calls do not report stale errors).
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "no detail" : out;
}

Pkcs7Ptr parse_pkcs7(ByteSpan der) {
  const unsigned char* p = der.data();
  return Pkcs7Ptr(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
}

X509Ptr parse_x509(ByteSpan der) {
  const unsigned char* p = der.data();
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  // The whole buffer must be the certificate: a db entry with trailing bytes is not one.
  if (x && p != der.data() + der.size()) x.reset();
  return x;
}

// A DER TLV header inside `r`: returns the value's length; `r` is left at the value.
std::uint64_t der_header(ByteReader& r, std::uint8_t want_tag, std::string_view what) {
  const std::uint8_t tag = r.u8(what);
  if (tag != want_tag)
    r.error(what, fmt::format("DER tag 0x{:02x}, expected 0x{:02x}", tag, want_tag));
  const std::uint8_t first = r.u8(what);
  if (first < 0x80) return first;
  const unsigned n = first & 0x7Fu;
  if (n == 0 || n > 4) r.error(what, fmt::format("unsupported DER length form 0x{:02x}", first));
  std::uint64_t len = 0;
  for (unsigned i = 0; i < n; ++i)
    len = (len << 8) | r.u8(what);
  if (len > r.remaining())
    r.error(what,
            fmt::format("DER length {} runs past the end ({} bytes left)", len, r.remaining()));
  return len;
}

HashAlg hash_for_oid(std::string_view oid, std::string_view where) {
  if (oid == "1.3.14.3.2.26") return HashAlg::sha1;
  if (oid == "2.16.840.1.101.3.4.2.1") return HashAlg::sha256;
  if (oid == "2.16.840.1.101.3.4.2.2") return HashAlg::sha384;
  if (oid == "2.16.840.1.101.3.4.2.3") return HashAlg::sha512;
  fail(ErrorKind::unsupported,
       "{}: digest algorithm OID {} (expected SHA-1, SHA-256, SHA-384 or SHA-512)", where, oid);
}

std::string oid_text(const ASN1_OBJECT* obj) {
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0
             ? std::string(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1))
             : std::string("?");
}

AuthenticodeSignature parse_signature(ByteSpan der, std::uint64_t offset,
                                      const std::string& where) {
  ERR_clear_error();
  Pkcs7Ptr p7 = parse_pkcs7(der);
  if (!p7) fail(ErrorKind::input, "{}: not a DER PKCS#7 structure ({})", where, openssl_errors());
  if (!PKCS7_type_is_signed(p7.get()) || p7->d.sign == nullptr || p7->d.sign->contents == nullptr)
    fail(ErrorKind::input, "{}: PKCS#7 is not SignedData", where);
  PKCS7* inner = p7->d.sign->contents;
  const std::string type = oid_text(inner->type);
  if (type != k_spc_indirect_data_oid || inner->d.other == nullptr ||
      inner->d.other->type != V_ASN1_SEQUENCE || inner->d.other->value.sequence == nullptr)
    fail(ErrorKind::input, "{}: SignedData content is {}, expected SpcIndirectDataContent ({})",
         where, type, k_spc_indirect_data_oid);
  const ASN1_STRING* seq = inner->d.other->value.sequence;
  const ByteSpan full(ASN1_STRING_get0_data(seq),
                      static_cast<std::size_t>(ASN1_STRING_length(seq)));

  AuthenticodeSignature sig;
  sig.offset = offset;
  sig.pkcs7.assign(der.begin(), der.end());
  // SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
  //   messageDigest DigestInfo { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING } }.
  // The signer's messageDigest attribute covers the SEQUENCE's value without its header.
  ByteReader r(full, where + " SpcIndirectDataContent");
  const std::uint64_t content_len = der_header(r, 0x30, "SEQUENCE");
  const ByteSpan content = r.bytes(content_len, "content");
  sig.content.assign(content.begin(), content.end());
  ByteReader c(content, where + " SpcIndirectDataContent");
  c.skip(der_header(c, 0x30, "data"), "data");
  const std::uint64_t di_len = der_header(c, 0x30, "messageDigest");
  ByteReader di = c.sub(c.offset(), di_len, "messageDigest");
  const std::uint64_t alg_len = der_header(di, 0x30, "digestAlgorithm");
  ByteReader alg = di.sub(di.offset(), alg_len, "digestAlgorithm");
  di.skip(alg_len, "digestAlgorithm");
  const std::uint64_t oid_len = der_header(alg, 0x06, "digestAlgorithm OID");
  const ByteSpan oid_value = alg.bytes(oid_len, "digestAlgorithm OID");
  // Let OpenSSL render the OID from its DER (tag, length, value).
  Bytes oid_der{0x06, static_cast<std::uint8_t>(oid_value.size())};
  if (oid_value.size() > 127) fail(ErrorKind::input, "{}: digest algorithm OID too long", where);
  oid_der.insert(oid_der.end(), oid_value.begin(), oid_value.end());
  const unsigned char* op = oid_der.data();
  std::unique_ptr<ASN1_OBJECT, void (*)(ASN1_OBJECT*)> obj(
      d2i_ASN1_OBJECT(nullptr, &op, static_cast<long>(oid_der.size())), ASN1_OBJECT_free);
  if (!obj) fail(ErrorKind::input, "{}: malformed digest algorithm OID", where);
  sig.digest_alg = hash_for_oid(oid_text(obj.get()), where);
  const ByteSpan digest = di.bytes(der_header(di, 0x04, "digest"), "digest");
  if (digest.size() != digest_size(sig.digest_alg))
    fail(ErrorKind::input, "{}: {} image digest has {} bytes, expected {}", where,
         hash_name(sig.digest_alg), digest.size(), digest_size(sig.digest_alg));
  sig.image_digest.assign(digest.begin(), digest.end());

  if (const STACK_OF(X509)* certs = p7->d.sign->cert; certs != nullptr) {
    const int n = OPENSSL_sk_num(reinterpret_cast<const OPENSSL_STACK*>(certs));
    for (int i = 0; i < n; ++i) {
      auto* x =
          static_cast<X509*>(OPENSSL_sk_value(reinterpret_cast<const OPENSSL_STACK*>(certs), i));
      unsigned char* out = nullptr;
      const int len = i2d_X509(x, &out);
      if (len <= 0) continue;
      sig.certificates.emplace_back(out, out + len);
      OPENSSL_free(out);
    }
  }
  return sig;
}

} // namespace

std::vector<WinCertificate> certificate_entries(const PeFile& pe) {
  std::vector<WinCertificate> out;
  const auto table = pe.cert_table();
  if (!table) return out;
  ByteReader r(
      checked_slice(pe.data(), table->offset, table->size, pe.name() + ": certificate table"),
      pe.name() + ": certificate table", table->offset);
  while (!r.at_end()) {
    const std::uint64_t at = r.offset();
    const std::string what =
        fmt::format("WIN_CERTIFICATE at file offset 0x{:x}", table->offset + at);
    WinCertificate e;
    e.offset = table->offset + at;
    e.length = r.u32le(what + " dwLength");
    e.revision = r.u16le(what + " wRevision");
    e.type = r.u16le(what + " wCertificateType");
    if (e.length < k_win_certificate_header)
      r.error(what, fmt::format("dwLength {} is shorter than its 8-byte header", e.length));
    e.data = r.bytes(e.length - k_win_certificate_header, what + " bCertificate");
    out.push_back(e);
    // The next entry starts 8-byte aligned; the padding may end the table.
    const std::uint64_t next = (r.offset() + 7) / 8 * 8;
    if (next >= r.size()) break;
    r.seek(next, what + " padding");
  }
  return out;
}

std::vector<AuthenticodeSignature> authenticode_signatures(const PeFile& pe) {
  std::vector<AuthenticodeSignature> out;
  for (const WinCertificate& e : certificate_entries(pe)) {
    const std::string where =
        fmt::format("{}: signature at file offset 0x{:x}", pe.name(), e.offset);
    if (e.type == k_win_cert_type_pkcs_signed_data) {
      out.push_back(parse_signature(e.data, e.offset, where));
    } else if (e.type == k_win_cert_type_efi_guid && e.data.size() >= k_efi_guid_header - 8 &&
               std::equal(std::begin(k_cert_type_pkcs7_guid), std::end(k_cert_type_pkcs7_guid),
                          e.data.begin())) {
      out.push_back(parse_signature(e.data.subspan(16), e.offset, where));
    }
  }
  return out;
}

bool verifies_with_anchor(const AuthenticodeSignature& sig, ByteSpan anchor_der) {
  ERR_clear_error();
  X509Ptr anchor = parse_x509(anchor_der);
  if (!anchor)
    fail(ErrorKind::input, "trust anchor: not a DER X.509 certificate ({})", openssl_errors());
  Pkcs7Ptr p7 = parse_pkcs7(sig.pkcs7);
  if (!p7)
    fail(ErrorKind::input, "signature at 0x{:x}: not PKCS#7 ({})", sig.offset, openssl_errors());
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<BIO, BioFree> data(
      BIO_new_mem_buf(sig.content.data(), static_cast<int>(sig.content.size())));
  if (!store || !data || X509_STORE_add_cert(store.get(), anchor.get()) != 1)
    fail(ErrorKind::internal, "OpenSSL: cannot set up a certificate store ({})", openssl_errors());
  // As edk2 Pkcs7Verify(): partial chains (the anchor need not be self-signed), no time checks,
  // any purpose (Authenticode signers carry code-signing EKUs, not S/MIME ones).
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
  X509_STORE_set_purpose(store.get(), X509_PURPOSE_ANY);
  const int ok = PKCS7_verify(p7.get(), nullptr, store.get(), data.get(), nullptr, PKCS7_BINARY);
  ERR_clear_error();
  return ok == 1;
}

Bytes certificate_der(ByteSpan pem_or_der, std::string_view name) {
  ERR_clear_error();
  if (X509Ptr x = parse_x509(pem_or_der)) return Bytes(pem_or_der.begin(), pem_or_der.end());
  ERR_clear_error();
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem_or_der.data(), static_cast<int>(pem_or_der.size())));
  X509Ptr x(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!x)
    fail(ErrorKind::input, "{}: expected an X.509 certificate (PEM or DER), got neither ({})", name,
         openssl_errors());
  unsigned char* out = nullptr;
  const int len = i2d_X509(x.get(), &out);
  if (len <= 0) fail(ErrorKind::internal, "{}: cannot re-encode the certificate", name);
  Bytes der(out, out + len);
  OPENSSL_free(out);
  return der;
}

std::string certificate_subject(ByteSpan der) noexcept {
  try {
    X509Ptr x = parse_x509(der);
    ERR_clear_error();
    if (!x) return "?";
    char* s = X509_NAME_oneline(X509_get_subject_name(x.get()), nullptr, 0);
    if (s == nullptr) return "?";
    std::string out(s);
    OPENSSL_free(s);
    return out;
  } catch (...) {
    return "?";
  }
}

} // namespace tdximg::pe
