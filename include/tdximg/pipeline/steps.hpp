#pragma once
// The steps of a build, as library calls the pipeline composes (and tests call one by one).

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <tdximg/measure/pcr.hpp>
#include <tdximg/recipe/recipe.hpp>
#include <tdximg/rootfs/layer.hpp>
#include <tdximg/rootfs/tree.hpp>
#include <tdximg/store/resolve.hpp>
#include <tdximg/store/store.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::pipeline {

// Loads RECIPE (file or directory), applies its lock file if there is one, and refuses inputs
// that are still unpinned. Throws ErrorKind::input.
recipe::Recipe load_pinned_recipe(const std::filesystem::path& recipe_path);

// Opens the store at `dir`, or the default store. Throws ErrorKind::io/usage.
store::Store open_store(const std::optional<std::filesystem::path>& dir);

// Resolves and verifies every input of the recipe (before anything is written anywhere).
std::map<std::string, store::ResolvedInput>
resolve_inputs(const recipe::Recipe& recipe, store::Store& store, bool offline,
               const std::function<void(const std::string&)>& progress);

// The bytes of `ref`: the whole input, or the one archive member matching `ref.path` (a glob
// where '*' does not cross '/'). Throws ErrorKind::input when zero or several members match.
// sha256 of the running tdximg executable (else "version X"): part of every cache key of a
// derived result, so one tdximg never reuses what another computed.
const std::string& tool_identity();

// With `cache`, a member is kept in the store (namespace "members", keyed by the input's digest,
// the pattern and the running tdximg) so a warm build need not decompress the archive again.
Bytes extract_ref(const recipe::FileRef& ref, const std::map<std::string, store::ResolvedInput>& inputs,
                  std::string* matched_path = nullptr, store::Store* cache = nullptr);

struct LayerResult {
  std::string name;
  // sha256 over the parent layer's digest, this layer's canonical operations, the names and
  // digests of the inputs they read, and the output/snapshot format versions: what the tree
  // after this layer depends on. Deterministic (manifest.json records it).
  std::string digest;
  bool reused = false; // the tree was loaded from the store's layer cache, not rebuilt
  rootfs::LayerReport report;
};

struct LayeredTree {
  rootfs::FileTree tree;
  std::vector<LayerResult> layers;
};

// Applies the recipe's layers to an empty tree, caching the tree after each layer in the store
// (namespace "layers", keyed by the layer digest and the identity of the running tdximg
// binary, so a changed tdximg never reuses another one's trees). The deepest layer found in the
// cache is loaded and only the layers above it are applied; an unreadable cache entry is
// rebuilt. The result never depends on what was cached. Throws as rootfs::apply_layer().
LayeredTree apply_layers(const recipe::Recipe& recipe,
                         const std::map<std::string, store::ResolvedInput>& inputs,
                         store::Store& store,
                         const std::function<void(const std::string&)>& progress);

struct SegmentReport {
  std::size_t layer = 0;
  std::string layer_name;
  std::uint64_t entries = 0;
  std::uint64_t uncompressed_bytes = 0;
  std::uint64_t compressed_bytes = 0;
  std::string uncompressed_sha256;
  bool reused = false; // taken from the store's segment cache, not recompressed
};

struct Initramfs {
  Bytes bytes;
  std::vector<SegmentReport> segments;
};

// Writes the tree as one compressed cpio segment per layer (DESIGN.md), concatenated. Each
// segment is cached in the store by (uncompressed digest, compression, level, library
// versions, output format); segments are compressed in parallel on `jobs` threads, which never
// changes the bytes.
Initramfs write_initramfs(const rootfs::FileTree& tree, const recipe::Recipe& recipe,
                          std::uint32_t mtime, store::Store& store, unsigned jobs);

// os-release text from the recipe's os_release map (KEY="value" lines, keys sorted).
std::string render_os_release(const std::map<std::string, std::string>& fields);

// What measure/ needs from a UKI's bytes (sections as loaded, Authenticode digests, versions).
// Throws ErrorKind::input for a malformed UKI, ErrorKind::unsupported without .sdmagic.
measure::UkiMeasureInput uki_measure_input(ByteSpan uki, std::string_view name = "uki.efi");

// A file's bytes and the name that errors and measurements.json use for it.
struct NamedBytes {
  std::string name;
  Bytes data;
};

struct MeasureRequest {
  std::vector<std::string> platforms{"qemu", "azure"};
  std::vector<bool> secure_boot{false, true};
  std::string measurement_id = "image"; // prefix of attested-TLS measurement ids
  std::optional<std::filesystem::path> firmware; // TDVF firmware: also predict MRTD + RTMRs
  std::string vmm = "qemu";                      // MRTD page order (see recipes/README.md)
  // OVMF variable stores: each adds PCR 7 to the qemu configuration of the Secure Boot state
  // it implies (PK enrolled and not disabled: on; else off). At most one per state.
  std::vector<NamedBytes> efi_vars;
  // The db certificate (PEM or DER) that will sign an unsigned UKI (Secure Boot on).
  std::optional<NamedBytes> db_cert;
};

// measurements.json for a UKI: every platform x Secure Boot state, with event lists, and the
// attested-TLS entries ("azure-tdx") of the azure configurations under "attested_tls".
nlohmann::json measure_uki(ByteSpan uki, const MeasureRequest& request,
                           std::string_view name = "uki.efi");

} // namespace tdximg::pipeline
