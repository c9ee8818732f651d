// Recipe layer operations on a FileTree. See layer.hpp for the semantics of each op.

#include <tdximg/rootfs/layer.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <type_traits>

#include <fmt/format.h>

#include <tdximg/rootfs/modules.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {

namespace {

struct Context {
  FileTree& tree;
  std::size_t layer;
  const InputProvider& inputs;
  const ApplyOptions& options;
  LayerReport& report;
  std::string op_name; // "extract busybox", for messages
};

const Bytes& input_bytes(const Context& ctx, const std::string& name) {
  if (!ctx.inputs) fail(ErrorKind::internal, "{}: no input provider", ctx.op_name);
  return ctx.inputs(name);
}

void check_mode(std::uint32_t mode, std::string_view what) {
  if (mode > 07777) fail(ErrorKind::input, "{}: mode 0{:o} has bits beyond 07777", what, mode);
}

// Archive paths are compared without "./" or "/": strip_prefix "usr/share/" -> "usr/share".
std::string normalize_prefix(std::string_view prefix, std::string_view what) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  if (prefix.empty()) return "";
  return normalize_archive_path(prefix, what);
}

bool selected(const recipe::ExtractOp& op, const std::string& path) {
  if (!op.include.empty()) {
    bool any = false;
    for (const auto& g : op.include)
      if (glob_match(g, path)) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  for (const auto& g : op.exclude)
    if (glob_match(g, path)) return false;
  return true;
}

std::string escape_glob(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Expands a remove/chmod/chown pattern to existing tree paths (sorted). The literal leading
// components are resolved through symlinks; for a literal path the last component is followed
// only if `follow_last`.
std::vector<std::string> expand(const FileTree& tree, const std::string& pattern_in,
                                FollowLast follow_last, std::string_view op) {
  // Patterns keep glob syntax; normalize_image_path only folds "//" and "/./".
  const std::string pattern = normalize_image_path(pattern_in, op);
  if (!has_glob(pattern)) {
    const Resolved r = tree.resolve(pattern, follow_last, op);
    if (!r.exists) return {};
    return {r.path};
  }
  // Split at the first component that holds a glob character.
  std::string prefix = "/";
  std::string rest;
  std::size_t i = 1;
  while (i <= pattern.size()) {
    std::size_t j = pattern.find('/', i);
    if (j == std::string::npos) j = pattern.size();
    const std::string_view comp = std::string_view(pattern).substr(i, j - i);
    if (has_glob(comp)) {
      rest = pattern.substr(i);
      break;
    }
    prefix = join_path(prefix, comp);
    i = j + 1;
  }
  const Resolved base = tree.resolve(prefix, FollowLast::yes, op);
  if (!base.exists) return {};
  const std::string full = base.path == "/" ? "/" + rest : escape_glob(base.path) + "/" + rest;
  std::vector<std::string> out;
  for (const auto& [path, node] : tree.nodes())
    if (path != "/" && glob_match(full, path)) out.push_back(path);
  return out;
}

void apply_extract(Context& ctx, const recipe::ExtractOp& op) {
  const Bytes& data = input_bytes(ctx, op.input);
  std::vector<std::string> scripts;
  const std::vector<ArchiveEntry> entries =
      read_archive_input(data, op.input, ctx.options.limits, {}, &scripts);
  if (!scripts.empty()) ctx.report.skipped_scripts.push_back({op.input, scripts});

  const std::string dest = normalize_image_path(op.to, ctx.op_name + ": to");
  const std::string prefix = normalize_prefix(op.strip_prefix, ctx.op_name + ": strip_prefix");

  // Latest entry seen per archive path (hardlink targets), and where each was placed.
  std::map<std::string, const ArchiveEntry*> seen;
  std::map<std::string, std::string> placed;

  for (const ArchiveEntry& entry : entries) {
    const ArchiveEntry* previous = nullptr;
    if (auto it = seen.find(entry.path); it != seen.end()) previous = it->second;
    seen[entry.path] = &entry;
    placed.erase(entry.path);

    std::string rel = entry.path;
    if (!prefix.empty()) {
      if (rel == prefix) continue; // the stripped directory itself is the destination
      if (rel.compare(0, prefix.size() + 1, prefix + "/") != 0) continue;
      rel = rel.substr(prefix.size() + 1);
    }
    if (!selected(op, rel)) continue;
    const std::string what = fmt::format("{}: entry '{}'", ctx.op_name, entry.path);
    const std::string tree_path = join_path(dest, rel);

    Node node;
    node.layer = ctx.layer;
    node.mode = entry.mode;
    node.uid = entry.uid;
    node.gid = entry.gid;
    switch (entry.type) {
    case EntryType::directory: node.type = NodeType::directory; break;
    case EntryType::regular:
      node.type = NodeType::regular;
      node.content = entry.content;
      break;
    case EntryType::symlink:
      node.type = NodeType::symlink;
      node.mode = 0777;
      node.target = entry.target;
      break;
    case EntryType::chardev:
    case EntryType::blockdev:
    case EntryType::fifo:
      if (!op.allow_devices)
        fail(ErrorKind::input, "{}: device node or fifo (set allow_devices to accept it)", what);
      node.type = entry.type == EntryType::chardev   ? NodeType::chardev
                  : entry.type == EntryType::blockdev ? NodeType::blockdev
                                                      : NodeType::fifo;
      node.rdev_major = entry.rdev_major;
      node.rdev_minor = entry.rdev_minor;
      break;
    case EntryType::hardlink: {
      auto tit = seen.find(entry.target);
      const ArchiveEntry* target = tit == seen.end() ? nullptr : tit->second;
      if (target == &entry) target = previous; // a link to its own path names the old entry
      if (!target)
        fail(ErrorKind::input, "{}: hardlink target '{}' is not an earlier entry of the archive",
             what, entry.target);
      if (target->type != EntryType::regular)
        fail(ErrorKind::input, "{}: hardlink target '{}' is a {}, not a regular file", what,
             entry.target,
             target->type == EntryType::symlink ? "symlink" : "non-regular entry");
      if ((target->mode & 06000) && !op.allow_setuid)
        fail(ErrorKind::input, "{}: setuid/setgid mode 0{:o} (set allow_setuid to accept it)",
             what, target->mode);
      node.type = NodeType::regular;
      node.mode = target->mode;
      node.uid = target->uid;
      node.gid = target->gid;
      node.content = target->content;
      if (auto pit = placed.find(entry.target); pit != placed.end()) {
        if (Node* tnode = ctx.tree.find_mut(pit->second);
            tnode && tnode->type == NodeType::regular &&
            tnode->content.data == target->content.data) {
          if (tnode->link_group == 0) tnode->link_group = ctx.tree.new_link_group();
          node = *tnode;
          node.layer = ctx.layer;
        }
      }
      const std::string landed = ctx.tree.put(tree_path, std::move(node), what);
      placed[entry.path] = landed;
      seen[entry.path] = target; // a later link to this name links to the same file
      continue;
    }
    }
    if (entry.type != EntryType::symlink && (entry.mode & 06000) && !op.allow_setuid)
      fail(ErrorKind::input, "{}: setuid/setgid mode 0{:o} (set allow_setuid to accept it)", what,
           entry.mode);
    placed[entry.path] = ctx.tree.put(tree_path, std::move(node), what);
  }
}

Content file_content(Context& ctx, const recipe::FileOp& op) {
  const int sources = (op.text ? 1 : 0) + (op.from ? 1 : 0);
  if (sources != 1)
    fail(ErrorKind::input, "{}: exactly one of 'text' and 'from' is required", ctx.op_name);
  if (op.text) return Content::make(to_bytes(*op.text));
  if (op.member && !op.from)
    fail(ErrorKind::input, "{}: 'member' needs 'from'", ctx.op_name);
  const Bytes& data = input_bytes(ctx, *op.from);
  if (!op.member) return Content::make(data);
  std::string member = *op.member;
  while (!member.empty() && member.front() == '/') member.erase(0, 1);
  member = normalize_archive_path(member, ctx.op_name + ": member");
  // Only the member's data is kept; a hardlink member needs a second pass for its target's.
  std::string wanted = member;
  for (int pass = 0; pass < 2; ++pass) {
    const auto entries = read_archive_input(data, *op.from, ctx.options.limits,
                                            [&](const std::string& p) { return p == wanted; });
    std::map<std::string, const ArchiveEntry*> seen;
    const ArchiveEntry* found = nullptr;
    for (const auto& e : entries) {
      const ArchiveEntry* resolved = &e;
      if (e.type == EntryType::hardlink) {
        auto it = seen.find(e.target);
        resolved = it == seen.end() ? nullptr : it->second;
      }
      if (resolved) seen[e.path] = resolved;
      if (e.path == member) found = resolved; // last wins
    }
    if (!found)
      fail(ErrorKind::input, "{}: input '{}' has no member '{}'", ctx.op_name, *op.from, member);
    if (found->type != EntryType::regular)
      fail(ErrorKind::input, "{}: member '{}' of '{}' is not a regular file", ctx.op_name,
           member, *op.from);
    if (found->content.data) return found->content;
    wanted = found->path;
  }
  fail(ErrorKind::internal, "{}: member '{}' of '{}' has no data", ctx.op_name, member, *op.from);
}

void apply_op(Context& ctx, const recipe::FileOp& op) {
  check_mode(op.mode, ctx.op_name);
  Node node;
  node.type = NodeType::regular;
  node.mode = op.mode;
  node.uid = op.owner.uid;
  node.gid = op.owner.gid;
  node.layer = ctx.layer;
  node.content = file_content(ctx, op);
  ctx.tree.put(op.path, std::move(node), ctx.op_name);
}

void apply_op(Context& ctx, const recipe::ExtractOp& op) { apply_extract(ctx, op); }

void apply_op(Context& ctx, const recipe::DirOp& op) {
  check_mode(op.mode, ctx.op_name);
  if (op.paths.empty()) fail(ErrorKind::input, "{}: no paths", ctx.op_name);
  for (const auto& p : op.paths)
    ctx.tree.make_dirs(p, op.mode, op.owner.uid, op.owner.gid, ctx.layer, ctx.op_name);
}

void apply_op(Context& ctx, const recipe::SymlinkOp& op) {
  if (op.target.empty()) fail(ErrorKind::input, "{}: empty symlink target", ctx.op_name);
  if (op.target.size() > k_max_path_bytes)
    fail(ErrorKind::input, "{}: symlink target over {} bytes", ctx.op_name, k_max_path_bytes);
  for (char c : op.target)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      fail(ErrorKind::input, "{}: control byte in symlink target", ctx.op_name);
  Node node;
  node.type = NodeType::symlink;
  node.mode = 0777;
  node.target = op.target;
  node.layer = ctx.layer;
  ctx.tree.put(op.path, std::move(node), ctx.op_name);
}

void apply_op(Context& ctx, const recipe::HardlinkOp& op) {
  const std::string target = normalize_image_path(op.target, ctx.op_name + ": target");
  const Resolved r = ctx.tree.resolve(target, FollowLast::no, ctx.op_name);
  Node* tnode = r.exists ? ctx.tree.find_mut(r.path) : nullptr;
  if (!tnode)
    fail(ErrorKind::input, "{}: hardlink target {} does not exist", ctx.op_name, target);
  if (tnode->type != NodeType::regular)
    fail(ErrorKind::input, "{}: hardlink target {} is a {} (layer {}), not a regular file",
         ctx.op_name, r.path, node_type_name(tnode->type), tnode->layer);
  if (tnode->link_group == 0) tnode->link_group = ctx.tree.new_link_group();
  Node node = *tnode;
  node.layer = ctx.layer;
  const std::string link_path = normalize_image_path(op.path, ctx.op_name);
  const Resolved where = ctx.tree.resolve(link_path, FollowLast::no, ctx.op_name);
  if (where.path == r.path)
    fail(ErrorKind::input, "{}: {} would be a hardlink to itself", ctx.op_name, r.path);
  ctx.tree.put(link_path, std::move(node), ctx.op_name);
}

void apply_op(Context& ctx, const recipe::DeviceOp& op) {
  check_mode(op.mode, ctx.op_name);
  Node node;
  node.type = op.type == recipe::DeviceType::character ? NodeType::chardev : NodeType::blockdev;
  node.mode = op.mode;
  node.uid = op.owner.uid;
  node.gid = op.owner.gid;
  node.rdev_major = op.major;
  node.rdev_minor = op.minor;
  node.layer = ctx.layer;
  ctx.tree.put(op.path, std::move(node), ctx.op_name);
}

void apply_op(Context& ctx, const recipe::FifoOp& op) {
  check_mode(op.mode, ctx.op_name);
  Node node;
  node.type = NodeType::fifo;
  node.mode = op.mode;
  node.uid = op.owner.uid;
  node.gid = op.owner.gid;
  node.layer = ctx.layer;
  ctx.tree.put(op.path, std::move(node), ctx.op_name);
}

void apply_op(Context& ctx, const recipe::RemoveOp& op) {
  if (op.paths.empty()) fail(ErrorKind::input, "{}: no paths", ctx.op_name);
  for (const auto& pattern : op.paths) {
    const auto matches = expand(ctx.tree, pattern, FollowLast::no, ctx.op_name);
    if (matches.empty())
      fail(ErrorKind::input, "{}: '{}' matches nothing in the tree", ctx.op_name, pattern);
    for (const auto& m : matches) ctx.tree.remove(m, ctx.op_name);
  }
}

// Applies `change` to each matched node (and every other name of a hardlinked file). Symlinks
// matched by a glob are skipped; a literal path is followed to its target, like chmod(1).
template <typename Change>
void change_metadata(Context& ctx, const std::vector<std::string>& patterns, Change change) {
  if (patterns.empty()) fail(ErrorKind::input, "{}: no paths", ctx.op_name);
  for (const auto& pattern : patterns) {
    const auto matches = expand(ctx.tree, pattern, FollowLast::yes, ctx.op_name);
    if (matches.empty())
      fail(ErrorKind::input, "{}: '{}' matches nothing in the tree", ctx.op_name, pattern);
    std::set<std::uint64_t> groups;
    for (const auto& m : matches) {
      Node* node = ctx.tree.find_mut(m);
      if (!node || node->type == NodeType::symlink) continue;
      change(*node);
      node->layer = ctx.layer;
      if (node->link_group) groups.insert(node->link_group);
    }
    if (groups.empty()) continue;
    for (const auto& [path, n] : ctx.tree.nodes()) {
      if (!n.link_group || !groups.count(n.link_group)) continue;
      Node* member = ctx.tree.find_mut(path);
      change(*member);
      member->layer = ctx.layer;
    }
  }
}

void apply_op(Context& ctx, const recipe::ChmodOp& op) {
  check_mode(op.mode, ctx.op_name);
  change_metadata(ctx, op.paths, [&](Node& n) { n.mode = op.mode; });
}

void apply_op(Context& ctx, const recipe::ChownOp& op) {
  change_metadata(ctx, op.paths, [&](Node& n) {
    n.uid = op.owner.uid;
    n.gid = op.owner.gid;
  });
}

void apply_op(Context& ctx, const recipe::ModulesOp& op) {
  const Bytes& data = input_bytes(ctx, op.from);
  const KernelPackage pkg = read_kernel_package(data, op.from, ctx.options.limits);
  const ModuleSelection sel = install_modules(ctx.tree, pkg, op.names, ctx.layer);
  ctx.report.modules.insert(ctx.report.modules.end(), sel.modules.begin(), sel.modules.end());
  std::sort(ctx.report.modules.begin(), ctx.report.modules.end());
  ctx.report.modules.erase(std::unique(ctx.report.modules.begin(), ctx.report.modules.end()),
                           ctx.report.modules.end());
}

std::string describe(const recipe::Op& op) {
  return std::visit(
      [](const auto& o) -> std::string {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, recipe::ExtractOp>) return "extract " + o.input;
        else if constexpr (std::is_same_v<T, recipe::FileOp>) return "file " + o.path;
        else if constexpr (std::is_same_v<T, recipe::DirOp>) return "dir";
        else if constexpr (std::is_same_v<T, recipe::SymlinkOp>) return "symlink " + o.path;
        else if constexpr (std::is_same_v<T, recipe::HardlinkOp>) return "hardlink " + o.path;
        else if constexpr (std::is_same_v<T, recipe::DeviceOp>) return "device " + o.path;
        else if constexpr (std::is_same_v<T, recipe::FifoOp>) return "fifo " + o.path;
        else if constexpr (std::is_same_v<T, recipe::RemoveOp>) return "remove";
        else if constexpr (std::is_same_v<T, recipe::ChmodOp>) return "chmod";
        else if constexpr (std::is_same_v<T, recipe::ChownOp>) return "chown";
        else return "modules " + o.from;
      },
      op);
}

} // namespace

LayerReport apply_layer(FileTree& tree, const recipe::Layer& layer, std::size_t layer_index,
                        const InputProvider& inputs, const ApplyOptions& options) {
  LayerReport report;
  for (std::size_t i = 0; i < layer.ops.size(); ++i) {
    Context ctx{tree, layer_index, inputs, options, report,
                fmt::format("layer '{}' (#{}) op #{} ({})", layer.name, layer_index, i + 1,
                            describe(layer.ops[i]))};
    std::visit([&](const auto& op) { apply_op(ctx, op); }, layer.ops[i]);
  }
  tree.canonicalize_link_groups();
  return report;
}

} // namespace tdximg::rootfs
