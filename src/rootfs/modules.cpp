// Kernel modules: closure over dependencies and softdeps, placement, generated index files.
//
// Debian kernel packages do not ship modules.dep/modules.alias/modules.softdep (the postinst
// runs depmod), so dependencies come from each module's ELF .modinfo section ("depends=",
// "softdep=", "alias="), which modpost writes and depmod itself reads for softdeps and aliases.
// If a package does ship modules.dep (e.g. a hand-made tar), that file is used instead.

#include <tdximg/rootfs/modules.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <set>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <tdximg/util/error.hpp>

namespace tdximg::rootfs {

namespace {

constexpr std::array<std::string_view, 4> k_module_suffixes{".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
constexpr std::uint64_t k_max_module_bytes = 512ULL << 20;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_module_file(std::string_view path) {
  for (auto s : k_module_suffixes)
    if (ends_with(path, s)) return true;
  return false;
}

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "lib/modules/<ver>/rest" or "usr/lib/modules/<ver>/rest": the directory and <ver>.
bool split_modules_path(std::string_view path, std::string& dir, std::string& release) {
  for (std::string_view root : {std::string_view("lib/modules/"), std::string_view("usr/lib/modules/")}) {
    if (!starts_with(path, root)) continue;
    const std::string_view rest = path.substr(root.size());
    const std::size_t slash = rest.find('/');
    release = std::string(rest.substr(0, slash));
    if (release.empty()) return false;
    dir = std::string(root) + release;
    return true;
  }
  return false;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = s.find('\n', i);
    if (j == std::string_view::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string canon(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// A single compressed stream (xz, zstd, gzip) through libarchive's raw format.
Bytes decompress_module(ByteSpan data, std::string_view what) {
  struct Free {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
  };
  std::unique_ptr<archive, Free> a(archive_read_new());
  if (!a) fail(ErrorKind::internal, "{}: archive_read_new failed", what);
  if (archive_read_support_format_raw(a.get()) != ARCHIVE_OK ||
      archive_read_support_filter_xz(a.get()) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a.get()) != ARCHIVE_OK ||
      archive_read_support_filter_gzip(a.get()) != ARCHIVE_OK)
    fail(ErrorKind::internal, "{}: libarchive lacks xz/zstd/gzip", what);
  static const std::uint8_t k_empty = 0;
  if (archive_read_open_memory(a.get(), data.empty() ? &k_empty : data.data(), data.size()) !=
      ARCHIVE_OK)
    fail(ErrorKind::input, "{}: cannot decompress: {}", what, archive_error_string(a.get()));
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    fail(ErrorKind::input, "{}: cannot decompress: {}", what, archive_error_string(a.get()));
  Bytes out;
  std::array<std::uint8_t, 65536> buf{};
  for (;;) {
    const la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0)
      fail(ErrorKind::input, "{}: decompression failed: {}", what, archive_error_string(a.get()));
    if (out.size() + static_cast<std::size_t>(n) > k_max_module_bytes)
      fail(ErrorKind::input, "{}: decompresses to more than {} bytes", what, k_max_module_bytes);
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  return out;
}

// key=value strings of the ELF64 little-endian .modinfo section (empty if there is none).
std::vector<std::string> read_modinfo(ByteSpan elf, std::string_view what) {
  if (elf.size() < 0x40 || as_chars(elf.subspan(0, 4)) != "\x7f" "ELF")
    fail(ErrorKind::input, "{}: not an ELF file", what);
  if (elf[4] != 2 || elf[5] != 1)
    fail(ErrorKind::unsupported, "{}: not a 64-bit little-endian ELF file", what);
  const std::uint64_t shoff = load_u64le(elf, 0x28, what);
  const std::uint16_t shentsize = load_u16le(elf, 0x3a, what);
  const std::uint16_t shnum = load_u16le(elf, 0x3c, what);
  const std::uint16_t shstrndx = load_u16le(elf, 0x3e, what);
  if (shnum == 0) return {};
  if (shentsize != 64) fail(ErrorKind::input, "{}: e_shentsize {} is not 64", what, shentsize);
  if (shstrndx >= shnum) fail(ErrorKind::input, "{}: e_shstrndx {} out of range", what, shstrndx);
  const ByteSpan table = checked_slice(elf, shoff, std::uint64_t{shnum} * 64, what);
  auto section = [&](std::uint64_t index, std::uint32_t& name) {
    const std::uint64_t base = index * 64;
    name = load_u32le(table, base, what);
    const std::uint64_t off = load_u64le(table, base + 0x18, what);
    const std::uint64_t size = load_u64le(table, base + 0x20, what);
    const std::uint32_t type = load_u32le(table, base + 4, what);
    if (type == 8 /* SHT_NOBITS */) return ByteSpan{};
    return checked_slice(elf, off, size, what);
  };
  std::uint32_t ignored = 0;
  const std::string_view strtab = as_chars(section(shstrndx, ignored));
  for (std::uint64_t i = 0; i < shnum; ++i) {
    std::uint32_t name_off = 0;
    const ByteSpan data = section(i, name_off);
    if (name_off >= strtab.size()) continue;
    const std::string_view rest = strtab.substr(name_off);
    const std::string_view name = rest.substr(0, rest.find('\0'));
    if (name != ".modinfo") continue;
    std::vector<std::string> out;
    const std::string_view text = as_chars(data);
    std::size_t p = 0;
    while (p < text.size()) {
      std::size_t q = text.find('\0', p);
      if (q == std::string_view::npos) q = text.size();
      if (q > p) out.emplace_back(text.substr(p, q - p));
      p = q + 1;
    }
    return out;
  }
  return {};
}

struct ModInfo {
  std::vector<std::string> depends;                     // canonical names
  std::vector<std::pair<std::string, std::string>> softdeps; // ("pre"/"post", name)
  std::vector<std::string> softdep_lines;               // "pre: a b post: c", verbatim
  std::vector<std::string> aliases;
};

void parse_softdep(std::string_view value, ModInfo& info) {
  std::string kind;
  for (const auto& tok : split_ws(value)) {
    if (tok == "pre:" || tok == "post:") {
      kind = tok.substr(0, tok.size() - 1);
      continue;
    }
    // A name before any pre:/post: (cifs in 6.1 declares MODULE_SOFTDEP("gcm")) is ignored by
    // kmod's softdep parser; depmod still copies the line verbatim, and so do we.
    if (kind.empty()) continue;
    info.softdeps.emplace_back(kind, tok);
  }
  info.softdep_lines.emplace_back(value);
}

// Everything select/install needs, computed once per call.
class Index {
public:
  explicit Index(const KernelPackage& pkg) : m_pkg(pkg) {
    for (const auto& [rel, entry] : pkg.files) {
      if (entry.type != EntryType::regular || !is_module_file(rel)) continue;
      m_paths.emplace(module_name(rel), rel); // first path (sorted) wins for a duplicate name
    }
    if (const std::string* text = text_file("modules.builtin"))
      for (auto line : split_lines(*text))
        if (!line.empty()) m_builtin.insert(module_name(line));
    if (const std::string* text = text_file("modules.builtin.modinfo")) {
      std::size_t p = 0;
      while (p < text->size()) {
        std::size_t q = text->find('\0', p);
        if (q == std::string::npos) q = text->size();
        const std::string_view item = std::string_view(*text).substr(p, q - p);
        p = q + 1;
        const std::size_t dot = item.find('.');
        const std::size_t eq = item.find('=');
        if (dot == std::string_view::npos || eq == std::string_view::npos || dot > eq) continue;
        if (item.substr(dot + 1, eq - dot - 1) == "alias")
          m_builtin_aliases.emplace_back(std::string(item.substr(eq + 1)),
                                         canon(item.substr(0, dot)));
      }
    }
    if (const std::string* text = text_file("modules.dep")) {
      m_have_dep = true;
      for (auto line : split_lines(*text)) {
        if (line.empty()) continue;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos)
          fail(ErrorKind::input, "{}: modules.dep line without ':': '{}'", pkg.modules_dir, line);
        std::vector<std::string> deps;
        for (auto& d : split_ws(line.substr(colon + 1))) deps.push_back(module_name(d));
        m_dep_lines[module_name(line.substr(0, colon))] = std::move(deps);
      }
    }
    if (const std::string* text = text_file("modules.softdep")) {
      for (auto line : split_lines(*text)) {
        const auto toks = split_ws(line);
        if (toks.empty() || toks[0].front() == '#') continue;
        if (toks.size() < 2 || toks[0] != "softdep")
          fail(ErrorKind::input, "{}: bad modules.softdep line '{}'", pkg.modules_dir, line);
        const std::size_t at = line.find(toks[1]) + toks[1].size();
        m_softdep_lines[canon(toks[1])].emplace_back(line.substr(at));
      }
    }
  }

  const KernelPackage& pkg() const { return m_pkg; }
  bool is_module(const std::string& name) const { return m_paths.count(name) != 0; }
  bool is_builtin(const std::string& name) const { return m_builtin.count(name) != 0; }
  const std::string& path_of(const std::string& name) const { return m_paths.at(name); }
  const std::map<std::string, std::string>& paths() const { return m_paths; }
  const std::set<std::string>& builtin() const { return m_builtin; }
  bool have_dep_file() const { return m_have_dep; }

  const std::string* text_file(const std::string& rel) const {
    auto it = m_pkg.files.find(rel);
    if (it == m_pkg.files.end() || it->second.type != EntryType::regular ||
        !it->second.content.data)
      return nullptr;
    auto [cit, inserted] = m_text.emplace(rel, std::string(as_chars(*it->second.content.data)));
    return &cit->second;
  }

  const ModInfo& info(const std::string& name) {
    auto it = m_info.find(name);
    if (it != m_info.end()) return it->second;
    const std::string& rel = path_of(name);
    const ArchiveEntry& entry = m_pkg.files.at(rel);
    const std::string what = fmt::format("{}/{}", m_pkg.modules_dir, rel);
    if (!entry.content.data) fail(ErrorKind::internal, "{}: module data not kept", what);
    std::vector<std::string> items;
    if (ends_with(rel, ".ko")) {
      items = read_modinfo(*entry.content.data, what);
    } else {
      items = read_modinfo(decompress_module(*entry.content.data, what), what);
    }
    ModInfo mi;
    for (const auto& item : items) {
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos) continue;
      const std::string_view key = std::string_view(item).substr(0, eq);
      const std::string_view value = std::string_view(item).substr(eq + 1);
      if (key == "depends") {
        std::size_t p = 0;
        while (p <= value.size()) {
          std::size_t q = value.find(',', p);
          if (q == std::string_view::npos) q = value.size();
          if (q > p) mi.depends.push_back(canon(value.substr(p, q - p)));
          p = q + 1;
        }
      } else if (key == "softdep") {
        parse_softdep(value, mi);
      } else if (key == "alias") {
        mi.aliases.emplace_back(value);
      }
    }
    if (m_have_dep) {
      auto dit = m_dep_lines.find(name);
      mi.depends = dit == m_dep_lines.end() ? std::vector<std::string>{} : dit->second;
    }
    if (auto sit = m_softdep_lines.find(name); sit != m_softdep_lines.end()) {
      for (const auto& line : sit->second) parse_softdep(line, mi);
    }
    return m_info.emplace(name, std::move(mi)).first->second;
  }

  // Modules (canonical names, sorted) whose aliases match `alias`; `builtin` is set when a
  // built-in module matches.
  std::vector<std::string> resolve_alias(const std::string& alias, bool& builtin) {
    builtin = false;
    const std::string calias = canon(alias);
    for (const auto& [pattern, mod] : m_builtin_aliases)
      if (glob_match(pattern, alias) || glob_match(canon(pattern), calias)) builtin = true;
    std::set<std::string> out;
    for (const auto& [name, rel] : m_paths) {
      for (const auto& pattern : info(name).aliases)
        if (glob_match(pattern, alias) || glob_match(canon(pattern), calias)) out.insert(name);
    }
    return {out.begin(), out.end()};
  }

private:
  const KernelPackage& m_pkg;
  std::map<std::string, std::string> m_paths;
  std::set<std::string> m_builtin;
  std::vector<std::pair<std::string, std::string>> m_builtin_aliases;
  bool m_have_dep = false;
  std::map<std::string, std::vector<std::string>> m_dep_lines;
  std::map<std::string, std::vector<std::string>> m_softdep_lines;
  mutable std::map<std::string, std::string> m_text;
  std::map<std::string, ModInfo> m_info;
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string close_matches(const Index& index, const std::string& name) {
  std::vector<std::pair<std::size_t, std::string>> scored;
  auto consider = [&](const std::string& cand) {
    const std::size_t d = edit_distance(name, cand);
    const bool sub = name.size() >= 3 && cand.find(name) != std::string::npos;
    if (d <= 2 || sub) scored.emplace_back(sub ? std::min<std::size_t>(d, 3) : d, cand);
  };
  for (const auto& [cand, rel] : index.paths()) consider(cand);
  for (const auto& cand : index.builtin()) consider(cand);
  std::sort(scored.begin(), scored.end());
  scored.erase(std::unique(scored.begin(), scored.end()), scored.end());
  if (scored.empty()) return "no close matches";
  std::string out = "close matches: ";
  for (std::size_t i = 0; i < scored.size() && i < 8; ++i) {
    if (i) out += ", ";
    out += scored[i].second;
  }
  return out;
}

struct Closure {
  std::set<std::string> modules;
  std::set<std::string> builtin;
};

Closure compute_closure(Index& index, const std::vector<std::string>& names) {
  Closure c;
  std::deque<std::string> queue;
  // Resolves a name to modules to load; false when nothing is known under that name.
  auto resolve = [&](const std::string& raw, bool requested) {
    const std::string name = canon(raw);
    if (index.is_module(name)) {
      queue.push_back(name);
      return;
    }
    if (index.is_builtin(name)) {
      c.builtin.insert(name);
      return;
    }
    bool builtin = false;
    const auto mods = index.resolve_alias(raw, builtin);
    if (builtin) c.builtin.insert(raw);
    for (const auto& m : mods) queue.push_back(m);
    if (!builtin && mods.empty() && requested)
      fail(ErrorKind::input, "{}: unknown kernel module '{}' ({})", index.pkg().modules_dir, raw,
           close_matches(index, name));
  };
  for (const auto& n : names) resolve(n, true);
  while (!queue.empty()) {
    const std::string name = queue.front();
    queue.pop_front();
    if (!c.modules.insert(name).second) continue;
    const ModInfo& info = index.info(name);
    for (const auto& dep : info.depends) {
      if (index.is_module(dep)) queue.push_back(dep);
      else if (index.is_builtin(dep)) c.builtin.insert(dep);
      else
        fail(ErrorKind::input, "{}: module '{}' depends on unknown module '{}'",
             index.pkg().modules_dir, name, dep);
    }
    for (const auto& [kind, dep] : info.softdeps) resolve(dep, false); // unknown: skipped
  }
  return c;
}

// All dependencies of `name`, each listed before its own dependencies (as depmod writes them:
// modprobe loads the list from the end).
std::vector<std::string> sorted_deps(Index& index, const std::string& name) {
  std::vector<std::string> post;
  std::set<std::string> seen{name};
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    for (const auto& d : index.info(n).depends) {
      if (!index.is_module(d) || !seen.insert(d).second) continue;
      visit(d);
      post.push_back(d);
    }
  };
  visit(name);
  return {post.rbegin(), post.rend()};
}

} // namespace

std::string module_name(std::string_view path_or_name) {
  std::string_view base = base_name(path_or_name);
  for (auto s : k_module_suffixes)
    if (ends_with(base, s)) {
      base = base.substr(0, base.size() - s.size());
      break;
    }
  return canon(base);
}

KernelPackage read_kernel_package(ByteSpan data, std::string_view name,
                                  const ArchiveLimits& limits) {
  const auto keep = [](const std::string& path) {
    std::string dir, release;
    if (!split_modules_path(path, dir, release)) return false;
    const std::string_view base = base_name(path);
    return is_module_file(path) || starts_with(base, "modules.");
  };
  const auto entries = read_archive_input(data, name, limits, keep);
  KernelPackage pkg;
  std::set<std::string> dirs;
  for (const auto& e : entries) {
    std::string dir, release;
    if (!split_modules_path(e.path, dir, release)) continue;
    if (e.path == dir) continue;
    dirs.insert(dir);
    if (dirs.size() > 1)
      fail(ErrorKind::input, "{}: more than one kernel module directory: {} and {}", name,
           *dirs.begin(), *dirs.rbegin());
    pkg.modules_dir = dir;
    pkg.release = release;
    pkg.files[e.path.substr(dir.size() + 1)] = e; // duplicates: last wins
  }
  if (dirs.empty())
    fail(ErrorKind::input, "{}: no lib/modules/<version>/ or usr/lib/modules/<version>/ inside",
         name);
  return pkg;
}

std::string kernel_release(const KernelPackage& package) { return package.release; }

std::string kernel_release(ByteSpan data, std::string_view name, const ArchiveLimits& limits) {
  const auto entries = read_archive_input(data, name, limits,
                                          [](const std::string&) { return false; });
  std::set<std::string> releases;
  for (const auto& e : entries) {
    std::string dir, release;
    if (split_modules_path(e.path, dir, release)) releases.insert(release);
  }
  if (releases.size() != 1)
    fail(ErrorKind::input, "{}: expected one lib/modules/<version>/ directory, found {}", name,
         releases.size());
  return *releases.begin();
}

ModuleSelection select_modules(const KernelPackage& package,
                               const std::vector<std::string>& names) {
  Index index(package);
  const Closure c = compute_closure(index, names);
  ModuleSelection sel;
  sel.modules.assign(c.modules.begin(), c.modules.end());
  sel.builtin.assign(c.builtin.begin(), c.builtin.end());
  for (const auto& m : sel.modules) sel.files.push_back(index.path_of(m));
  std::sort(sel.files.begin(), sel.files.end());
  return sel;
}

ModuleSelection install_modules(FileTree& tree, const KernelPackage& package,
                                const std::vector<std::string>& names, std::size_t layer) {
  Index index(package);
  const Closure c = compute_closure(index, names);
  ModuleSelection sel;
  sel.modules.assign(c.modules.begin(), c.modules.end());
  sel.builtin.assign(c.builtin.begin(), c.builtin.end());
  for (const auto& m : sel.modules) sel.files.push_back(index.path_of(m));
  std::sort(sel.files.begin(), sel.files.end());

  const std::string dir = "/" + package.modules_dir;
  const std::string op = fmt::format("modules from {}", package.modules_dir);
  for (const auto& rel : sel.files) {
    const ArchiveEntry& e = package.files.at(rel);
    Node node;
    node.type = NodeType::regular;
    node.mode = e.mode & 0777; // never setuid on a module file
    node.uid = e.uid;
    node.gid = e.gid;
    node.content = e.content;
    node.layer = layer;
    tree.put(join_path(dir, rel), std::move(node), op);
  }

  // Module order: modules.order if the package has it, else path order.
  std::vector<std::string> order;
  std::set<std::string> in_order;
  std::string order_text;
  if (const std::string* text = index.text_file("modules.order")) {
    for (auto line : split_lines(*text)) {
      if (line.empty()) continue;
      const std::string n = module_name(line);
      if (!c.modules.count(n)) continue;
      order_text += std::string(line) + "\n";
      if (in_order.insert(n).second) order.push_back(n);
    }
  }
  std::vector<std::string> by_path = sel.modules;
  std::sort(by_path.begin(), by_path.end(), [&](const std::string& a, const std::string& b) {
    return index.path_of(a) < index.path_of(b);
  });
  for (const auto& n : by_path)
    if (in_order.insert(n).second) order.push_back(n);

  std::string dep_text, softdep_text, alias_text;
  for (const auto& n : by_path) {
    dep_text += index.path_of(n) + ":";
    for (const auto& d : sorted_deps(index, n)) dep_text += " " + index.path_of(d);
    dep_text += "\n";
  }
  for (const auto& n : order) {
    const ModInfo& info = index.info(n);
    for (const auto& line : info.softdep_lines)
      softdep_text += fmt::format("softdep {} {}\n", n, line);
    for (const auto& a : info.aliases) alias_text += fmt::format("alias {} {}\n", a, n);
  }

  auto put_text = [&](const std::string& file, std::string text) {
    Node node;
    node.type = NodeType::regular;
    node.mode = 0644;
    node.layer = layer;
    node.content = Content::make(to_bytes(text));
    tree.put(join_path(dir, file), std::move(node), op);
  };
  put_text("modules.dep", dep_text);
  put_text("modules.softdep", "# Soft dependencies extracted from modules themselves.\n" +
                                  softdep_text);
  put_text("modules.alias", "# Aliases extracted from modules themselves.\n" + alias_text);
  if (index.text_file("modules.order")) put_text("modules.order", order_text);
  for (const char* copy : {"modules.builtin", "modules.builtin.modinfo"}) {
    auto it = package.files.find(copy);
    if (it == package.files.end() || it->second.type != EntryType::regular ||
        !it->second.content.data)
      continue;
    Node node;
    node.type = NodeType::regular;
    node.mode = it->second.mode & 0777;
    node.uid = it->second.uid;
    node.gid = it->second.gid;
    node.content = it->second.content;
    node.layer = layer;
    tree.put(join_path(dir, copy), std::move(node), op);
  }
  return sel;
}

} // namespace tdximg::rootfs
