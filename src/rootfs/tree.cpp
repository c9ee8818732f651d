// FileTree: chroot-style path resolution inside an in-memory tree. See tree.hpp for the rules.

#include <tdximg/rootfs/tree.hpp>

#include <algorithm>
#include <deque>
#include <utility>

#include <fmt/format.h>

#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {

std::string_view node_type_name(NodeType type) noexcept {
  switch (type) {
  case NodeType::directory: return "directory";
  case NodeType::regular: return "regular file";
  case NodeType::symlink: return "symlink";
  case NodeType::chardev: return "character device";
  case NodeType::blockdev: return "block device";
  case NodeType::fifo: return "fifo";
  }
  return "node";
}

Content Content::make(Bytes bytes) {
  Content c;
  c.digest = sha256(bytes);
  c.data = std::make_shared<const Bytes>(std::move(bytes));
  return c;
}

namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::vector<std::string_view> split_components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = path.find('/', i);
    const std::size_t end = j == std::string_view::npos ? path.size() : j;
    if (end > i) out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

std::string join_components(const std::vector<std::string>& comps) {
  if (comps.empty()) return "/";
  std::string out;
  for (const auto& c : comps) {
    out += '/';
    out += c;
  }
  return out;
}

std::string chain_text(const std::vector<std::string>& chain) {
  if (chain.empty()) return "";
  std::string out = " (via ";
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (i) out += ", ";
    out += chain[i];
  }
  out += ")";
  return out;
}

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

struct PendingComponent {
  std::string name;
  bool from_link = false; // came from a symlink target
};

} // namespace

std::string normalize_image_path(std::string_view path, std::string_view what) {
  if (path.empty() || path.front() != '/')
    fail(ErrorKind::input, "{}: path '{}' is not absolute", what, path);
  std::vector<std::string> comps;
  for (std::string_view c : split_components(path)) {
    if (c == ".") continue;
    if (c == "..") fail(ErrorKind::input, "{}: path '{}' contains '..'", what, path);
    for (char ch : c)
      if (is_control(static_cast<unsigned char>(ch)))
        fail(ErrorKind::input, "{}: path contains a NUL or control byte", what);
    if (c.size() > k_max_name_bytes)
      fail(ErrorKind::input, "{}: path component of {} bytes exceeds {} bytes", what, c.size(),
           k_max_name_bytes);
    comps.emplace_back(c);
  }
  std::string out = join_components(comps);
  if (out.size() > k_max_path_bytes)
    fail(ErrorKind::input, "{}: path of {} bytes exceeds {} bytes", what, out.size(),
         k_max_path_bytes);
  return out;
}

