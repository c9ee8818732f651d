#pragma once
// Unified kernel images (systemd-stub + payload sections), packed the way systemd's ukify
// (pefile-based, v253+) packs them, and read back for `inspect`/`measure`.
// Packing: sections are appended after the stub's last section, in one of two orders:
//   linux_last (default):  .osrel .cmdline .dtb .uname .splash .pcrpkey .initrd [.sbat] .linux
//   ukify_257:             .osrel .cmdline .dtb .uname .splash .pcrpkey .linux .initrd [.sbat]
//                          (Debian ukify 257.13's order: byte-identical to its output)
// The stub's own .sbat is replaced in place by the merged SBAT (stub lines + kernel lines
// + recipe lines, one "sbat,1,..." header first, "\n\0" at the end; ukify merge_sbat()) when
// it fits, else appended ([.sbat]).
// VirtualAddress at SectionAlignment after the previous section, PointerToRawData at
// FileAlignment, VirtualSize = exact payload length, SizeOfRawData = length rounded up to
// FileAlignment. CheckSum = 0 (as ukify; it is excluded from Authenticode), TimeDateStamp and
// every stub section are kept byte-identical (except .sbat content). Deterministic.

#include <cstdint>
#include <optional>
#include <string>
#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>
#include <vector>

namespace tdximg::uki {

// Payloads of a UKI. Absent (nullopt) sections are not added; an empty payload is an error
// (the stub treats a size-0 section as absent, so it would be silently dropped at boot).
enum class SectionOrder { linux_last, ukify_257 };

struct UkiParts {
  SectionOrder order = SectionOrder::linux_last;
  Bytes linux;                        // the kernel (EFI-stub PE, usually a signed vmlinuz)
  std::optional<Bytes> initrd;        // .initrd
  std::optional<std::string> cmdline; // .cmdline, stored byte for byte (no NUL added)
  std::optional<std::string> osrel;   // .osrel (os-release text)
  std::optional<std::string> uname;   // .uname (kernel release, e.g. "6.1.0-40-amd64")
  // Extra SBAT text ("sbat,1,..." header line first, as ukify --sbat expects; the header line is
  // dropped in the merge). nullopt = ukify's default "uki,1,UKI,uki,1,<uapi url>" line.
  std::optional<std::string> sbat;
  std::optional<Bytes> splash;  // .splash (BMP)
  std::optional<Bytes> dtb;     // .dtb
  std::optional<Bytes> pcrpkey; // .pcrpkey (PEM public key)
};

// Builds a UKI from a systemd-stub PE and the parts. Throws ErrorKind::input if the stub or the
// kernel is malformed, ErrorKind::unsupported if the stub is signed, has no room for the new
// section headers before its first section's raw data (systemd#28593), has unaligned section
// raw data, or if the merged .sbat is larger than the stub's .sbat SizeOfRawData; and
// ErrorKind::input for an empty payload. Never produces partial output.
Bytes pack_uki(ByteSpan stub, const UkiParts& parts);

// The SBAT text ukify would put in .sbat: header line, then the non-header lines of the stub's
// .sbat, of the kernel's .sbat (if any), and of `extra` (or ukify's default uki line), joined
// with "\n", then "\n\0". `stub_sbat`/`kernel_sbat`: section contents (trailing NULs ignored),
// empty if absent. Throws nothing.
std::string merge_sbat(std::string_view stub_sbat, std::string_view kernel_sbat,
                       const std::optional<std::string>& extra);

struct SectionInfo {
  std::string name;
  std::uint32_t VirtualAddress = 0;
  std::uint32_t VirtualSize = 0;
  std::uint32_t PointerToRawData = 0;
  std::uint32_t SizeOfRawData = 0;
  std::uint32_t Characteristics = 0;
  Sha256 memory_sha256{}; // sha256 of the VirtualSize bytes as loaded (zero-filled past SRD)
};

struct KernelInfo {
  std::uint16_t MajorImageVersion = 0; // Linux EFI stub version (>= 1 means LoadImage path)
  std::uint16_t MinorImageVersion = 0;
  std::uint64_t buffer_size = 0; // .linux VirtualSize: the buffer LoadImage hashes
  Bytes authenticode_sha256;     // Authenticode of that buffer (EDK2 semantics)
  Bytes authenticode_sha384;
};

struct UkiInfo {
  // From ".sdmagic" ("#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####"): the full version
  // string after "systemd-stub " and its leading integer. Empty / nullopt if absent or unparsable.
  std::string stub_version;
  std::optional<unsigned> stub_major;
  std::vector<SectionInfo> sections;  // file (section table) order
  std::optional<std::string> cmdline; // section text, VirtualSize bytes, verbatim
  std::optional<std::string> osrel;
  std::optional<std::string> uname;
  std::optional<std::string> sbat;
  std::optional<KernelInfo> kernel; // nullopt if there is no .linux section
  Bytes authenticode_sha256;        // of the whole UKI file
  Bytes authenticode_sha384;
};

// Reads a UKI (or any PE: missing sections are simply absent). `name` prefixes errors.
// Throws ErrorKind::input if the UKI, or its .linux as a PE, is malformed, and
// ErrorKind::unsupported if a text section's VirtualSize exceeds its raw data by > 1 MiB or
// .linux's by > 256 MiB (zero fill we refuse to materialize).
UkiInfo read_uki(ByteSpan uki, std::string_view name = "uki.efi");

// The memory image (VirtualSize bytes, zero-filled past SizeOfRawData) of the first section
// named exactly `section`, or nullopt. Throws ErrorKind::input if the PE is malformed.
std::optional<Bytes> uki_section(ByteSpan uki, std::string_view section,
                                 std::string_view name = "uki.efi");

} // namespace tdximg::uki
