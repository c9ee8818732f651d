#pragma once
// Authenticode signatures of a PE image and the check UEFI firmware makes with them.
// Specs: Microsoft "PE Format", "The Attribute Certificate Table" (WIN_CERTIFICATE, 8-byte
// aligned entries); "Windows Authenticode Portable Executable Signature Format" (PKCS#7
// SignedData over SpcIndirectDataContent, whose DigestInfo holds the image digest); UEFI 2.10
// §32.2.4 (WIN_CERTIFICATE_UEFI_GUID with EFI_CERT_TYPE_PKCS7_GUID). The verification follows
// edk2 DxeImageVerificationLib (IsAllowedByDb / IsForbiddenByDbx -> CryptoPkg
// AuthenticodeVerify -> Pkcs7Verify): one certificate is the only trust anchor, partial chains
// are allowed (the anchor may be the signer or any issuer in its chain), validity times and key
// purposes are not checked.

#include <cstdint>
#include <string>
#include <string_view>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>
#include <vector>

namespace tdximg::pe {

inline constexpr std::uint16_t k_win_cert_type_pkcs_signed_data = 0x0002;
inline constexpr std::uint16_t k_win_cert_type_efi_guid = 0x0EF1;

// One entry of the certificate table.
struct WinCertificate {
  std::uint64_t offset = 0; // file offset of the WIN_CERTIFICATE header
  std::uint32_t length = 0; // dwLength (the 8-byte header included)
  std::uint16_t revision = 0;
  std::uint16_t type = 0;
  ByteSpan data; // bCertificate: dwLength - 8 bytes, a view into the PE's bytes
};

// The entries of the certificate table, each starting 8-byte aligned after the previous one.
// Empty without a table. Throws ErrorKind::input naming the entry's offset when an entry is
// shorter than its header or runs past the table.
std::vector<WinCertificate> certificate_entries(const PeFile& pe);

// An Authenticode signature, parsed.
struct AuthenticodeSignature {
  std::uint64_t offset = 0;             // file offset of its WIN_CERTIFICATE
  Bytes pkcs7;                          // DER ContentInfo (SignedData)
  HashAlg digest_alg = HashAlg::sha256; // SpcIndirectDataContent DigestInfo algorithm
  Bytes image_digest;                   // the Authenticode digest the signature covers
  Bytes content;                   // SpcIndirectDataContent without its SEQUENCE header (signed)
  std::vector<Bytes> certificates; // DER certificates the SignedData carries (signer, chain)
};

// The Authenticode signatures of the image: WIN_CERT_TYPE_PKCS_SIGNED_DATA entries and
// WIN_CERTIFICATE_UEFI_GUID entries of type EFI_CERT_TYPE_PKCS7_GUID (the two kinds edk2
// accepts; other entries are skipped, as edk2 does), in table order. Throws ErrorKind::input
// naming the entry for a PKCS#7 blob that is not an Authenticode SignedData, and
// ErrorKind::unsupported for a digest algorithm other than SHA-1/256/384/512.
std::vector<AuthenticodeSignature> authenticode_signatures(const PeFile& pe);

// Whether `sig` verifies with the X.509 certificate `anchor_der` as its only trust anchor, as
// edk2 Pkcs7Verify() does (see the file comment). The image digest is not compared here.
// Throws ErrorKind::input if `anchor_der` is not a DER X.509 certificate.
bool verifies_with_anchor(const AuthenticodeSignature& sig, ByteSpan anchor_der);

// A certificate given as PEM ("-----BEGIN CERTIFICATE-----") or DER, as DER. Throws
// ErrorKind::input naming `name` if it is neither.
Bytes certificate_der(ByteSpan pem_or_der, std::string_view name);

// One-line subject of a DER certificate ("CN=PkKek-1-snakeoil, ..."), "?" if unreadable.
// Never throws.
std::string certificate_subject(ByteSpan der) noexcept;

} // namespace tdximg::pe