std::string parent_path(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string join_path(std::string_view dir, std::string_view rel) {
  std::string out(dir);
  for (std::string_view c : split_components(rel)) {
    if (out.empty() || out.back() != '/') out += '/';
    out += c;
  }
  return out.empty() ? "/" : out;
}

FileTree::FileTree() {
  Node root;
  root.type = NodeType::directory;
  root.mode = 0755;
  m_nodes.emplace("/", std::move(root));
}

const Node* FileTree::find(std::string_view path) const {
  auto it = m_nodes.find(std::string(path));
  return it == m_nodes.end() ? nullptr : &it->second;
}

Node* FileTree::find_mut(std::string_view path) {
  auto it = m_nodes.find(std::string(path));
  return it == m_nodes.end() ? nullptr : &it->second;
}

namespace {

// The one resolution walk. With `create_layer` set, every missing component (the last one
// too) is created as a directory (0755 root:root, that layer); otherwise missing components
// are treated as plain missing directories.
Resolved walk(std::map<std::string, Node>& nodes, std::string_view path, FollowLast follow_last,
              std::string_view op, const std::size_t* create_layer,
              std::string_view shown_path = {}) {
  const std::string_view shown = shown_path.empty() ? path : shown_path;
  if (path.empty() || path.front() != '/')
    fail(ErrorKind::input, "{}: path '{}' is not absolute", op, path);
  std::deque<PendingComponent> pending;
  for (std::string_view c : split_components(path)) pending.push_back({std::string(c), false});

  Resolved out;
  std::vector<std::string> current;
  bool missing = false; // some component of `current` does not exist
  int hops = 0;
  while (!pending.empty()) {
    PendingComponent comp = std::move(pending.front());
    pending.pop_front();
    if (comp.name == ".") continue;
    if (comp.name == "..") {
      if (current.empty()) {
        if (comp.from_link)
          fail(ErrorKind::input, "{}: {}: a symlink leads outside the image tree{}", op, shown,
               chain_text(out.chain));
        continue; // ".." at "/" stays at "/"
      }
      current.pop_back();
      continue;
    }
    current.push_back(std::move(comp.name));
    const bool last = pending.empty();
    if (missing) continue;
    const std::string here = join_components(current);
    if (here.size() > k_max_path_bytes)
      fail(ErrorKind::input, "{}: {}: resolved path exceeds {} bytes{}", op, shown,
           k_max_path_bytes, chain_text(out.chain));
    auto it = nodes.find(here);
    if (it == nodes.end()) {
      if (create_layer) { // every component, the last one included, must be a directory
        Node dir;
        dir.type = NodeType::directory;
        dir.mode = 0755;
        dir.layer = *create_layer;
        nodes.emplace(here, std::move(dir));
      } else {
        missing = !last;
      }
      continue;
    }
    const Node& node = it->second;
    if (node.type == NodeType::symlink && (!last || follow_last == FollowLast::yes)) {
      if (++hops > k_max_symlink_hops)
        fail(ErrorKind::input, "{}: {}: more than {} symlink hops{}", op, shown,
             k_max_symlink_hops, chain_text(out.chain));
      out.chain.push_back(fmt::format("{} -> {}", here, node.target));
      if (node.target.empty())
        fail(ErrorKind::input, "{}: {}: empty symlink target{}", op, shown, chain_text(out.chain));
      current.pop_back();
      if (node.target.front() == '/') current.clear();
      const auto target_comps = split_components(node.target);
      for (auto rit = target_comps.rbegin(); rit != target_comps.rend(); ++rit)
        pending.push_front({std::string(*rit), true});
      continue;
    }
    if (!last && node.type != NodeType::directory)
      fail(ErrorKind::input, "{}: {}: {} is a {} (layer {}), not a directory{}", op, shown,
           here, node_type_name(node.type), node.layer, chain_text(out.chain));
  }
  out.path = join_components(current);
  if (out.path.size() > k_max_path_bytes)
    fail(ErrorKind::input, "{}: {}: resolved path exceeds {} bytes{}", op, shown, k_max_path_bytes,
         chain_text(out.chain));
  out.exists = !missing && nodes.count(out.path) != 0;
  return out;
}

} // namespace

Resolved FileTree::resolve(std::string_view path, FollowLast follow_last,
                           std::string_view op) const {
  // walk() only mutates when create_layer is set.
  return walk(const_cast<std::map<std::string, Node>&>(m_nodes), path, follow_last, op, nullptr);
}

std::string FileTree::put(std::string_view path_in, Node node, std::string_view op) {
  const std::string path = normalize_image_path(path_in, op);
  std::string final_path = "/";
  if (path != "/") {
    const std::size_t layer = node.layer;
    const Resolved parent =
        walk(m_nodes, parent_path(path), FollowLast::yes, op, &layer, path);
    const Node* pnode = find(parent.path);
    if (!pnode)
      fail(ErrorKind::internal, "{}: {}: parent {} was not created", op, path, parent.path);
    if (pnode->type != NodeType::directory)
      fail(ErrorKind::input, "{}: {}: parent {} is a {} (layer {}), not a directory{}", op, path,
           parent.path, node_type_name(pnode->type), pnode->layer, chain_text(parent.chain));
    final_path = join_path(parent.path, base_name(path));
    if (final_path.size() > k_max_path_bytes)
      fail(ErrorKind::input, "{}: {}: resolved path exceeds {} bytes", op, path, k_max_path_bytes);
  }
  auto it = m_nodes.find(final_path);
  if (it == m_nodes.end()) {
    m_nodes.emplace(final_path, std::move(node));
    return final_path;
  }
  Node& old = it->second;
  if (node.type == NodeType::directory && old.type == NodeType::symlink) {
    // Writing a directory over a symlink to a directory keeps the symlink (like dpkg and
    // tar --keep-directory-symlink) and sets the metadata of the directory it leads to.
    const Resolved target = resolve(final_path, FollowLast::yes, op);
    Node* tnode = target.exists ? find_mut(target.path) : nullptr;
    if (!tnode || tnode->type != NodeType::directory)
      fail(ErrorKind::input,
           "{}: {}: a directory (layer {}) cannot replace a symlink (layer {}) that does not "
           "lead to a directory{}",
           op, final_path, node.layer, old.layer, chain_text(target.chain));
    tnode->mode = node.mode;
    tnode->uid = node.uid;
    tnode->gid = node.gid;
    tnode->layer = node.layer;
    return target.path;
  }
  const bool new_dir = node.type == NodeType::directory;
  const bool old_dir = old.type == NodeType::directory;
  if (new_dir != old_dir)
    fail(ErrorKind::input, "{}: {}: a {} (layer {}) cannot replace a {} (layer {}); remove it first",
         op, final_path, node_type_name(node.type), node.layer, node_type_name(old.type),
         old.layer);
  if (new_dir) {
    old.mode = node.mode;
    old.uid = node.uid;
    old.gid = node.gid;
    old.layer = node.layer;
  } else {
    old = std::move(node);
  }
  return final_path;
}

std::string FileTree::make_dirs(std::string_view path, std::uint32_t mode, std::uint32_t uid,
                                std::uint32_t gid, std::size_t layer, std::string_view op) {
  Node dir;
  dir.type = NodeType::directory;
  dir.mode = mode;
  dir.uid = uid;
  dir.gid = gid;
  dir.layer = layer;
  return put(path, std::move(dir), op);
}

std::size_t FileTree::remove(std::string_view path, std::string_view op) {
  if (path == "/") fail(ErrorKind::input, "{}: refusing to remove /", op);
  std::size_t removed = 0;
  auto it = m_nodes.find(std::string(path));
  if (it == m_nodes.end()) return 0;
  m_nodes.erase(it);
  ++removed;
  // Children are not adjacent to their parent ("/a-b" sorts between "/a" and "/a/b").
  const std::string prefix = std::string(path) + "/";
  it = m_nodes.lower_bound(prefix);
  while (it != m_nodes.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    it = m_nodes.erase(it);
    ++removed;
  }
  return removed;
}

FileTree FileTree::from_nodes(std::map<std::string, Node> nodes, std::string_view what) {
  auto root = nodes.find("/");
  if (root == nodes.end() || root->second.type != NodeType::directory)
    fail(ErrorKind::input, "{}: the tree has no root directory", what);
  std::map<std::uint64_t, const Node*> groups;
  std::uint64_t max_group = 0;
  for (const auto& [path, node] : nodes) {
    if (normalize_image_path(path, what) != path)
      fail(ErrorKind::input, "{}: path {:?} is not normalized", what, path);
    if (path != "/") {
      auto parent = nodes.find(parent_path(path));
      if (parent == nodes.end() || parent->second.type != NodeType::directory)
        fail(ErrorKind::input, "{}: {}: parent is missing or not a directory", what, path);
    }
    const bool regular = node.type == NodeType::regular;
    if (regular != static_cast<bool>(node.content.data))
      fail(ErrorKind::input, "{}: {}: a {} {} content", what, path, node_type_name(node.type),
           regular ? "without" : "with");
    if (node.type != NodeType::symlink && !node.target.empty())
      fail(ErrorKind::input, "{}: {}: a {} with a symlink target", what, path,
           node_type_name(node.type));
    if (node.link_group == 0) continue;
    if (!regular)
      fail(ErrorKind::input, "{}: {}: a hardlinked {}", what, path, node_type_name(node.type));
    auto [it, inserted] = groups.emplace(node.link_group, &node);
    const Node& first = *it->second;
    if (!inserted && (first.content.digest != node.content.digest || first.mode != node.mode ||
                      first.uid != node.uid || first.gid != node.gid))
      fail(ErrorKind::input, "{}: {}: differs from the other names of hardlink group {}", what,
           path, node.link_group);
    max_group = std::max(max_group, node.link_group);
  }
  FileTree tree;
  tree.m_nodes = std::move(nodes);
  tree.m_next_group = max_group;
  return tree;
}

void FileTree::canonicalize_link_groups() {
  std::map<std::uint64_t, std::uint64_t> renumber;
  std::map<std::uint64_t, std::size_t> members;
  std::uint64_t next = 0;
  for (auto& [path, node] : m_nodes) {
    if (node.link_group == 0) continue;
    auto [it, inserted] = renumber.emplace(node.link_group, next + 1);
    if (inserted) ++next;
    node.link_group = it->second;
    ++members[node.link_group];
  }
  for (auto& [path, node] : m_nodes)
    if (node.link_group != 0 && members[node.link_group] < 2) node.link_group = 0;
  // Renumber again so that dropped singleton groups leave no gaps.
  renumber.clear();
  next = 0;
  for (auto& [path, node] : m_nodes) {
    if (node.link_group == 0) continue;
    auto [it, inserted] = renumber.emplace(node.link_group, next + 1);
    if (inserted) ++next;
    node.link_group = it->second;
  }
  m_next_group = next;
}

// ---- globs --------------------------------------------------------------------------------

namespace {

// Matches a bracket class at p[0] == '['. Returns the index after ']' or npos if malformed
// (then '[' is literal); sets `matched`.
std::size_t match_class(std::string_view p, char c, bool& matched) {
  std::size_t i = 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool any = false;
  bool first = true;
  while (i < p.size() && (first || p[i] != ']')) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    char hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      if (hi == '\\' && i + 3 < p.size()) {
        hi = p[i + 3];
        ++i;
      }
      i += 2;
    }
    if (static_cast<unsigned char>(c) >= static_cast<unsigned char>(lo) &&
        static_cast<unsigned char>(c) <= static_cast<unsigned char>(hi))
      any = true;
    ++i;
  }
  if (i >= p.size()) return std::string_view::npos;
  matched = (any != negate) && c != '/';
  return i + 1;
}

