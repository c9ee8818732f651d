#pragma once
// The lock file: what `tdximg lock` resolved for each input (exact deb version and package,
// sha256, size). It lives next to the top recipe as "<stem>.lock.json" (recipes/hello/recipe.json
// -> recipes/hello/recipe.lock.json). Format: recipes/README.md, "Lock files".

#include <filesystem>
#include <string>
#include <string_view>
#include <tdximg/recipe/recipe.hpp>
#include <vector>

namespace tdximg::recipe {

// Parses and strictly validates lock-file text; `display` names it in errors.
// Throws ErrorKind::input (syntax, unknown key, wrong type, bad sha256, wrong schema).
LockFile parse_lock(std::string_view text, std::string_view display);

// Reads a lock file. Throws ErrorKind::io if unreadable, ErrorKind::input if malformed.
LockFile read_lock(const fs::path& path);

// Deterministic JSON: keys sorted, 2-space indent, trailing newline, empty fields omitted.
std::string write_lock_json(const LockFile& lock);

// "<dir of top recipe>/<stem of top recipe>.lock.json". Never throws.
fs::path lock_path_for(const Recipe& recipe);

// Fills each input's missing sha256/size (and, for deb inputs, version and the concrete
// package a meta-package resolved to) from the lock entry of the same name. Entries for
// inputs the recipe does not declare are ignored. Throws ErrorKind::integrity when a pinned
// sha256 or size disagrees with the lock (naming both), ErrorKind::input when the entry's
// kind, suite, arch, version or url disagree with the recipe (stale lock: re-run `lock`).
void apply_lock(Recipe& recipe, const LockFile& lock);

// One input with the pins of its lock entry, by the rules of apply_lock(); `lock_name` names
// the lock file in messages. The store's `lock` uses it to reuse a previous lock's entries.
Input apply_lock_entry(const Input& input, const LockEntry& entry, std::string_view lock_name);

// Names of inputs without a sha256 pin (sorted). Never throws.
std::vector<std::string> unpinned_inputs(const Recipe& recipe);

} // namespace tdximg::recipe
