#pragma once
// PCR 7 (Secure Boot policy) predicted from an OVMF variable store file, as EDK2 measures it.
// Spec: TCG PC Client PFP 1.05 §3.3.4.8 and §10.4.4 (EV_EFI_VARIABLE_DRIVER_CONFIG over
// UEFI_VARIABLE_DATA; EV_EFI_VARIABLE_AUTHORITY); edk2 Tcg2Dxe MeasureAllSecureVariables()
// (SecureBoot, PK, KEK, db, dbx; a missing variable is measured with empty data; dbt only if
// present), OnReadyToBoot() separator, DxeImageVerificationLib (authority = the db
// EFI_SIGNATURE_DATA that verified the image). Values checked against real QEMU + OVMF
// 2022.11 boots by tests/e2e/pcr_*.sh (Secure Boot off and on, stub 252 and 257: one
// authority event, for the UKI; the stub's security override keeps the kernel's away).

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/measure/event.hpp>

namespace tdximg::measure {

using Guid = std::array<std::uint8_t, 16>; // EFI_GUID as stored (first three fields LE)

// Parses "8be4df61-93ca-11d2-aa0d-00e098032b8c" into EFI_GUID byte order. Throws
// ErrorKind::input if malformed.
Guid parse_guid(std::string_view text);
inline const Guid& k_efi_global_variable_guid() {
  static const Guid g = parse_guid("8be4df61-93ca-11d2-aa0d-00e098032b8c");
  return g;
}
inline const Guid& k_image_security_database_guid() {
  static const Guid g = parse_guid("d719b2cb-3d3a-4596-a3bc-dad00e67656f");
  return g;
}

struct UefiVariable {
  Guid vendor{};
  std::string name; // UTF-16 name narrowed (names in a vars store are ASCII)
  std::uint32_t attributes = 0;
  Bytes data;
};

// Live variables of an OVMF vars file (EFI_FIRMWARE_VOLUME_HEADER, authenticated
// VARIABLE_STORE_HEADER, AUTHENTICATED_VARIABLE_HEADER records; edk2 MdeModulePkg
// VariableFormat.h). Deleted records are skipped; of duplicates the last VAR_ADDED wins.
// Throws ErrorKind::input naming the record and offset for malformed or truncated data, and
// ErrorKind::unsupported for a non-authenticated store.
std::vector<UefiVariable> parse_ovmf_vars(ByteSpan fd, const std::string& name = "OVMF_VARS.fd");

// The variable `name` of `vendor`, or nullptr.
const UefiVariable* find_variable(const std::vector<UefiVariable>& vars, const Guid& vendor,
                                  std::string_view name);

// UEFI_VARIABLE_DATA: VariableName GUID, u64 UnicodeNameLength (chars, no NUL), u64
// VariableDataLength, UTF-16LE name, data. Never throws.
Bytes uefi_variable_data(const Guid& vendor, std::string_view ascii_name, ByteSpan data);

// EFI_SIGNATURE_LIST SignatureType GUIDs (UEFI 2.10 §32.4.1).
const Guid& k_cert_x509_guid();
const Guid& k_cert_sha256_guid();
const Guid& k_cert_sha384_guid();
const Guid& k_cert_sha512_guid();
// gEfiSecureBootEnableDisableGuid: edk2's non-volatile "SecureBootEnable" switch.
const Guid& k_secure_boot_enable_guid();

// One EFI_SIGNATURE_DATA of a signature database (db, dbx, ...).
struct SignatureEntry {
  Guid type{};           // its list's SignatureType
  Bytes signature_data;  // SignatureOwner GUID (16 bytes) + SignatureData
  std::uint64_t offset = 0; // of the EFI_SIGNATURE_DATA within the variable's data
  ByteSpan data() const { return ByteSpan(signature_data).subspan(16); }
};

// Every EFI_SIGNATURE_DATA of `var` in storage order. Throws ErrorKind::input naming the
// variable, the list's offset and the sizes for a malformed EFI_SIGNATURE_LIST.
std::vector<SignatureEntry> signature_entries(const UefiVariable& var);

// The EFI_SIGNATURE_DATA (SignatureOwner GUID + certificate) of the db entry whose X.509
// certificate equals `cert_der`, or nullopt. Throws ErrorKind::input if db's
// EFI_SIGNATURE_LIST structure is malformed.
std::optional<Bytes> find_db_signature(const std::vector<UefiVariable>& vars, ByteSpan cert_der);

// The SecureBoot value edk2's AuthVariableLib derives from the store at boot (firmware with
// Secure Boot support): 1 when PK is enrolled (user mode) and the SecureBootEnable switch is
// absent or 1, else 0 (setup mode, or Secure Boot disabled in the firmware's setup).
std::uint8_t secure_boot_value(const std::vector<UefiVariable>& vars);

// The db entry that authorizes an image with Secure Boot on: the EFI_SIGNATURE_DATA edk2
// DxeImageVerificationLib measures as EV_EFI_VARIABLE_AUTHORITY when it verifies the image.
struct SecureBootAuthority {
  Bytes signature_data;    // db EFI_SIGNATURE_DATA (owner GUID + certificate or hash)
  std::uint64_t db_offset = 0; // its offset within db's data
  std::string kind;        // "x509" or "sha256"/"sha384"/"sha512" (an image hash in db)
  std::string subject;     // X.509 subject ("" for a hash)
  std::string how;         // "signature at file offset 0x... verified by db certificate ..."
};

// Resolves the authority the way edk2 does: for each Authenticode signature of `image` (table
// order) that covers the image's digest, the first db X.509 certificate (db order) that
// verifies it as the only trust anchor (pe::verifies_with_anchor), else a db hash entry equal
// to the image's digest in the signature's algorithm. An unsigned image: the db entry holding
// `db_cert` (the certificate that will sign it), else a db SHA-256 entry of the image. With a
// signed image, `db_cert` must name the entry found. Refuses (ErrorKind::input, saying what
// was expected and what was found) when nothing authorizes the image, when db is missing,
// when the image's SHA-256 Authenticode digest or a dbx certificate that verifies a signature
// is in dbx, and for a signature that does not cover this image. `vars_name` and
// `image_name` name the files in messages.
SecureBootAuthority secure_boot_authority(const std::vector<UefiVariable>& vars,
                                          std::string_view vars_name, ByteSpan image,
                                          std::string_view image_name,
                                          const std::optional<Bytes>& db_cert);

struct Pcr7Config {
  // Value of the volatile SecureBoot variable: 1 (enforcing), 0 (secure-boot capable firmware,
  // not enforcing), nullopt (firmware without secure boot support: variable absent, measured
  // with empty data).
  std::optional<std::uint8_t> secure_boot_value;
  // EFI_SIGNATURE_DATA of the db entry that verified the UKI (Secure Boot on), see
  // secure_boot_authority(). nullopt: no authority event.
  std::optional<Bytes> authority;
  std::string authority_description = "db entry that verified uki.efi";
};

// PCR 7 events: SecureBoot, PK, KEK, db, dbx (EV_EFI_VARIABLE_DRIVER_CONFIG), dbt if present,
// EV_SEPARATOR, then the EV_EFI_VARIABLE_AUTHORITY event if configured. Never throws for
// parsed variables.
std::vector<Event> pcr7_events(const std::vector<UefiVariable>& vars, const Pcr7Config& config,
                               std::span<const HashAlg> banks);
// make_prediction("pcr7", 7, pcr7_events(...)) with the note above.
RegisterPrediction predict_pcr7(const std::vector<UefiVariable>& vars, const Pcr7Config& config,
                                std::span<const HashAlg> banks);

} // namespace tdximg::measure