bool glob_rec(std::string_view p, std::string_view s, int depth) {
  if (depth > 64) return false; // pathological patterns: no match rather than deep recursion
  while (!p.empty()) {
    const char pc = p.front();
    if (pc == '*') {
      if (p.size() >= 2 && p[1] == '*') {
        std::string_view rest = p.substr(2);
        while (!rest.empty() && rest.front() == '*') rest.remove_prefix(1);
        // "a/**/b" also matches "a/b": let "**/" match nothing.
        if (!rest.empty() && rest.front() == '/' && glob_rec(rest.substr(1), s, depth + 1))
          return true;
        for (std::size_t k = 0; k <= s.size(); ++k)
          if (glob_rec(rest, s.substr(k), depth + 1)) return true;
        return false;
      }
      std::string_view rest = p.substr(1);
      for (std::size_t k = 0; k <= s.size(); ++k) {
        if (glob_rec(rest, s.substr(k), depth + 1)) return true;
        if (k < s.size() && s[k] == '/') break;
      }
      return false;
    }
    if (s.empty()) return false;
    if (pc == '?') {
      if (s.front() == '/') return false;
      p.remove_prefix(1);
      s.remove_prefix(1);
      continue;
    }
    if (pc == '[') {
      bool matched = false;
      const std::size_t next = match_class(p, s.front(), matched);
      if (next != std::string_view::npos) {
        if (!matched) return false;
        p.remove_prefix(next);
        s.remove_prefix(1);
        continue;
      }
      // malformed class: '[' is literal
    }
    char lit = pc;
    std::size_t adv = 1;
    if (pc == '\\' && p.size() >= 2) {
      lit = p[1];
      adv = 2;
    }
    if (s.front() != lit) return false;
    p.remove_prefix(adv);
    s.remove_prefix(1);
  }
  return s.empty();
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view path) noexcept {
  return glob_rec(pattern, path, 0);
}

bool has_glob(std::string_view pattern) noexcept {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '*' || c == '?' || c == '[') return true;
  }
  return false;
}

} // namespace tdximg::rootfs
