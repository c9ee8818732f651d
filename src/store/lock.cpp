#include <tdximg/store/lock.hpp>

#include <algorithm>
#include <cctype>

#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace tdximg::store {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t") + 1);
  return s;
}

bool is_meta(const AptPackage& p) {
  const std::string d = lower(p.description);
  return d.find("meta-package") != std::string::npos || d.find("metapackage") != std::string::npos ||
         p.section == "metapackages" || (p.section.size() > 13 &&
                                         p.section.substr(p.section.size() - 13) == "/metapackages");
}

struct Dep {
  std::string name;
  std::string exact_version; // from "(= v)", else empty
};

// deb-control(5) Depends: "a (>= 1), b | c, d:any (= 2)". First alternative of each item.
std::vector<Dep> parse_depends(const std::string& depends) {
  std::vector<Dep> out;
  std::size_t pos = 0;
  while (pos <= depends.size()) {
    std::size_t comma = depends.find(',', pos);
    if (comma == std::string::npos) comma = depends.size();
    std::string item = depends.substr(pos, comma - pos);
    pos = comma + 1;
    item = trim(item.substr(0, item.find('|')));
    if (item.empty()) continue;
    Dep d;
    const std::size_t paren = item.find('(');
    d.name = trim(item.substr(0, paren));
    d.name = d.name.substr(0, d.name.find(':'));
    if (paren != std::string::npos) {
      std::string rel = item.substr(paren + 1, item.find(')', paren) - paren - 1);
      rel = trim(rel);
      if (rel.size() > 1 && rel[0] == '=' && rel[1] != '=') d.exact_version = trim(rel.substr(1));
    }
    out.push_back(d);
  }
  return out;
}

bool previous_matches(const recipe::Input& in, const recipe::LockEntry& prev) {
  if (prev.kind != in.kind || prev.sha256.size() != 64) return false;
  if (!in.sha256.empty() && in.sha256 != prev.sha256) return false;
  switch (in.kind) {
  case recipe::InputKind::path: return false; // local files are always re-hashed
  case recipe::InputKind::url: return prev.url == in.url;
  case recipe::InputKind::deb:
    if (prev.suite != in.deb.suite || (!prev.arch.empty() && prev.arch != in.deb.arch)) return false;
    // A pinned version must be the locked one (or the locked package is its concrete dependency).
    if (!in.deb.version.empty() && in.deb.package == prev.package && in.deb.version != prev.version)
      return false;
    return true;
  }
  return false;
}

} // namespace

LockResult lock_inputs_detailed(const recipe::Recipe& recipe, Store& store,
                                const recipe::LockFile* previous, LockOptions options) {
  LockResult result;
  for (const auto& [name, input] : recipe.inputs) {
    LockNote note;
    note.input = name;
    recipe::LockEntry entry;
    entry.name = name;
    entry.kind = input.kind;

    const recipe::LockEntry* prev = nullptr;
    if (previous != nullptr && options.update == Update::no) {
      const auto it = previous->entries.find(name);
      if (it != previous->entries.end() && previous_matches(input, it->second)) prev = &it->second;
    }

    Bytes data;
    switch (input.kind) {
    case recipe::InputKind::path: {
      note.requested = "path " + input.path.string();
      std::error_code ec;
      if (!fs::exists(input.path, ec))
        fail(ErrorKind::io, "input '{}': {} does not exist", name, input.path.string());
      data = fs::is_directory(input.path, ec) ? canonical_tree_archive(input.path)
                                              : read_file(input.path);
      entry.sha256 = sha256_hex(data);
      if (!input.sha256.empty() && input.sha256 != entry.sha256)
        fail(ErrorKind::integrity, "input '{}': sha256 mismatch: expected {}, got {} (path {})",
             name, input.sha256, entry.sha256, input.path.string());
      store.put(data);
      note.resolved = entry.sha256;
      break;
    }
    case recipe::InputKind::url: {
      note.requested = "url " + input.url;
      entry.url = input.url;
      if (prev != nullptr || !input.sha256.empty()) {
        recipe::Input pinned = prev != nullptr ? recipe::apply_lock_entry(input, *prev, "the previous lock file") : input;
        data = resolve_input(pinned, store, options.offline).data;
        note.from_previous = prev != nullptr;
      } else {
        if (options.offline == Offline::yes)
          fail(ErrorKind::fetch, "input '{}' (url {}) has no sha256 pin and --offline was given",
               name, input.url);
        data = http_get(input.url);
        store.put(data);
      }
      entry.sha256 = sha256_hex(data);
      note.resolved = entry.sha256;
      break;
    }
    case recipe::InputKind::deb: {
      note.requested = input.deb.package + (input.deb.version.empty() ? "" : "=" + input.deb.version);
      entry.suite = input.deb.suite;
      entry.arch = input.deb.arch;
      if (prev != nullptr) {
        data = resolve_input(recipe::apply_lock_entry(input, *prev, "the previous lock file"), store, options.offline).data;
        entry.package = prev->package;
        entry.version = prev->version;
        entry.filename = prev->filename;
        note.from_previous = true;
      } else {
        if (options.offline == Offline::yes)
          fail(ErrorKind::fetch, "input '{}' (deb {}) cannot be resolved: --offline was given",
               name, note.requested);
        if (input.deb.suite.empty())
          fail(ErrorKind::input, "input '{}': deb input without a suite", name);
        AptState apt(store, input.deb.suite, input.deb.arch);
        AptPackage pkg = apt.find(input.deb.package, input.deb.version);
        if (is_meta(pkg)) {
          // A meta-package (linux-image-amd64) is replaced by the package it pins exactly.
          const std::vector<Dep> deps = parse_depends(pkg.depends);
          const auto exact = std::find_if(deps.begin(), deps.end(),
                                          [](const Dep& d) { return !d.exact_version.empty(); });
          if (exact != deps.end()) pkg = apt.find(exact->name, exact->exact_version);
          else if (deps.size() == 1) pkg = apt.find(deps[0].name);
          else
            fail(ErrorKind::unsupported,
                 "input '{}': meta-package {}={} depends on several packages ({}); name the "
                 "concrete package in the recipe", name, pkg.package, pkg.version, pkg.depends);
        }
        const std::string source =
            fmt::format("deb {}={} ({}, {})", pkg.package, pkg.version, entry.suite, entry.arch);
        if (std::optional<Bytes> b = store.get(pkg.sha256)) data = std::move(*b);
        else data = apt.download(pkg.package, pkg.version);
        entry.package = pkg.package;
        entry.version = pkg.version;
        entry.filename = pkg.filename;
        if (!input.sha256.empty() && input.sha256 != pkg.sha256)
          fail(ErrorKind::integrity, "input '{}': sha256 mismatch: expected {}, got {} ({})", name,
               input.sha256, pkg.sha256, source);
        store.put(data);
      }
      entry.sha256 = sha256_hex(data);
      note.resolved = entry.package + "=" + entry.version;
      note.deb = deb_info(data);
      break;
    }
    }
    entry.size = data.size();
    result.lock.entries[name] = entry;
    result.notes.push_back(std::move(note));
  }
  return result;
}

recipe::LockFile lock_inputs(const recipe::Recipe& recipe, Store& store,
                             const recipe::LockFile* previous, LockOptions options) {
  return lock_inputs_detailed(recipe, store, previous, options).lock;
}

} // namespace tdximg::store
