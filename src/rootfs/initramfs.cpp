// Per-layer initramfs segments from a final FileTree. The rules are in initramfs.hpp.

#include <tdximg/rootfs/initramfs.hpp>

#include <map>
#include <set>
#include <string>

#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {

namespace {

std::uint32_t type_bits(NodeType type) {
  switch (type) {
  case NodeType::directory: return k_mode_dir;
  case NodeType::regular: return k_mode_regular;
  case NodeType::symlink: return k_mode_symlink;
  case NodeType::chardev: return k_mode_char;
  case NodeType::blockdev: return k_mode_block;
  case NodeType::fifo: return k_mode_fifo;
  }
  return 0;
}

CpioEntry make_entry(const std::string& path, const Node& node, std::uint32_t mtime,
                     std::uint32_t nlink) {
  CpioEntry e;
  e.path = path.substr(1); // no leading "/"
  e.mode = type_bits(node.type) | (node.mode & 07777);
  e.uid = node.uid;
  e.gid = node.gid;
  e.nlink = nlink;
  e.mtime = mtime;
  if (node.type == NodeType::regular) {
    e.data = node.content.data;
  } else if (node.type == NodeType::symlink) {
    e.data = std::make_shared<const Bytes>(to_bytes(node.target));
  } else if (node.type == NodeType::chardev || node.type == NodeType::blockdev) {
    e.rdev_major = node.rdev_major;
    e.rdev_minor = node.rdev_minor;
  }
  return e;
}

CpioEntry placeholder_dir(const std::string& path, std::uint32_t mtime) {
  CpioEntry e;
  e.path = path.substr(1);
  e.mode = k_mode_dir | 0755;
  e.nlink = 2;
  e.mtime = mtime;
  return e;
}

// Assigns per-archive inode numbers: sequential, shared within a hardlink group.
void number_inodes(std::vector<CpioEntry>& entries, const std::vector<std::uint64_t>& groups) {
  std::map<std::uint64_t, std::uint32_t> group_ino;
  std::uint32_t next = 1;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (groups[i] != 0) {
      auto [it, inserted] = group_ino.emplace(groups[i], next);
      if (inserted) ++next;
      entries[i].ino = it->second;
    } else {
      entries[i].ino = next++;
    }
  }
}

} // namespace

InitramfsSegments segment_tree(const FileTree& tree, std::size_t layer_count, std::uint32_t mtime) {
  const auto& nodes = tree.nodes();
  // Hardlink groups: size and latest layer.
  std::map<std::uint64_t, std::uint32_t> group_size;
  std::map<std::uint64_t, std::size_t> group_layer;
  for (const auto& [path, node] : nodes) {
    if (node.layer >= layer_count)
      fail(ErrorKind::input, "initramfs: {} comes from layer {} but there are only {} layers", path,
           node.layer, layer_count);
    if (node.link_group == 0 || node.type != NodeType::regular) continue;
    ++group_size[node.link_group];
    auto [it, inserted] = group_layer.emplace(node.link_group, node.layer);
    if (!inserted && node.layer > it->second) it->second = node.layer;
  }
  auto segment_of = [&](const Node& node) {
    if (node.link_group != 0 && node.type == NodeType::regular && group_size[node.link_group] > 1)
      return group_layer[node.link_group];
    return node.layer;
  };

  // Which paths each segment holds, in path order (std::map iteration).
  std::vector<std::vector<const std::pair<const std::string, Node>*>> own(layer_count);
  for (const auto& item : nodes) {
    if (item.first == "/") continue;
    const std::string parent = parent_path(item.first);
    const Node* p = tree.find(parent);
    if (!p || p->type != NodeType::directory)
      fail(ErrorKind::input, "initramfs: the parent of {} is not a directory in the tree",
           item.first);
    own[segment_of(item.second)].push_back(&item);
  }

  InitramfsSegments out;
  out.layer_segment.assign(layer_count, std::nullopt);
  std::set<std::string> emitted_dirs; // directories some earlier (or this) segment created
  for (std::size_t layer = 0; layer < layer_count; ++layer) {
    if (own[layer].empty()) continue;
    // Placeholders for parents that no earlier segment created and that this segment does not
    // hold itself; std::map keeps them sorted and merged with the segment's own entries.
    std::set<std::string> held;
    for (const auto* item : own[layer]) held.insert(item->first);
    std::map<std::string, std::pair<CpioEntry, std::uint64_t>> entries;
    for (const auto* item : own[layer]) {
      const auto& [path, node] = *item;
      const std::uint32_t nlink =
          node.type == NodeType::directory ? 2
          : (node.link_group != 0 && node.type == NodeType::regular) ? group_size[node.link_group]
                                                                     : 1;
      const std::uint64_t group =
          node.type == NodeType::regular && nlink > 1 ? node.link_group : 0;
      entries.emplace(path, std::make_pair(make_entry(path, node, mtime, nlink), group));
      for (std::string dir = parent_path(path); dir != "/"; dir = parent_path(dir)) {
        if (emitted_dirs.count(dir) || held.count(dir) || entries.count(dir)) break;
        entries.emplace(dir, std::make_pair(placeholder_dir(dir, mtime), std::uint64_t{0}));
      }
    }
    std::vector<CpioEntry> seg;
    std::vector<std::uint64_t> groups;
    seg.reserve(entries.size());
    for (auto& [path, eg] : entries) {
      if (eg.first.mode >> 12 == k_mode_dir >> 12) emitted_dirs.insert(path);
      seg.push_back(std::move(eg.first));
      groups.push_back(eg.second);
    }
    number_inodes(seg, groups);
    out.layer_segment[layer] = out.segments.size();
    out.segment_layer.push_back(layer);
    out.segments.push_back(std::move(seg));
  }
  return out;
}

std::vector<std::vector<CpioEntry>> segment_entries(const FileTree& tree, std::size_t layer_count,
                                                    std::uint32_t mtime) {
  return segment_tree(tree, layer_count, mtime).segments;
}

std::vector<CpioEntry> tree_entries(const FileTree& tree, std::uint32_t mtime) {
  std::map<std::uint64_t, std::uint32_t> group_size;
  for (const auto& [path, node] : tree.nodes())
    if (node.link_group != 0 && node.type == NodeType::regular) ++group_size[node.link_group];
  std::vector<CpioEntry> seg;
  std::vector<std::uint64_t> groups;
  for (const auto& [path, node] : tree.nodes()) {
    if (path == "/") continue;
    const std::uint32_t nlink =
        node.type == NodeType::directory ? 2
        : (node.link_group != 0 && node.type == NodeType::regular) ? group_size[node.link_group]
                                                                   : 1;
    seg.push_back(make_entry(path, node, mtime, nlink));
    groups.push_back(node.type == NodeType::regular && nlink > 1 ? node.link_group : 0);
  }
  number_inodes(seg, groups);
  return seg;
}

} // namespace tdximg::rootfs
