#pragma once
// Supply-chain documents written next to the images by `tdximg build`:
//   sbom.spdx.json   SPDX 2.3 JSON: one package per input (Debian packages with name, version,
//                    supplier, pool path, sha256 and the license their machine-readable
//                    debian/copyright declares), one file per output, DESCRIBES/CONTAINS.
//   provenance.json  in-toto Statement v1 with a SLSA provenance v1 predicate: subjects = every
//                    output with sha256, resolvedDependencies = every pinned input.
// Both are pure functions of their arguments: no wall clock, no host name, no absolute path,
// keys and arrays sorted, so two builds of the same recipe give byte-identical documents.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/recipe/recipe.hpp>
#include <tdximg/store/resolve.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::pipeline {

// What the supply-chain documents say about one pinned input.
struct InputRecord {
  std::string name; // key in the recipe's "inputs"
  recipe::InputKind kind = recipe::InputKind::path;
  std::string sha256; // lowercase hex, verified
  std::uint64_t size = 0;
  // deb: the concrete package; pool_path from the lock file ("pool/main/z/zstd/..."), may be empty.
  std::string package;
  std::string version;
  std::string suite;
  std::string arch;
  std::string pool_path;
  std::string location; // path: relative to the top recipe's directory (generic form); url: the URL
  // SPDX license expression from the package's DEP-5 copyright, or "NOASSERTION".
  std::string license = "NOASSERTION";
  std::string license_source; // "usr/share/doc/<pkg>/copyright: Files: *" when found, else ""
};

struct SupplyChainInfo {
  std::string recipe_name;
  std::string recipe_sha256;
  std::int64_t source_date_epoch = 0;
  std::string tool_version;                   // e.g. "0.1.0"
  std::vector<InputRecord> inputs;            // any order; the documents sort by name
  std::map<std::string, std::string> outputs; // output file name -> sha256 hex
};

// The SPDX license expression declared by a machine-readable (DEP-5) debian/copyright: the
// first line of "License:" in the paragraph whose "Files:" field lists "*", with Debian short
// names mapped to SPDX ids (GPL-2+ -> GPL-2.0-or-later) and others to "LicenseRef-<name>".
// Returns "NOASSERTION" when the text is not DEP-5 or has no such paragraph. Never throws.
std::string dep5_license(std::string_view copyright);

// The license of a .deb: dep5_license() of usr/share/doc/<package>/copyright in its data
// tarball (a regular file; a symlink or a missing file gives "NOASSERTION"). Throws
// ErrorKind::input naming `name` if the package itself is malformed.
std::string deb_license(ByteSpan deb, std::string_view package, std::string_view name);

// InputRecords for every resolved input of the recipe (pool paths from its lock file when
// there is one; licenses of deb inputs via deb_license, cached in `cache` under the keyed
// namespace "deb-license" by the .deb's sha256 when a store is given, since reading a kernel
// package's data tarball takes seconds). Throws ErrorKind::input for a malformed .deb or lock
// file, ErrorKind::io for store errors.
std::vector<InputRecord> describe_inputs(const recipe::Recipe& recipe,
                                         const std::map<std::string, store::ResolvedInput>& inputs,
                                         store::Store* cache = nullptr);

// sbom.spdx.json as JSON (SPDX 2.3). documentNamespace =
// "https://tdximg.invalid/spdx/<recipe>-<sha256 of recipe digest and output digests>",
// created = SOURCE_DATE_EPOCH as "YYYY-MM-DDThh:mm:ssZ". Throws ErrorKind::input if
// source_date_epoch is negative or past year 9999.
nlohmann::json make_sbom(const SupplyChainInfo& info);

// provenance.json as JSON (in-toto Statement v1, predicateType https://slsa.dev/provenance/v1).
// Throws as make_sbom().
nlohmann::json make_provenance(const SupplyChainInfo& info);

// The text written to disk for either document: 2-space indent, sorted keys, trailing newline.
std::string supply_chain_text(const nlohmann::json& document);

// "YYYY-MM-DDThh:mm:ssZ" for a Unix time. Throws ErrorKind::input outside years 1970..9999.
std::string iso8601_utc(std::int64_t unix_seconds);

} // namespace tdximg::pipeline
