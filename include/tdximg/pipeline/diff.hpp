#pragma once
// `tdximg diff A B`: explain why two builds differ. A and B are two build output directories
// (compared through manifest.json first, then every differing output file) or two files of the
// same kind: UKI, initramfs (cpio, possibly compressed, possibly segmented), raw disk or VHD.
//
// The report is a list of findings, outermost first: the first finding is the first layer of
// difference (an input digest, a layer's segment, an output), the following ones descend into
// the differing outputs (initramfs -> segment -> member; UKI -> PE headers -> section ->
// .initrd -> member; disk -> GPT -> FAT -> file -> UKI ...). Each finding names the object
// ("disk.raw: ESP: EFI/BOOT/BOOTX64.EFI: section .initrd: segment 2 (app): etc/build-time"),
// the field, both values and, where it has one, the byte range in the object it belongs to.
//
// JSON shape (what `--json` prints):
//   {"identical": bool, "kind": "directory|uki|cpio|disk|vhd|file", "a": str, "b": str,
//    "findings": [{"object": str, "field": str, "a": str, "b": str,
//                  "range": {"in": str, "offset": n, "length": n}   // optional
//                 }, ...],
//    "truncated": bool}   // true when more than max_findings were found

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/util/bytes.hpp>

namespace tdximg::pipeline {

struct DiffOptions {
  std::size_t max_findings = 200; // stop collecting after this many (report says "truncated")
  // Names of the initramfs segments in order (e.g. the manifest's layer names), used to label
  // "segment 2 (app)"; empty = index only.
  std::vector<std::string> segment_names;
};

// Compares two files' bytes (both of the kind detect_file_kind() sees in `a`; a kind mismatch
// is itself a finding). `name` labels the objects. Throws ErrorKind::input when a file that
// claims a format is malformed, ErrorKind::unsupported for kinds diff cannot descend into only
// when the bytes differ and neither side is recognised (then a byte-level finding is given
// instead: this never throws for unknown kinds).
nlohmann::json diff_bytes(ByteSpan a, ByteSpan b, std::string_view name,
                          const DiffOptions& options = {});

// Compares two paths: two directories (build outputs: manifest.json, then every file present
// in either) or two files (diff_bytes). Throws ErrorKind::io when a path cannot be read,
// ErrorKind::usage when one is a directory and the other is not, and as diff_bytes().
nlohmann::json diff_paths(const std::filesystem::path& a, const std::filesystem::path& b,
                          const DiffOptions& options = {});

// Human-readable rendering of a diff report: one line per finding,
// "<object>: <field>: <a> -> <b> [bytes 0x..+n in <in>]", or "identical". Never throws.
std::string render_diff_text(const nlohmann::json& report);

} // namespace tdximg::pipeline
