#pragma once
// `tdximg lock`: resolve every input of a recipe to exact pins (sha256, size; deb: concrete
// package, version, pool filename), fetching into the store as needed.

#include <optional>
#include <string>
#include <vector>

#include <tdximg/recipe/recipe.hpp>
#include <tdximg/store/deb.hpp>
#include <tdximg/store/resolve.hpp>
#include <tdximg/store/store.hpp>

namespace tdximg::store {

enum class Update { no, yes };

struct LockOptions {
  Offline offline = Offline::no;
  // no: an entry of `previous` that still matches the recipe is kept as it is (its blob is
  // fetched into the store if missing); yes: every deb input is re-resolved to the newest.
  Update update = Update::no;
};

// What lock_inputs learnt beyond the lock file, for the CLI report and the SBOM.
struct LockNote {
  std::string input;
  std::string requested;               // "linux-image-amd64" (as in the recipe)
  std::string resolved;                // "linux-image-6.1.0-41-amd64=6.1.158-1"
  bool from_previous = false;          // kept from the previous lock file
  std::optional<DebInfo> deb;          // deb inputs: skipped maintainer scripts, metadata
};

struct LockResult {
  recipe::LockFile lock;
  std::vector<LockNote> notes; // by input name
};

// Resolves every input of `recipe`. Deb inputs: the recipe's version, else the newest in the
// suite (incl. -updates/-security); a meta-package (Description says "meta-package" or Section
// metapackages, e.g. linux-image-amd64) is replaced by the package its Depends pins with "(=".
// A recipe pin (sha256) is checked. `lock.recipe_sha256` is left empty (recipe/ computes it).
// Throws like resolve_input.
LockResult lock_inputs_detailed(const recipe::Recipe& recipe, Store& store,
                                const recipe::LockFile* previous, LockOptions options);

// lock_inputs_detailed(...).lock
recipe::LockFile lock_inputs(const recipe::Recipe& recipe, Store& store,
                             const recipe::LockFile* previous, LockOptions options);

} // namespace tdximg::store
