#pragma once
// `tdximg inspect`, `measure` and `verify` as library calls returning JSON reports.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/pipeline/steps.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::pipeline {

enum class FileKind { uki, disk, vhd, cpio, event_log, firmware, unknown };
std::string_view file_kind_name(FileKind k);

// Recognizes a file by its bytes: PE (MZ) -> uki; "EFI PART" at LBA 1 -> disk; a "conectix"
// footer -> vhd; cpio magic or a compressed stream -> cpio; a TCG2 Spec ID event -> event_log;
// an OVMF reset-vector GUID table footer -> firmware.
FileKind detect_file_kind(ByteSpan data);

// What is inside `data` (sections, partitions, files, cpio members, log events), as JSON.
// Throws ErrorKind::input for malformed data, ErrorKind::unsupported for an unknown kind.
nlohmann::json inspect_bytes(ByteSpan data, std::string_view name);

// The UKI inside a file: the file itself if it is a PE, else EFI/BOOT/BOOTX64.EFI of the ESP of
// a raw disk or VHD. Throws ErrorKind::input / unsupported.
Bytes find_uki(ByteSpan data, std::string_view name);

// `tdximg measure FILE`: measurements.json for a UKI or a disk image built by anything.
nlohmann::json measure_file(const std::filesystem::path& file, const MeasureRequest& request);

struct VerifyRequest {
  nlohmann::json measurements;      // measurements.json
  Bytes event_log;                  // TCG2 (vTPM) or CCEL
  std::string config;               // e.g. "qemu-sb-off"; empty = the best-matching one
  std::string pcr_values_text;      // optional "<idx>:<bank>=<hex>" lines / sysfs dump
  bool ccel = false;                // the log is a TDX CCEL: compare the "tdx" predictions
};

// Replays the log, compares each predicted event with the log's (digests only), and checks
// the replay against quoted values when given. The report's "ok" says whether all agree.
nlohmann::json verify_log(const VerifyRequest& request, std::string& text_report);

} // namespace tdximg::pipeline
