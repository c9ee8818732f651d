// FileTree snapshots for the layer cache. Format: snapshot.hpp.

#include <tdximg/rootfs/snapshot.hpp>

#include <cstring>
#include <map>

#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::rootfs {

namespace {

constexpr std::string_view k_magic{"TDXTREE\0", 8};
constexpr std::uint8_t k_max_type = static_cast<std::uint8_t>(NodeType::fifo);

} // namespace

Bytes serialize_tree(const FileTree& tree) {
  // Contents first, deduplicated by digest (hardlinks and identical files share one copy).
  std::map<Sha256, std::uint64_t> index;
  std::vector<const Content*> contents;
  for (const auto& [path, node] : tree.nodes()) {
    if (node.type != NodeType::regular) continue;
    if (index.emplace(node.content.digest, contents.size()).second)
      contents.push_back(&node.content);
  }
  ByteWriter w;
  w.str(k_magic);
  w.u32le(k_snapshot_format);
  w.u64le(contents.size());
  for (const Content* c : contents) {
    w.bytes(ByteSpan(c->digest.data(), c->digest.size()));
    w.u64le(c->size());
    w.bytes(*c->data);
  }
  w.u64le(tree.size());
  for (const auto& [path, node] : tree.nodes()) {
    w.u32le(static_cast<std::uint32_t>(path.size()));
    w.str(path);
    w.u8(static_cast<std::uint8_t>(node.type));
    w.u32le(node.mode);
    w.u32le(node.uid);
    w.u32le(node.gid);
    w.u32le(node.rdev_major);
    w.u32le(node.rdev_minor);
    w.u64le(node.link_group);
    w.u64le(node.layer);
    w.u32le(static_cast<std::uint32_t>(node.target.size()));
    w.str(node.target);
    if (node.type == NodeType::regular) w.u64le(index.at(node.content.digest));
  }
  return w.take();
}

FileTree deserialize_tree(ByteSpan data, std::string_view name) {
  ByteReader r(data, std::string(name));
  const ByteSpan magic = r.bytes(k_magic.size(), "magic");
  if (std::memcmp(magic.data(), k_magic.data(), k_magic.size()) != 0)
    fail(ErrorKind::input, "{}: not a tdximg tree snapshot (bad magic)", name);
  const std::uint32_t version = r.u32le("format version");
  if (version != k_snapshot_format)
    fail(ErrorKind::input, "{}: snapshot format {}, expected {}", name, version,
         k_snapshot_format);

  const std::uint64_t n_contents = r.u64le("content count");
  // Each content takes at least 40 bytes: a count beyond that is a lie, not a reason to
  // reserve memory.
  if (n_contents > r.remaining() / 40)
    fail(ErrorKind::input, "{}: content count {} exceeds the {} bytes left at offset {}", name,
         n_contents, r.remaining(), r.offset());
  std::vector<Content> contents;
  contents.reserve(n_contents);
  for (std::uint64_t i = 0; i < n_contents; ++i) {
    const std::uint64_t at = r.offset();
    Sha256 want{};
    const ByteSpan d = r.bytes(want.size(), "content digest");
    std::memcpy(want.data(), d.data(), want.size());
    const std::uint64_t size = r.u64le("content size");
    const ByteSpan bytes = r.bytes(size, "content bytes");
    Content c = Content::make(Bytes(bytes.begin(), bytes.end()));
    if (c.digest != want)
      fail(ErrorKind::input, "{}: content {} at offset {}: sha256 {}, recorded {}", name, i, at,
           to_hex(c.digest), to_hex(want));
    contents.push_back(std::move(c));
  }

  const std::uint64_t n_nodes = r.u64le("node count");
  if (n_nodes > r.remaining() / 46)
    fail(ErrorKind::input, "{}: node count {} exceeds the {} bytes left at offset {}", name,
         n_nodes, r.remaining(), r.offset());
  std::map<std::string, Node> nodes;
  std::string previous;
  for (std::uint64_t i = 0; i < n_nodes; ++i) {
    const std::uint64_t at = r.offset();
    const std::uint32_t path_len = r.u32le("path length");
    const ByteSpan p = r.bytes(path_len, "path");
    std::string path(reinterpret_cast<const char*>(p.data()), p.size());
    if (i > 0 && !(previous < path))
      fail(ErrorKind::input, "{}: node {} at offset {}: path {:?} is not after {:?}", name, i, at,
           path, previous);
    Node n;
    const std::uint8_t type = r.u8("type");
    if (type > k_max_type)
      fail(ErrorKind::input, "{}: node {} ({}) at offset {}: type {} is not a node type", name, i,
           path, at, type);
    n.type = static_cast<NodeType>(type);
    n.mode = r.u32le("mode");
    if (n.mode > 07777)
      fail(ErrorKind::input, "{}: node {} ({}): mode {:o} has bits beyond 07777", name, i, path,
           n.mode);
    n.uid = r.u32le("uid");
    n.gid = r.u32le("gid");
    n.rdev_major = r.u32le("rdev major");
    n.rdev_minor = r.u32le("rdev minor");
    n.link_group = r.u64le("link group");
    n.layer = r.u64le("layer");
    const std::uint32_t target_len = r.u32le("target length");
    const ByteSpan t = r.bytes(target_len, "target");
    n.target.assign(reinterpret_cast<const char*>(t.data()), t.size());
    if (n.type == NodeType::regular) {
      const std::uint64_t ci = r.u64le("content index");
      if (ci >= contents.size())
        fail(ErrorKind::input, "{}: node {} ({}): content index {} of {}", name, i, path, ci,
             contents.size());
      n.content = contents[ci];
    }
    previous = path;
    nodes.emplace_hint(nodes.end(), std::move(path), std::move(n));
  }
  if (!r.at_end())
    fail(ErrorKind::input, "{}: {} unexpected bytes after the last node at offset {}", name,
         r.remaining(), r.offset());
  return FileTree::from_nodes(std::move(nodes), name);
}

} // namespace tdximg::rootfs
