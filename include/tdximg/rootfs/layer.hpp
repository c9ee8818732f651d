#pragma once
// Applying a recipe layer's operations to a FileTree. No I/O: input bytes come from an
// InputProvider (the pipeline hands over the store's verified blobs, the exact bytes hashed).
//
// Semantics (see also tree.hpp for path resolution):
// - extract: .deb data.tar.* or tar[.gz|.xz|.zst|.bz2]; strip_prefix, then include globs (empty
//   = all), then exclude globs, over archive paths without leading "./" or "/"; entries land
//   under `to`. Modes and numeric uid/gid come from the archive; mtimes are not kept. Device
//   nodes and FIFOs need allow_devices, setuid/setgid bits need allow_setuid. Duplicate entries:
//   the last one wins. Archive hardlinks are resolved inside the same archive (the target must
//   be an earlier regular-file entry); if the target was filtered out the link becomes a plain
//   file with the target's data. Parents missing from the archive are created 0755 root:root.
//   Confinement is the image tree, not `to`: an archive symlink `x -> /` followed by `x/f`
//   writes /f (inside the image, as dpkg in a chroot would); a symlink whose target climbs
//   above "/" is rejected when something is written through it.
// - file / dir / symlink / hardlink / chardev / blockdev / fifo: missing parents are created
//   0755 root:root; the new node replaces a non-directory (last wins); a directory replacing a
//   non-directory or vice versa is an error naming both layers.
// - remove / chmod / chown: each pattern must match something (else an error: typos would
//   silently do nothing). The literal leading components of a pattern are resolved through
//   symlinks, so "/lib/modules/**" works with a merged-/usr `lib -> usr/lib`. remove deletes
//   directories recursively; chmod/chown on a hardlinked file change every name of it.
// - modules: see modules.hpp.
// Every node an operation creates or changes gets `layer = layer_index`.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <tdximg/recipe/recipe.hpp>
#include <tdximg/rootfs/archive.hpp>
#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::rootfs {

// Returns the verified bytes of the input named by the argument; throws if there is none.
// The reference must stay valid until apply_layer() returns.
using InputProvider = std::function<const Bytes&(const std::string& input_name)>;

struct ApplyOptions {
  ArchiveLimits limits;
};

struct SkippedScripts {
  std::string input;                // input name of the .deb
  std::vector<std::string> scripts; // e.g. {"postinst", "prerm"}
};

struct LayerReport {
  std::vector<SkippedScripts> skipped_scripts; // one per .deb that carried maintainer scripts
  std::vector<std::string> modules;            // kernel modules placed (names, sorted)
};

// Applies every op of `layer` in order. Throws tdximg::Error (ErrorKind::input for bad data or
// a bad op, naming the layer, the op number and the path); the tree is then left partially
// modified, so callers must discard it (the pipeline works on a copy per layer).
LayerReport apply_layer(FileTree& tree, const recipe::Layer& layer, std::size_t layer_index,
                        const InputProvider& inputs, const ApplyOptions& options = {});

} // namespace tdximg::rootfs
