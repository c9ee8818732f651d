#pragma once
// PCR 7 (Secure Boot policy) predicted from an OVMF variable store file, as EDK2 measures it.
// Spec: TCG PC Client PFP 1.05 §3.3.4.8 and §10.4.4 (EV_EFI_VARIABLE_DRIVER_CONFIG over
// UEFI_VARIABLE_DATA; EV_EFI_VARIABLE_AUTHORITY); edk2 Tcg2Dxe MeasureAllSecureVariables()
// (SecureBoot, PK, KEK, db, dbx; a missing variable is measured with empty data; dbt only if
// present), OnReadyToBoot() separator, DxeImageVerificationLib (authority = the db
// EFI_SIGNATURE_DATA that verified the image). Event order confirmed by real boots
// (pcr-measurements.md "Confirmed"); no value has been checked against a boot by tdximg yet.

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

// The EFI_SIGNATURE_DATA (SignatureOwner GUID + certificate) of the db entry whose X.509
// certificate equals `cert_der`, or nullopt. Throws ErrorKind::input if db's
// EFI_SIGNATURE_LIST structure is malformed.
std::optional<Bytes> find_db_signature(const std::vector<UefiVariable>& vars, ByteSpan cert_der);

struct Pcr7Config {
  // Value of the volatile SecureBoot variable: 1 (enforcing), 0 (secure-boot capable firmware,
  // not enforcing), nullopt (firmware without secure boot support: variable absent, measured
  // with empty data).
  std::optional<std::uint8_t> secure_boot_value;
  // EFI_SIGNATURE_DATA of the db entry that verified the UKI (Secure Boot on), see
  // find_db_signature(). nullopt: no authority event.
  std::optional<Bytes> authority;
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
