#pragma once
// Shared helpers for the pe/ and uki/ unit tests: test data paths and host files.
#include <filesystem>
#include <optional>
#include <string>
#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace pe_test {

inline tdximg::Bytes data_file(const std::string& rel) {
  return tdximg::read_file(std::filesystem::path(TDXIMG_SOURCE_DIR) / "tests/data" / rel);
}

// A host file, only if present and with exactly the sha256 the golden values were taken from.
inline std::optional<tdximg::Bytes> host_file(const std::string& path, const std::string& sha256) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return std::nullopt;
  tdximg::Bytes b = tdximg::read_file(path);
  if (tdximg::sha256_hex(b) != sha256) return std::nullopt;
  return b;
}

inline std::string hex(const tdximg::Bytes& b) {
  return tdximg::to_hex(b);
}

// Debian 12 systemd-boot-efi 252.39-1~deb12u2 files (golden values: PROVENANCE.md).
inline constexpr const char* k_stub_path = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
inline constexpr const char* k_stub_sha256 =
    "c62ae56ffaf49d1a61de4434f4f531dd1d4ed3b5aee46c934c56e3f809b22cc4";
inline constexpr const char* k_sdboot_path = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
inline constexpr const char* k_sdboot_sha256 =
    "10288fece5e90ce3ba3e7160f49695b022d648f7ef41774678db8c77774db167";

} // namespace pe_test
