#pragma once
// The in-memory image tree: normalized absolute path -> Node, sorted by path bytes.
//
// Path resolution is chroot-style: every component is looked up in THIS tree (never on the
// host), symlinks are followed inside the tree (absolute targets restart at "/", relative ones
// at the link's directory), at most k_max_symlink_hops hops. A ".." that would climb above "/"
// while following a symlink means the path leaves the tree: that is rejected with an error
// naming the operation, the path and the symlink chain (CVE-2025-45582 shape: layer A plants
// `x -> ../../..`, layer B writes `x/evil`). Absolute symlink targets are data: stored verbatim,
// interpreted relative to the tree root. Writing through a symlinked directory lands at the
// resolved location, like a real filesystem; the LAST component of a path being created is
// never followed (an entry replaces a symlink instead of writing through it).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <tdximg/util/bytes.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::rootfs {

inline constexpr int k_max_symlink_hops = 40;
// The kernel's initramfs unpacker rejects names longer than PATH_MAX (4096 incl. NUL).
inline constexpr std::size_t k_max_path_bytes = 4095;
inline constexpr std::size_t k_max_name_bytes = 255;

enum class NodeType { directory, regular, symlink, chardev, blockdev, fifo };

// "directory", "regular file", ... for messages.
std::string_view node_type_name(NodeType type) noexcept;

// Immutable file content, shared between nodes (hardlinks, layer caches) and hashed once.
struct Content {
  std::shared_ptr<const Bytes> data; // never null for a regular file
  Sha256 digest{};                   // sha256 of *data

  // Wraps (and hashes) `bytes`. Does not throw except std::bad_alloc.
  static Content make(Bytes bytes);
  std::uint64_t size() const noexcept { return data ? data->size() : 0; }
};

struct Node {
  NodeType type = NodeType::directory;
  std::uint32_t mode = 0755;   // permission bits only (07777, incl. setuid/setgid/sticky)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  Content content;             // regular files only
  std::string target;          // symlinks only: the target, verbatim
  std::uint32_t rdev_major = 0; // char/block devices only
  std::uint32_t rdev_minor = 0;
  // Hardlinks: every name of one file carries the same non-zero group id (and the same content
  // and metadata); 0 = not hardlinked. Ids are renumbered 1..n in path order by
  // FileTree::canonicalize_link_groups(), so they never depend on operation order.
  std::uint64_t link_group = 0;
  // Index of the layer that last set this node's content or metadata (initramfs segments).
  std::size_t layer = 0;
};

// Where a path ends up after chroot-style resolution.
struct Resolved {
  std::string path;            // normalized absolute path inside the tree
  bool exists = false;         // a node exists at `path`
  std::vector<std::string> chain; // "link -> target" for each symlink followed (for messages)
};

enum class FollowLast { yes, no };

class FileTree {
public:
  // A tree holding only "/" (directory 0755 root:root, layer 0).
  FileTree();

  // A tree made of exactly `nodes` (the layer cache restores snapshots with it). Checks the
  // invariants every tree built by put() has, and throws ErrorKind::input naming `what` and the
  // path if one does not hold: "/" is a directory; every path is normalized and its parent is
  // a directory in `nodes`; regular files have content, other types none; hardlink group
  // members are regular files with one content and metadata. Later new_link_group() ids do
  // not collide with the groups in `nodes`.
  static FileTree from_nodes(std::map<std::string, Node> nodes, std::string_view what);

  // Exact lookup of a normalized absolute path; no symlink resolution. nullptr when absent.
  const Node* find(std::string_view path) const;
  Node* find_mut(std::string_view path);

  // Resolves `path` (absolute, may contain "." and ".."; ".." at "/" stays at "/") chroot-
  // style. Missing trailing components are allowed (exists = false) but a missing or
  // non-directory intermediate component is an error. Throws ErrorKind::input naming `op`,
  // the path and the symlink chain on: a hop count above k_max_symlink_hops, a symlink target
  // that climbs above "/", a non-directory used as a directory, an over-long path.
  Resolved resolve(std::string_view path, FollowLast follow_last, std::string_view op) const;

  // Places `node` at `path`: parents are resolved through symlinks (missing ones are created
  // as 0755 root:root directories in `node.layer`), the last component is not followed.
  // Existing directory + new directory: metadata updated, children kept. A directory replacing
  // a non-directory or a non-directory replacing a directory throws ErrorKind::input naming
  // the path and both layers. Anything else replaces the old node (last writer wins).
  // Returns the normalized path where the node landed. Throws as resolve().
  std::string put(std::string_view path, Node node, std::string_view op);

  // Creates `path` and missing parents as directories (parents 0755 root:root, the last one
  // with `mode`/`uid`/`gid`) in `layer`. Follows symlinks to directories, including the last
  // component. Returns the resolved path. Throws as put().
  std::string make_dirs(std::string_view path, std::uint32_t mode, std::uint32_t uid,
                        std::uint32_t gid, std::size_t layer, std::string_view op);

  // Removes the node at the exact normalized path `path` and, for a directory, everything
  // below it. Returns the number of nodes removed. Throws ErrorKind::input for "/".
  std::size_t remove(std::string_view path, std::string_view op);

  // A fresh hardlink group id (renumbered later by canonicalize_link_groups()).
  std::uint64_t new_link_group() noexcept { return ++m_next_group; }

  // Renumbers hardlink groups 1..n in the order of each group's first path; a group left with
  // one member becomes 0. Deterministic regardless of the order groups were made in.
  void canonicalize_link_groups();

  // Every node, sorted by path bytes ("/" first; a parent is a prefix of its children's paths
  // and therefore always precedes them).
  const std::map<std::string, Node>& nodes() const noexcept { return m_nodes; }
  std::size_t size() const noexcept { return m_nodes.size(); }

private:
  std::map<std::string, Node> m_nodes;
  std::uint64_t m_next_group = 0;
};

// Normalizes an absolute image path lexically: "//a/./b/" -> "/a/b". Rejects (ErrorKind::input,
// naming `what`) a relative or empty path, "..", NUL and control bytes, and over-long names.
std::string normalize_image_path(std::string_view path, std::string_view what);

// Parent of a normalized absolute path ("/a/b" -> "/a", "/a" -> "/"); "/" -> "/".
std::string parent_path(std::string_view path);

// Joins a normalized absolute directory and a relative path ("/" + "a/b" -> "/a/b").
std::string join_path(std::string_view dir, std::string_view rel);

// Glob match used by extract include/exclude and remove/chmod/chown: `*` matches any run of
// bytes except '/', `?` one byte except '/', `[abc]`/`[a-z]`/`[!x]` a class (not '/'), `**`
// any run including '/' ("a/**/b" also matches "a/b"), `\x` a literal x. Whole-string match.
bool glob_match(std::string_view pattern, std::string_view path) noexcept;

// True if `pattern` contains an unescaped glob metacharacter.
bool has_glob(std::string_view pattern) noexcept;

} // namespace tdximg::rootfs
