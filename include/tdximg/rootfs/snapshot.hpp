#pragma once
// A whole FileTree as bytes, for the layer cache: the tree after layer N is stored under a key
// that covers everything it depends on (pipeline/steps.hpp layer_digest()), so an unchanged
// layer is loaded instead of re-extracted.
//
// Format (little-endian; version k_snapshot_format):
//   "TDXTREE\0" u32 version
//   u64 content count, then per content: sha256[32] u64 size bytes   (deduplicated by digest)
//   u64 node count, then per node in path order:
//     u32 path length, path, u8 type, u32 mode uid gid rdev_major rdev_minor,
//     u64 link_group, u64 layer, u32 target length, target,
//     regular files only: u64 content index
// Every field is read bounds-checked, every content re-hashed against its recorded digest and
// the tree re-validated (FileTree::from_nodes), so a damaged snapshot is an error, never a
// wrong tree.

#include <string_view>

#include <tdximg/rootfs/tree.hpp>
#include <tdximg/util/bytes.hpp>

namespace tdximg::rootfs {

inline constexpr std::uint32_t k_snapshot_format = 1;

// Never throws except std::bad_alloc.
Bytes serialize_tree(const FileTree& tree);

// Throws ErrorKind::input naming `name`, the field and the offset for malformed, truncated or
// inconsistent data (and for trailing bytes).
FileTree deserialize_tree(ByteSpan data, std::string_view name);

} // namespace tdximg::rootfs
