#pragma once
// Recipe loading: JSON with comments -> strict schema validation -> `extends` resolution ->
// the plain structs of recipe.hpp. Field names and rules: recipes/README.md.
// Every error is tdximg::Error; messages name the file, the JSON path and expected vs actual:
//   "hello/recipe.json: /layers/1/ops/0/mdoe: unknown key (expected one of: file, from, ...)".

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <tdximg/recipe/recipe.hpp>

namespace tdximg::recipe {

// RECIPE may be a file or a directory holding recipe.json; returns the file to read.
// Throws ErrorKind::input when a directory has no recipe.json.
fs::path recipe_file_for(const fs::path& recipe);

// Reads, validates and resolves a recipe (and its `extends` chain, base first). Relative input
// paths become absolute against the directory of the file that declared them.
// Throws ErrorKind::input (syntax, schema, value, extends cycle, undeclared input) or
// ErrorKind::io (a file cannot be read).
Recipe load_recipe(const fs::path& recipe);

// As load_recipe, but the top recipe's text is given (e.g. from stdin); `file` names it in
// errors and anchors relative paths and `extends`. Throws as load_recipe.
Recipe parse_recipe_text(std::string_view text, const fs::path& file);

// Parses a SOURCE_DATE_EPOCH value: a plain non-negative decimal integer (no sign, no spaces,
// no leading zeros except "0") that fits in int64. Throws ErrorKind::input naming `what`.
std::int64_t parse_source_date_epoch(std::string_view value, std::string_view what);

// The SOURCE_DATE_EPOCH env var if set (even to "0"), else the recipe's source_date_epoch.
// Throws ErrorKind::input if the env var is malformed (incl. empty) or neither is set.
std::int64_t effective_source_date_epoch(const Recipe& recipe);

// The resolved recipe as canonical JSON (sorted keys, no whitespace, defaults made explicit,
// host paths relative to the top recipe's directory, `extends`/file/chain omitted). It is a
// valid recipe itself when placed next to the top recipe. Never throws for a loaded recipe.
std::string canonical_json(const Recipe& recipe);

// sha256 (lowercase hex) of canonical_json(recipe): independent of where the checkout lives.
std::string recipe_digest(const Recipe& recipe);

// One layer as canonical JSON ({"name":..., "ops":[...]}, the same text as in canonical_json)
// and the names of the inputs its operations read (sorted, unique): together with those
// inputs' digests they determine the layer's effect on a tree. Never throw.
std::string layer_canonical_json(const Layer& layer);
std::vector<std::string> layer_input_names(const Layer& layer);

// Names used in JSON ("zstd", "deb", ...) and the octal mode string ("0755").
std::string_view compression_name(Compression c) noexcept;
std::string_view input_kind_name(InputKind k) noexcept;
std::string format_mode(std::uint32_t mode);

} // namespace tdximg::recipe
