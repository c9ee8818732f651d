#include <tdximg/store/archive.hpp>

#include <set>

#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "tar.hpp"

namespace tdximg::store {

void export_archive(Store& store, const recipe::LockFile& lock, std::string_view lock_json,
                    const fs::path& out) {
  // Distinct digests, sorted: the archive does not depend on input names or map order.
  std::map<std::string, std::string> digests; // digest -> first input name (for messages)
  for (const auto& [name, e] : lock.entries) digests.emplace(e.sha256, name);
  tar::Writer w;
  w.add({"lock.json", tar::Type::file, 0444, {}, as_bytes(lock_json)});
  for (const auto& [digest, name] : digests) {
    std::optional<Bytes> blob = store.get(digest);
    if (!blob)
      fail(ErrorKind::fetch, "store export: input '{}' (sha256 {}) is not in the store; run "
                             "`tdximg build` or `tdximg lock` first", name, digest);
    w.add({"sha256/" + digest, tar::Type::file, 0444, {}, *blob});
  }
  const Bytes archive = w.finish();
  write_file_atomic(out, archive, 0644);
}

ImportResult import_archive(Store& store, const fs::path& archive) {
  const Bytes bytes = read_file(archive);
  const std::string what = archive.filename().string();
  ImportResult result;
  std::set<std::string> seen;
  for (const tar::Entry& e : tar::read(bytes, what)) {
    if (e.type == tar::Type::directory && (e.name == "sha256" || e.name == "sha256/")) continue;
    if (e.type == tar::Type::file && e.name == "lock.json") {
      result.lock_json = std::string(as_chars(e.data));
      continue;
    }
    if (e.type != tar::Type::file || e.name.rfind("sha256/", 0) != 0)
      fail(ErrorKind::input, "{}: unexpected member '{}'", what, e.name);
    const std::string digest = e.name.substr(7);
    if (digest.size() != 64 || digest.find_first_not_of("0123456789abcdef") != std::string::npos)
      fail(ErrorKind::input, "{}: member '{}' is not named by a sha256 digest", what, e.name);
    const std::string got = sha256_hex(e.data);
    if (got != digest)
      fail(ErrorKind::integrity, "{}: member '{}': sha256 mismatch: expected {}, got {}", what,
           e.name, digest, got);
    store.put(e.data);
    seen.insert(digest);
  }
  result.imported.assign(seen.begin(), seen.end());
  return result;
}

} // namespace tdximg::store
