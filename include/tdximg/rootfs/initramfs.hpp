#pragma once
// Splitting a final FileTree into per-layer cpio segments (DESIGN.md, "The initramfs is a
// concatenation of per-layer segments"). Segment i holds the entries whose final version comes
// from layer i, sorted by path bytes (so parents precede children), with these rules, chosen so
// that the kernel's unpacker (init/initramfs.c) rebuilds exactly the tree and a segment's bytes
// depend on later layers as little as possible (segments are cached by their content):
// - no missing parents: a directory needed by an entry of segment i but whose own layer is
//   later is emitted in segment i as a placeholder 0755 root:root (the kernel creates no
//   parents), and again in its own layer's segment with its final metadata (the kernel's
//   mkdir fails, then chown/chmod apply it);
// - a hardlink group stays in one segment, that of the latest layer among its members (the
//   kernel forgets links at each TRAILER!!!);
// - inode numbers are per segment, 1, 2, ... in entry order; the members of a hardlink group
//   share the number of the first member (the kernel only uses inode numbers to find links,
//   and only within one archive) — so an earlier layer's size never shifts a later segment;
// - nlink: directories 2 (as the kernel's usr/gen_init_cpio writes them), hardlinked files the
//   group size, everything else 1;
// - mtime is the given value for every entry; uid/gid/mode come from the tree;
// - the root "/" is never emitted (the kernel's rootfs already exists).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/rootfs/tree.hpp>

namespace tdximg::rootfs {

struct InitramfsSegments {
  std::vector<std::vector<CpioEntry>> segments;         // non-empty segments, in layer order
  std::vector<std::size_t> segment_layer;               // layer index of each segment
  std::vector<std::optional<std::size_t>> layer_segment; // size layer_count: segment of a layer,
                                                         // nullopt when that layer's is empty
};

// Builds the segments. Throws ErrorKind::input if a node's layer is >= layer_count or a node's
// parent is not a directory of the tree (a tree not built through FileTree::put).
InitramfsSegments segment_tree(const FileTree& tree, std::size_t layer_count, std::uint32_t mtime);

// segment_tree(...).segments: the shape the cpio writer and the compressor take.
std::vector<std::vector<CpioEntry>> segment_entries(const FileTree& tree, std::size_t layer_count,
                                                    std::uint32_t mtime);

// The entries of one segment as a single archive would hold the whole tree (layer ignored):
// for a one-segment initramfs or a rootfs listing.
std::vector<CpioEntry> tree_entries(const FileTree& tree, std::uint32_t mtime);

} // namespace tdximg::rootfs
