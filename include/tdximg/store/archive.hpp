#pragma once
// `tdximg store export/import`: every input blob of a lock file in one deterministic archive, so
// an old build can be reproduced after the mirror dropped its packages.
//
// Format: a POSIX ustar archive, members in this order, all uid/gid 0, mtime 0, mode 0444:
//   "lock.json"            the lock file text given by the caller (recipe/ writes and parses it)
//   "sha256/<64 hex>"      one member per distinct blob digest, sorted by digest
// ending with two zero blocks.

#include <filesystem>
#include <string>
#include <vector>

#include <tdximg/recipe/recipe.hpp>
#include <tdximg/store/store.hpp>

namespace tdximg::store {

// Writes the archive for every entry of `lock` to `out` (atomically). Throws ErrorKind::fetch
// naming the input if a blob is not in the store (or corrupt), ErrorKind::io for write errors.
void export_archive(Store& store, const recipe::LockFile& lock, std::string_view lock_json,
                    const std::filesystem::path& out);

struct ImportResult {
  std::string lock_json;            // the "lock.json" member ("" if absent)
  std::vector<std::string> imported; // digests put into the store, sorted
};

// Reads an archive written by export_archive (any ustar with such members), verifies that each
// "sha256/<hex>" member hashes to its name and puts it into the store. Throws ErrorKind::input
// for a malformed archive or unexpected member, ErrorKind::integrity for a digest mismatch
// (nothing from that member is stored), ErrorKind::io for read errors.
ImportResult import_archive(Store& store, const std::filesystem::path& archive);

} // namespace tdximg::store
