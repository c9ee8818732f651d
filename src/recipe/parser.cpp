#include "json_read.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <set>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace tdximg::recipe {

using detail::child;
using detail::json;
using detail::Obj;
using detail::read_string;
using detail::show;
using detail::Where;

namespace {

constexpr std::uint64_t k_max_id = 0xFFFFFFFEULL;     // uid/gid; (uid_t)-1 means "unchanged"
constexpr std::uint64_t k_max_major = (1U << 12) - 1; // Linux dev_t: 12-bit major
constexpr std::uint64_t k_max_minor = (1U << 20) - 1; //             20-bit minor
constexpr std::size_t k_max_extends_depth = 32;

constexpr std::string_view k_op_kinds[] = {"extract",  "file",    "dir",      "symlink",
                                           "hardlink", "chardev", "blockdev", "fifo",
                                           "remove",   "chmod",   "chown",    "modules"};
constexpr std::string_view k_outputs[] = {"initramfs", "uki", "raw", "vhd", "gcp"};
constexpr std::string_view k_platforms[] = {"qemu", "azure", "tdx"};
constexpr std::string_view k_section_orders[] = {"linux-last", "ukify-257"};
constexpr std::string_view k_vmms[] = {"qemu", "qemu-8-two-pass"};
constexpr std::string_view k_tdx_registers[] = {"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"};

template <std::size_t N> std::string join(const std::string_view (&list)[N]) {
  std::string out;
  for (std::string_view s : list)
    out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Names of inputs, layers, recipes and VM shapes end up in file names and messages.
std::string read_name(const Where& w, const json& v, const std::string& ptr) {
  std::string s = read_string(w, v, ptr, false);
  if (!std::all_of(s.begin(), s.end(), is_name_char) || s == "." || s == "..")
    w.fail_at(ptr, "expected a name of letters, digits, '.', '_', '-', got " + show(v));
  return s;
}

// Splits on '/', dropping empty and "." components; ".." is an error.
std::vector<std::string> path_components(const Where& w, const std::string& s,
                                         const std::string& ptr) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find('/', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    if (part == "..")
      w.fail_at(ptr, "expected a path without \"..\" components, got \"" + s + "\"");
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    i = j + 1;
  }
  return parts;
}

enum class AllowRoot { yes, no };

// An absolute path inside the image, normalized: "//a/./b/" -> "/a/b".
std::string read_image_path(const Where& w, const json& v, const std::string& ptr,
                            AllowRoot root = AllowRoot::no) {
  const std::string s = read_string(w, v, ptr, false);
  if (s.front() != '/')
    w.fail_at(ptr, "expected an absolute image path (starting with '/'), got \"" + s + "\"");
  std::string out;
  for (const std::string& p : path_components(w, s, ptr))
    out += "/" + p;
  if (out.empty()) {
    if (root == AllowRoot::no) w.fail_at(ptr, "expected a path below '/', got \"" + s + "\"");
    out = "/";
  }
  return out;
}

enum class AllowEmpty { yes, no };

// A path (or glob) inside an archive, relative: "./usr//bin/" -> "usr/bin".
std::string read_archive_path(const Where& w, const json& v, const std::string& ptr,
                              AllowEmpty empty = AllowEmpty::no) {
  const std::string s = read_string(w, v, ptr, empty == AllowEmpty::yes);
  std::string out;
  for (const std::string& p : path_components(w, s, ptr))
    out += (out.empty() ? "" : "/") + p;
  if (out.empty() && empty == AllowEmpty::no)
    w.fail_at(ptr, "expected a path inside the archive, got \"" + s + "\"");
  return out;
}

// A string, or a non-empty array of strings, each read by `one`.
template <typename F>
std::vector<std::string> read_one_or_many(const Where& w, const json& v, const std::string& ptr,
                                          F one) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(one(v, ptr));
  } else if (v.is_array()) {
    if (v.empty()) w.fail_at(ptr, "expected a non-empty array, got []");
    for (std::size_t i = 0; i < v.size(); ++i)
      out.push_back(one(v[i], child(ptr, i)));
  } else {
    w.fail_at(ptr, "expected string or array of strings, got " + show(v));
  }
  return out;
}

template <typename F>
std::vector<std::string> read_array(const Where& w, const json& v, const std::string& ptr, F one) {
  if (!v.is_array()) w.fail_at(ptr, "expected array, got " + show(v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(one(v[i], child(ptr, i)));
  return out;
}

// Modes are octal strings of 3 or 4 digits ("0755", "1777"). Integers are refused: JSON has
// no octal literals, and 755 (decimal) is a mode nobody means.
std::uint32_t read_mode(const Where& w, const json& v, const std::string& ptr) {
  if (v.is_number())
    w.fail_at(ptr, "expected an octal mode string such as \"0755\", got " + show(v) +
                       " (write modes as strings)");
  const std::string s = read_string(w, v, ptr, true);
  const bool ok = (s.size() == 3 || s.size() == 4) &&
                  std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (!ok) w.fail_at(ptr, "expected an octal mode string such as \"0755\", got \"" + s + "\"");
  std::uint32_t mode = 0;
  for (char c : s)
    mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
  return mode;
}

Owner read_owner(const Obj& o) {
  return Owner{static_cast<std::uint32_t>(o.uint_or("uid", 0, k_max_id)),
               static_cast<std::uint32_t>(o.uint_or("gid", 0, k_max_id))};
}

template <std::size_t N>
std::string read_enum(const Where& w, const json& v, const std::string& ptr,
                      const std::string_view (&allowed)[N]) {
  const std::string s = read_string(w, v, ptr, true);
  if (std::find(std::begin(allowed), std::end(allowed), s) == std::end(allowed))
    w.fail_at(ptr, "expected one of: " + join(allowed) + ", got \"" + s + "\"");
  return s;
}

// A relative host path (resolved against the declaring recipe's directory). Absolute paths
// are refused so that a recipe tree can be moved and still mean the same thing.
fs::path read_host_path(const Where& w, const json& v, const std::string& ptr,
                        const fs::path& dir) {
  const std::string s = read_string(w, v, ptr, false);
  if (s.front() == '/')
    w.fail_at(ptr, "expected a path relative to the recipe's directory, got \"" + s + "\"");
  return (dir / s).lexically_normal();
}

// ---- One file --------------------------------------------------------------------------

// What one recipe file says; `present` lists the keys it set ("name", "measure/vms", ...),
// which is what `extends` merging needs.
struct FileRecipe {
  Recipe r;
  std::set<std::string> present;
  std::optional<std::string> extends;
};

class FileParser {
public:
  FileParser(std::string display, fs::path dir)
      : m_w{std::move(display)}
      , m_dir(std::move(dir)) {}

  FileRecipe parse(const json& root) {
    const Obj top(m_w, root, "",
                  {"schema", "output_format", "name", "extends", "source_date_epoch", "inputs",
                   "layers", "kernel", "stub", "cmdline", "os_release", "os_release_file",
                   "initramfs", "uki", "outputs", "measure"});
    FileRecipe out;
    Recipe& r = out.r;
    for (const auto& [key, value] : root.items())
      out.present.insert(key);

    const json& schema = top.at("schema");
    if (!schema.is_number_integer())
      m_w.fail_at("/schema", "expected integer, got " + show(schema));
    if (schema != k_schema)
      m_w.fail_at("/schema", fmt::format("expected {}, got {} (this tdximg reads recipe schema {})",
                                         k_schema, schema.dump(), k_schema));
    if (top.has("output_format")) {
      const json& of = top.at("output_format");
      if (!of.is_number_integer())
        m_w.fail_at("/output_format", "expected integer, got " + show(of));
      if (of != k_output_format)
        m_w.fail_at("/output_format",
                    fmt::format("this tdximg writes output format {}, the recipe expects {}",
                                k_output_format, of.dump()));
    }
    if (top.has("name")) r.name = read_name(m_w, top.at("name"), "/name");
    if (top.has("extends")) out.extends = top.str("extends");
    if (top.has("source_date_epoch"))
      r.source_date_epoch = static_cast<std::int64_t>(
          top.uint("source_date_epoch",
                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
    if (top.has("inputs")) parse_inputs(top.at("inputs"), r);
    if (top.has("layers")) parse_layers(top.at("layers"), r);
    if (top.has("kernel")) r.kernel = file_ref(top.at("kernel"), "/kernel");
    if (top.has("stub")) r.stub = file_ref(top.at("stub"), "/stub");
    if (top.has("cmdline")) r.cmdline = top.str_or("cmdline", "");
    if (top.has("os_release") && top.has("os_release_file"))
      m_w.fail_at("/os_release_file", "expected either os_release or os_release_file, got both");
    if (top.has("os_release")) parse_os_release(top.at("os_release"), r);
    if (top.has("os_release_file"))
      r.os_release_file = file_ref(top.at("os_release_file"), "/os_release_file");
    if (top.has("initramfs")) parse_initramfs(top.at("initramfs"), r);
    if (top.has("uki")) parse_uki(top.at("uki"), out);
    if (top.has("outputs")) parse_outputs(top.at("outputs"), r);
    if (top.has("measure")) parse_measure(top.at("measure"), out);
    return out;
  }

private:
  void parse_inputs(const json& v, Recipe& r) {
    if (!v.is_object()) m_w.fail_at("/inputs", "expected object, got " + show(v));
    for (const auto& [name, spec] : v.items()) {
      const std::string ptr = child("/inputs", name);
      read_name(m_w, json(name), ptr);
      r.inputs[name] = parse_input(name, spec, ptr);
    }
  }

  Input parse_input(const std::string& name, const json& spec, const std::string& ptr) {
    if (!spec.is_object()) m_w.fail_at(ptr, "expected object, got " + show(spec));
    const int kinds =
        int{spec.contains("path")} + int{spec.contains("deb")} + int{spec.contains("url")};
    if (kinds != 1)
      m_w.fail_at(ptr, fmt::format("expected exactly one of: path, deb, url, got {}", kinds));
    Input in;
    in.name = name;
    if (spec.contains("path")) {
      const Obj o(m_w, spec, ptr, {"path", "sha256", "size"});
      in.kind = InputKind::path;
      in.path = read_host_path(m_w, o.at("path"), o.ptr("path"), m_dir);
      read_pins(o, in);
    } else if (spec.contains("deb")) {
      const Obj o(m_w, spec, ptr, {"deb", "version", "suite", "arch", "sha256", "size"});
      in.kind = InputKind::deb;
      in.deb.package = o.str("deb");
      check_chars(o, "deb", "abcdefghijklmnopqrstuvwxyz0123456789+-.", in.deb.package);
      in.deb.suite = o.str("suite");
      check_chars(o, "suite", "abcdefghijklmnopqrstuvwxyz0123456789-", in.deb.suite);
      if (o.has("version")) {
        in.deb.version = o.str("version");
        check_chars(
            o, "version",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+-~:", in.deb.version);
      }
      if (o.has("arch")) {
        in.deb.arch = o.str("arch");
        check_chars(o, "arch", "abcdefghijklmnopqrstuvwxyz0123456789-", in.deb.arch);
      }
      read_pins(o, in);
    } else {
      const Obj o(m_w, spec, ptr, {"url", "sha256", "size"});
      in.kind = InputKind::url;
      in.url = o.str("url");
      if (in.url.rfind("https://", 0) != 0 && in.url.rfind("http://", 0) != 0)
        m_w.fail_at(o.ptr("url"), "expected an http:// or https:// URL, got \"" + in.url + "\"");
      if (in.url.find_first_of(" \t\r\n") != std::string::npos)
        m_w.fail_at(o.ptr("url"), "expected a URL without whitespace, got \"" + in.url + "\"");
      read_pins(o, in);
    }
    return in;
  }

  void check_chars(const Obj& o, std::string_view key, std::string_view allowed,
                   const std::string& value) {
    if (value.find_first_not_of(allowed) != std::string::npos)
      m_w.fail_at(o.ptr(key),
                  fmt::format("expected only the characters [{}], got \"{}\"", allowed, value));
  }

  void read_pins(const Obj& o, Input& in) {
    if (o.has("sha256")) in.sha256 = detail::read_sha256(m_w, o.at("sha256"), o.ptr("sha256"));
    if (o.has("size")) in.size = o.uint("size", std::numeric_limits<std::uint64_t>::max());
  }

  void parse_layers(const json& v, Recipe& r) {
    if (!v.is_array()) m_w.fail_at("/layers", "expected array, got " + show(v));
    std::set<std::string> names;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string ptr = child("/layers", i);
      const Obj o(m_w, v[i], ptr, {"name", "ops"});
      Layer layer;
      layer.name = read_name(m_w, o.at("name"), o.ptr("name"));
      if (!names.insert(layer.name).second)
        m_w.fail_at(o.ptr("name"),
                    "expected a unique layer name, got \"" + layer.name + "\" a second time");
      const json& ops = o.at("ops");
      if (!ops.is_array()) m_w.fail_at(o.ptr("ops"), "expected array, got " + show(ops));
      for (std::size_t j = 0; j < ops.size(); ++j)
        layer.ops.push_back(parse_op(ops[j], child(o.ptr("ops"), j)));
      r.layers.push_back(std::move(layer));
    }
  }

  Op parse_op(const json& v, const std::string& ptr) {
    if (!v.is_object()) m_w.fail_at(ptr, "expected object, got " + show(v));
    std::vector<std::string_view> kinds;
    for (std::string_view k : k_op_kinds)
      if (v.contains(k)) kinds.push_back(k);
    if (kinds.size() != 1) {
      std::string got;
      for (std::string_view k : kinds)
        got += (got.empty() ? "" : ", ") + std::string(k);
      if (kinds.empty()) {
        for (const auto& [key, value] : v.items())
          got += (got.empty() ? "" : ", ") + key;
        m_w.fail_at(ptr, "expected exactly one op kind (" + join(k_op_kinds) +
                             "), got none (keys: " + (got.empty() ? "none" : got) + ")");
      }
      m_w.fail_at(ptr, fmt::format("expected exactly one op kind ({}), got {}: {}",
                                   join(k_op_kinds), kinds.size(), got));
    }
    const std::string_view kind = kinds.front();
    const auto image_path = [&](const json& x, const std::string& p) {
      return read_image_path(m_w, x, p);
    };
    const auto image_glob = [&](const json& x, const std::string& p) {
      return read_image_path(m_w, x, p);
    };
    const auto archive_glob = [&](const json& x, const std::string& p) {
      return read_archive_path(m_w, x, p);
    };
    const auto input_name = [&](const json& x, const std::string& p) {
      return read_name(m_w, x, p);
    };

    if (kind == "extract") {
      const Obj o(
          m_w, v, ptr,
          {"extract", "include", "exclude", "strip_prefix", "to", "allow_devices", "allow_setuid"});
      ExtractOp op;
      op.input = input_name(o.at("extract"), o.ptr("extract"));
      if (o.has("include"))
        op.include = read_array(m_w, o.at("include"), o.ptr("include"), archive_glob);
      if (o.has("exclude"))
        op.exclude = read_array(m_w, o.at("exclude"), o.ptr("exclude"), archive_glob);
      if (o.has("strip_prefix"))
        op.strip_prefix =
            read_archive_path(m_w, o.at("strip_prefix"), o.ptr("strip_prefix"), AllowEmpty::yes);
      if (o.has("to")) op.to = read_image_path(m_w, o.at("to"), o.ptr("to"), AllowRoot::yes);
      op.allow_devices = o.boolean_or("allow_devices", false);
      op.allow_setuid = o.boolean_or("allow_setuid", false);
      return op;
    }
    if (kind == "file") {
      const Obj o(m_w, v, ptr, {"file", "from", "member", "text", "mode", "uid", "gid"});
      FileOp op;
      op.path = image_path(o.at("file"), o.ptr("file"));
      if (o.has("from") == o.has("text"))
        m_w.fail_at(ptr, "expected exactly one of \"from\" (an input) or \"text\", got " +
                             std::string(o.has("from") ? "both" : "neither"));
      if (o.has("from")) op.from = input_name(o.at("from"), o.ptr("from"));
      if (o.has("text")) op.text = read_string(m_w, o.at("text"), o.ptr("text"), true);
      if (o.has("member")) {
        if (!o.has("from"))
          m_w.fail_at(o.ptr("member"), "\"member\" needs \"from\" (an archive input)");
        op.member = read_archive_path(m_w, o.at("member"), o.ptr("member"));
      }
      if (o.has("mode")) op.mode = read_mode(m_w, o.at("mode"), o.ptr("mode"));
      op.owner = read_owner(o);
      return op;
    }
    if (kind == "dir") {
      const Obj o(m_w, v, ptr, {"dir", "mode", "uid", "gid"});
      DirOp op;
      op.paths = read_one_or_many(m_w, o.at("dir"), o.ptr("dir"), image_path);
      if (o.has("mode")) op.mode = read_mode(m_w, o.at("mode"), o.ptr("mode"));
      op.owner = read_owner(o);
      return op;
    }
    if (kind == "symlink") {
      const Obj o(m_w, v, ptr, {"symlink", "target"});
      // The target is data (it may be absolute or contain ".."); it is resolved in the image.
      return SymlinkOp{image_path(o.at("symlink"), o.ptr("symlink")), o.str("target")};
    }
    if (kind == "hardlink") {
      const Obj o(m_w, v, ptr, {"hardlink", "target"});
      return HardlinkOp{image_path(o.at("hardlink"), o.ptr("hardlink")),
                        image_path(o.at("target"), o.ptr("target"))};
    }
    if (kind == "chardev" || kind == "blockdev") {
      const Obj o(m_w, v, ptr, {kind, "major", "minor", "mode", "uid", "gid"});
      DeviceOp op;
      op.type = kind == "chardev" ? DeviceType::character : DeviceType::block;
      op.path = image_path(o.at(kind), o.ptr(kind));
      op.major = static_cast<std::uint32_t>(o.uint("major", k_max_major));
      op.minor = static_cast<std::uint32_t>(o.uint("minor", k_max_minor));
      if (o.has("mode")) op.mode = read_mode(m_w, o.at("mode"), o.ptr("mode"));
      op.owner = read_owner(o);
      return op;
    }
    if (kind == "fifo") {
      const Obj o(m_w, v, ptr, {"fifo", "mode", "uid", "gid"});
      FifoOp op;
      op.path = image_path(o.at("fifo"), o.ptr("fifo"));
      if (o.has("mode")) op.mode = read_mode(m_w, o.at("mode"), o.ptr("mode"));
      op.owner = read_owner(o);
      return op;
    }
    if (kind == "remove") {
      const Obj o(m_w, v, ptr, {"remove"});
      return RemoveOp{read_one_or_many(m_w, o.at("remove"), o.ptr("remove"), image_glob)};
    }
    if (kind == "chmod") {
      const Obj o(m_w, v, ptr, {"chmod", "mode"});
      ChmodOp op;
      op.paths = read_one_or_many(m_w, o.at("chmod"), o.ptr("chmod"), image_glob);
      op.mode = read_mode(m_w, o.at("mode"), o.ptr("mode"));
      return op;
    }
    if (kind == "chown") {
      const Obj o(m_w, v, ptr, {"chown", "uid", "gid"});
      ChownOp op;
      op.paths = read_one_or_many(m_w, o.at("chown"), o.ptr("chown"), image_glob);
      o.at("uid");
      o.at("gid");
      op.owner = read_owner(o);
      return op;
    }
    // modules
    const Obj o(m_w, v, ptr, {"modules", "from"});
    ModulesOp op;
    op.from = input_name(o.at("from"), o.ptr("from"));
    op.names = read_one_or_many(
        m_w, o.at("modules"), o.ptr("modules"), [&](const json& x, const std::string& p) {
          std::string n = read_string(m_w, x, p, false);
          if (n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                  "opqrstuvwxyz0123456789_-") != std::string::npos)
            m_w.fail_at(p, "expected a module name like \"virtio_net\", got " + show(x));
          return n;
        });
    return op;
  }

  FileRef file_ref(const json& v, const std::string& ptr) {
    if (v.is_string()) return FileRef{read_name(m_w, v, ptr), ""};
    const Obj o(m_w, v, ptr, {"from", "path"});
    FileRef ref;
    ref.from = read_name(m_w, o.at("from"), o.ptr("from"));
    if (o.has("path")) ref.path = read_archive_path(m_w, o.at("path"), o.ptr("path"));
    return ref;
  }

  void parse_os_release(const json& v, Recipe& r) {
    if (!v.is_object()) m_w.fail_at("/os_release", "expected object, got " + show(v));
    for (const auto& [key, value] : v.items()) {
      const std::string ptr = child("/os_release", key);
      const bool key_ok =
          !key.empty() && !(key[0] >= '0' && key[0] <= '9') &&
          key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
      if (!key_ok) m_w.fail_at(ptr, "expected an os-release key like VERSION_ID (A-Z, 0-9, _)");
      std::string s = read_string(m_w, value, ptr, true);
      if (s.find_first_of("\n\r") != std::string::npos)
        m_w.fail_at(ptr, "expected a single-line value, got " + show(value));
      r.os_release[key] = std::move(s);
    }
  }

  void parse_initramfs(const json& v, Recipe& r) {
    const Obj o(m_w, v, "/initramfs", {"compression", "level"});
    static constexpr std::string_view k_comp[] = {"none", "gzip", "zstd", "xz"};
    const std::string c = o.has("compression")
                              ? read_enum(m_w, o.at("compression"), o.ptr("compression"), k_comp)
                              : "zstd";
    struct Range {
      Compression comp;
      int lo, hi, def;
    };
    Range range{Compression::zstd, 1, 19, 19};
    if (c == "none")
      range = {Compression::none, 0, 0, 0};
    else if (c == "gzip")
      range = {Compression::gzip, 1, 9, 9};
    else if (c == "xz")
      range = {Compression::xz, 0, 9, 6};
    r.initramfs.compression = range.comp;
    r.initramfs.level = range.def;
    if (o.has("level")) {
      if (range.comp == Compression::none)
        m_w.fail_at(o.ptr("level"), "expected no level with compression \"none\"");
      const json& l = o.at("level");
      if (!l.is_number_integer()) m_w.fail_at(o.ptr("level"), "expected integer, got " + show(l));
      // A huge unsigned value would wrap in get<int64_t>; clamp it so the range check rejects it.
      const std::int64_t level =
          l.is_number_unsigned() && l.get<std::uint64_t>() > 1000 ? 1000 : l.get<std::int64_t>();
      if (level < range.lo || level > range.hi)
        m_w.fail_at(o.ptr("level"), fmt::format("expected a {} level in {}..{}, got {}", c,
                                                range.lo, range.hi, l.dump()));
      r.initramfs.level = static_cast<int>(level);
    }
  }

  void parse_uki(const json& v, FileRecipe& out) {
    const Obj o(m_w, v, "/uki", {"splash", "dtb", "sbat", "section_order"});
    if (o.has("section_order"))
      out.r.uki.section_order = read_enum(m_w, o.at("section_order"), o.ptr("section_order"), k_section_orders);
    if (o.has("splash")) out.r.uki.splash = file_ref(o.at("splash"), o.ptr("splash"));
    if (o.has("dtb")) out.r.uki.dtb = file_ref(o.at("dtb"), o.ptr("dtb"));
    if (o.has("sbat")) out.r.uki.sbat = read_string(m_w, o.at("sbat"), o.ptr("sbat"), false);
    for (const auto& [key, value] : v.items())
      out.present.insert("uki/" + key);
  }

  void parse_outputs(const json& v, Recipe& r) {
    r.outputs = read_array(m_w, v, "/outputs", [&](const json& x, const std::string& p) {
      return read_enum(m_w, x, p, k_outputs);
    });
    if (r.outputs.empty()) m_w.fail_at("/outputs", "expected at least one output, got []");
    unique(r.outputs, "/outputs");
  }

  void unique(const std::vector<std::string>& list, const std::string& ptr) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (!seen.insert(list[i]).second)
        m_w.fail_at(child(ptr, i), "expected each value once, got \"" + list[i] + "\" again");
  }

  void parse_measure(const json& v, FileRecipe& out) {
    const Obj o(m_w, v, "/measure",
                {"platforms", "secure_boot", "firmware", "vmm", "vms", "rtmr0_calibration", "tdx_pin",
                 "secure_boot_vars", "secure_boot_db_cert"});
    MeasureSpec& m = out.r.measure;
    for (const auto& [key, value] : v.items())
      out.present.insert("measure/" + key);
    if (o.has("platforms")) {
      m.platforms = read_array(
          m_w, o.at("platforms"), o.ptr("platforms"),
          [&](const json& x, const std::string& p) { return read_enum(m_w, x, p, k_platforms); });
      if (m.platforms.empty())
        m_w.fail_at(o.ptr("platforms"), "expected at least one platform, got []");
      unique(m.platforms, o.ptr("platforms"));
    }
    if (o.has("secure_boot")) {
      const json& sb = o.at("secure_boot");
      m.secure_boot.clear();
      if (sb.is_boolean()) {
        m.secure_boot.push_back(sb.get<bool>());
      } else if (sb.is_array() && !sb.empty()) {
        for (std::size_t i = 0; i < sb.size(); ++i) {
          const bool b = detail::read_bool(m_w, sb[i], child(o.ptr("secure_boot"), i));
          if (std::find(m.secure_boot.begin(), m.secure_boot.end(), b) != m.secure_boot.end())
            m_w.fail_at(child(o.ptr("secure_boot"), i), "expected each value once");
          m.secure_boot.push_back(b);
        }
      } else {
        m_w.fail_at(o.ptr("secure_boot"),
                    "expected boolean or non-empty array of booleans, got " + show(sb));
      }
    }
    if (o.has("firmware")) m.firmware = file_ref(o.at("firmware"), o.ptr("firmware"));
    if (o.has("secure_boot_vars")) {
      // One file reference, or an array of them (one per Secure Boot state).
      const json& sv = o.at("secure_boot_vars");
      const std::string ptr = o.ptr("secure_boot_vars");
      if (sv.is_array()) {
        if (sv.empty() || sv.size() > 2)
          m_w.fail_at(ptr, "expected 1 or 2 file references (one per Secure Boot state), got " +
                               std::to_string(sv.size()));
        for (std::size_t i = 0; i < sv.size(); ++i)
          m.secure_boot_vars.push_back(file_ref(sv[i], child(ptr, i)));
      } else if (sv.is_object() || sv.is_string()) {
        m.secure_boot_vars.push_back(file_ref(sv, ptr));
      } else {
        m_w.fail_at(ptr, "expected a file reference or an array of them, got " + show(sv));
      }
    }
    if (o.has("secure_boot_db_cert"))
      m.secure_boot_db_cert = file_ref(o.at("secure_boot_db_cert"), o.ptr("secure_boot_db_cert"));
    if (o.has("vmm")) m.vmm = read_enum(m_w, o.at("vmm"), o.ptr("vmm"), k_vmms);
    if (o.has("tdx_pin")) {
      m.tdx_pin = read_array(
          m_w, o.at("tdx_pin"), o.ptr("tdx_pin"),
          [&](const json& x, const std::string& p) { return read_enum(m_w, x, p, k_tdx_registers); });
      if (m.tdx_pin.empty()) m_w.fail_at(o.ptr("tdx_pin"), "expected at least one register, got []");
      unique(m.tdx_pin, o.ptr("tdx_pin"));
    }
    if (o.has("vms")) {
      const json& vms = o.at("vms");
      if (!vms.is_array()) m_w.fail_at(o.ptr("vms"), "expected array, got " + show(vms));
      std::set<std::string> names;
      for (std::size_t i = 0; i < vms.size(); ++i) {
        const std::string ptr = child(o.ptr("vms"), i);
        const Obj vm(m_w, vms[i], ptr, {"name", "memory", "cpus"});
        VmShape shape;
        shape.memory_bytes = read_memory(vm.at("memory"), vm.ptr("memory"));
        shape.cpus = static_cast<std::uint32_t>(vm.uint("cpus", 4096));
        if (shape.cpus == 0) m_w.fail_at(vm.ptr("cpus"), "expected at least 1 cpu, got 0");
        shape.name =
            vm.has("name") ? read_name(m_w, vm.at("name"), vm.ptr("name")) : default_vm_name(shape);
        if (!names.insert(shape.name).second)
          m_w.fail_at(ptr, "expected a unique VM shape name, got \"" + shape.name + "\" again");
        m.vms.push_back(std::move(shape));
      }
    }
    if (o.has("rtmr0_calibration"))
      m.rtmr0_calibration =
          read_host_path(m_w, o.at("rtmr0_calibration"), o.ptr("rtmr0_calibration"), m_dir);
  }

  // Bytes, or "<n><unit>" with K, M, G, T (powers of 1024; "KiB" etc. also accepted).
  std::uint64_t read_memory(const json& v, const std::string& ptr) {
    std::uint64_t bytes = 0;
    if (v.is_number()) {
      bytes = detail::read_uint(m_w, v, ptr, std::numeric_limits<std::uint64_t>::max());
    } else {
      const std::string s = read_string(m_w, v, ptr, false);
      std::size_t i = 0;
      std::uint64_t n = 0;
      bool overflow = false;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        const auto d = static_cast<std::uint64_t>(s[i] - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
        n = n * 10 + d;
        ++i;
      }
      std::string unit = s.substr(i);
      if (unit.size() == 3 && unit.substr(1) == "iB") unit = unit.substr(0, 1);
      int shift = -1;
      if (unit.empty())
        shift = 0;
      else if (unit == "K")
        shift = 10;
      else if (unit == "M")
        shift = 20;
      else if (unit == "G")
        shift = 30;
      else if (unit == "T")
        shift = 40;
      if (i == 0 || shift < 0)
        m_w.fail_at(ptr, "expected a size such as \"2G\", \"512M\" or bytes, got \"" + s + "\"");
      if (overflow || n > (std::numeric_limits<std::uint64_t>::max() >> shift))
        m_w.fail_at(ptr, "expected a size that fits in 64 bits, got \"" + s + "\"");
      bytes = n << shift;
    }
    if (bytes == 0) m_w.fail_at(ptr, "expected a memory size above 0, got 0");
    return bytes;
  }

  static std::string default_vm_name(const VmShape& s) {
    static constexpr std::pair<int, const char*> k_units[] = {
        {40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}};
    std::string mem = std::to_string(s.memory_bytes);
    for (const auto& [shift, unit] : k_units) {
      const std::uint64_t u = 1ULL << shift;
      if (s.memory_bytes % u == 0) {
        mem = std::to_string(s.memory_bytes / u) + unit;
        break;
      }
    }
    return std::to_string(s.cpus) + "cpu-" + mem;
  }

  Where m_w;
  fs::path m_dir;
};

// ---- extends -----------------------------------------------------------------------------

// Where each merged value came from ("base/recipe.json: /layers/0"), for errors found after
// merging (a `from` naming an input that no file declares).
using Origins = std::map<std::string, std::string>;

void merge(Recipe& acc, Origins& origins, FileRecipe&& f, const std::string& display) {
  Recipe& c = f.r;
  const auto has = [&](const char* key) { return f.present.count(key) != 0; };
  const auto from = [&](const std::string& ptr) { return display + ": " + ptr; };
  if (has("name")) acc.name = c.name;
  if (has("source_date_epoch")) acc.source_date_epoch = c.source_date_epoch;
  for (auto& [name, input] : c.inputs)
    acc.inputs[name] = std::move(input);
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    // A child layer with a base layer's name replaces it in place; others are appended.
    const auto it = std::find_if(acc.layers.begin(), acc.layers.end(),
                                 [&](const Layer& l) { return l.name == c.layers[i].name; });
    const std::size_t index = it == acc.layers.end()
                                  ? acc.layers.size()
                                  : static_cast<std::size_t>(it - acc.layers.begin());
    if (it == acc.layers.end())
      acc.layers.push_back(std::move(c.layers[i]));
    else
      *it = std::move(c.layers[i]);
    origins[child("/layers", index)] = from(child("/layers", i));
  }
  if (has("kernel")) acc.kernel = c.kernel, origins["/kernel"] = from("/kernel");
  if (has("stub")) acc.stub = c.stub, origins["/stub"] = from("/stub");
  if (has("cmdline")) acc.cmdline = c.cmdline;
  // os_release merges by key; setting one form of os-release drops the inherited other form.
  if (has("os_release")) {
    acc.os_release_file.reset();
    for (auto& [k, v] : c.os_release)
      acc.os_release[k] = std::move(v);
  }
  if (has("os_release_file")) {
    acc.os_release.clear();
    acc.os_release_file = c.os_release_file;
    origins["/os_release_file"] = from("/os_release_file");
  }
  if (has("initramfs")) acc.initramfs = c.initramfs;
  if (has("uki/splash"))
    acc.uki.splash = c.uki.splash, origins["/uki/splash"] = from("/uki/splash");
  if (has("uki/dtb")) acc.uki.dtb = c.uki.dtb, origins["/uki/dtb"] = from("/uki/dtb");
  if (has("uki/sbat")) acc.uki.sbat = c.uki.sbat;
  if (has("uki/section_order")) acc.uki.section_order = c.uki.section_order;
  if (has("outputs")) acc.outputs = c.outputs;
  MeasureSpec& m = acc.measure;
  if (has("measure/platforms")) m.platforms = c.measure.platforms;
  if (has("measure/secure_boot")) m.secure_boot = c.measure.secure_boot;
  if (has("measure/firmware"))
    m.firmware = c.measure.firmware, origins["/measure/firmware"] = from("/measure/firmware");
  if (has("measure/vmm")) m.vmm = c.measure.vmm;
  if (has("measure/vms")) m.vms = c.measure.vms;
  if (has("measure/rtmr0_calibration")) m.rtmr0_calibration = c.measure.rtmr0_calibration;
  if (has("measure/tdx_pin")) m.tdx_pin = c.measure.tdx_pin;
  if (has("measure/secure_boot_vars")) {
    m.secure_boot_vars = c.measure.secure_boot_vars;
    for (std::size_t i = 0; i < m.secure_boot_vars.size(); ++i)
      origins[child("/measure/secure_boot_vars", i)] = from(child("/measure/secure_boot_vars", i));
  }
  if (has("measure/secure_boot_db_cert"))
    m.secure_boot_db_cert = c.measure.secure_boot_db_cert,
    origins["/measure/secure_boot_db_cert"] = from("/measure/secure_boot_db_cert");
}

struct Loaded {
  fs::path file;       // absolute
  std::string display; // as the user would write it
  FileRecipe recipe;
};

fs::path absolute_normal(const fs::path& p) {
  return fs::absolute(p).lexically_normal();
}

void load_chain(const fs::path& file, const std::string& display, const std::string* given_text,
                std::vector<std::pair<fs::path, std::string>>& stack, std::vector<Loaded>& out) {
  const fs::path abs = absolute_normal(file);
  std::error_code ec;
  fs::path key = fs::weakly_canonical(abs, ec);
  if (ec) key = abs;
  for (const auto& [seen, seen_display] : stack) {
    if (seen != key) continue;
    std::string chain;
    for (const auto& [p, d] : stack)
      chain += d + " -> ";
    fail(ErrorKind::input, "{}: /extends: extends cycle: {}{}", stack.back().second, chain,
         display);
  }
  if (stack.size() >= k_max_extends_depth)
    fail(ErrorKind::input, "{}: /extends: more than {} levels of extends", stack.back().second,
         k_max_extends_depth);
  const std::string text = given_text != nullptr ? *given_text : read_text_file(abs);
  const json root = detail::parse_json(text, display, /*comments=*/true);
  FileParser parser(display, abs.parent_path());
  FileRecipe recipe = parser.parse(root);
  stack.emplace_back(key, display);
  if (recipe.extends) {
    const fs::path base = abs.parent_path() / *recipe.extends;
    fs::path base_file = base;
    std::string base_display =
        (fs::path(display).parent_path() / *recipe.extends).lexically_normal().string();
    std::error_code dir_ec;
    if (fs::is_directory(base, dir_ec)) {
      base_file = base / "recipe.json";
      base_display = (fs::path(base_display) / "recipe.json").string();
    }
    std::error_code file_ec;
    if (!fs::is_regular_file(base_file, file_ec))
      fail(ErrorKind::input, "{}: /extends: base recipe \"{}\" not found (looked for {})", display,
           *recipe.extends, base_file.lexically_normal().string());
    load_chain(base_file, base_display, nullptr, stack, out);
  }
  stack.pop_back();
  out.push_back(Loaded{abs, display, std::move(recipe)});
}

void check_from(const Recipe& r, const std::string& name, const std::string& where,
                const std::string& field) {
  if (r.inputs.count(name) != 0) return;
  std::string declared;
  for (const auto& [n, in] : r.inputs)
    declared += (declared.empty() ? "" : ", ") + n;
  fail(ErrorKind::input, "{}/{}: expected a declared input, got \"{}\" (declared: {})", where,
       field, name, declared.empty() ? "none" : declared);
}

// Every `from` must name an input declared somewhere in the chain.
void check_references(const Recipe& r, const Origins& origins) {
  const auto origin = [&](const std::string& ptr) {
    const auto it = origins.find(ptr);
    return it == origins.end() ? r.file.string() + ": " + ptr : it->second;
  };
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    const std::string layer = origin(child("/layers", i));
    for (std::size_t j = 0; j < r.layers[i].ops.size(); ++j) {
      const std::string where = layer + "/ops/" + std::to_string(j);
      std::visit(
          [&](const auto& op) {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, ExtractOp>)
              check_from(r, op.input, where, "extract");
            else if constexpr (std::is_same_v<T, FileOp>) {
              if (op.from) check_from(r, *op.from, where, "from");
            } else if constexpr (std::is_same_v<T, ModulesOp>)
              check_from(r, op.from, where, "from");
          },
          r.layers[i].ops[j]);
    }
  }
  const std::pair<const std::optional<FileRef>*, const char*> refs[] = {
      {&r.kernel, "/kernel"},
      {&r.stub, "/stub"},
      {&r.os_release_file, "/os_release_file"},
      {&r.uki.splash, "/uki/splash"},
      {&r.uki.dtb, "/uki/dtb"},
      {&r.measure.firmware, "/measure/firmware"},
      {&r.measure.secure_boot_db_cert, "/measure/secure_boot_db_cert"}};
  for (const auto& [ref, ptr] : refs)
    if (*ref) check_from(r, (*ref)->from, origin(ptr), "from");
  for (std::size_t i = 0; i < r.measure.secure_boot_vars.size(); ++i)
    check_from(r, r.measure.secure_boot_vars[i].from,
               origin(child("/measure/secure_boot_vars", i)), "from");
}

// PCR 7 inputs make sense only for qemu (the OVMF configurations), and a db certificate only
// with a variable store; said at load time, naming where the key was set.
void check_pcr7(const Recipe& r, const Origins& origins) {
  const auto origin = [&](const std::string& ptr) {
    const auto it = origins.find(ptr);
    return it == origins.end() ? r.file.string() + ": " + ptr : it->second;
  };
  const MeasureSpec& m = r.measure;
  if (!m.secure_boot_vars.empty() &&
      std::find(m.platforms.begin(), m.platforms.end(), "qemu") == m.platforms.end()) {
    std::string platforms;
    for (const auto& p : m.platforms) platforms += (platforms.empty() ? "\"" : ", \"") + p + "\"";
    fail(ErrorKind::input,
         "{}: PCR 7 from a variable store is predicted for platform \"qemu\" only, but "
         "/measure/platforms is [{}]",
         origin("/measure/secure_boot_vars/0"), platforms);
  }
  if (m.secure_boot_db_cert && m.secure_boot_vars.empty())
    fail(ErrorKind::input,
         "{}: a db certificate is used only with /measure/secure_boot_vars, which is not set",
         origin("/measure/secure_boot_db_cert"));
}

// ---- canonical JSON ------------------------------------------------------------------------

json owner_json(json j, const Owner& o) {
  j["uid"] = o.uid;
  j["gid"] = o.gid;
  return j;
}

json op_json(const Op& any) {
  return std::visit(
      [](const auto& op) -> json {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, ExtractOp>) {
          return {{"extract", op.input},
                  {"include", op.include},
                  {"exclude", op.exclude},
                  {"strip_prefix", op.strip_prefix},
                  {"to", op.to},
                  {"allow_devices", op.allow_devices},
                  {"allow_setuid", op.allow_setuid}};
        } else if constexpr (std::is_same_v<T, FileOp>) {
          json j{{"file", op.path}, {"mode", format_mode(op.mode)}};
          if (op.from) j["from"] = *op.from;
          if (op.member) j["member"] = *op.member;
          if (op.text) j["text"] = *op.text;
          return owner_json(j, op.owner);
        } else if constexpr (std::is_same_v<T, DirOp>) {
          return owner_json({{"dir", op.paths}, {"mode", format_mode(op.mode)}}, op.owner);
        } else if constexpr (std::is_same_v<T, SymlinkOp>) {
          return {{"symlink", op.path}, {"target", op.target}};
        } else if constexpr (std::is_same_v<T, HardlinkOp>) {
          return {{"hardlink", op.path}, {"target", op.target}};
        } else if constexpr (std::is_same_v<T, DeviceOp>) {
          const char* kind = op.type == DeviceType::character ? "chardev" : "blockdev";
          return owner_json({{kind, op.path},
                             {"major", op.major},
                             {"minor", op.minor},
                             {"mode", format_mode(op.mode)}},
                            op.owner);
        } else if constexpr (std::is_same_v<T, FifoOp>) {
          return owner_json({{"fifo", op.path}, {"mode", format_mode(op.mode)}}, op.owner);
        } else if constexpr (std::is_same_v<T, RemoveOp>) {
          return {{"remove", op.paths}};
        } else if constexpr (std::is_same_v<T, ChmodOp>) {
          return {{"chmod", op.paths}, {"mode", format_mode(op.mode)}};
        } else if constexpr (std::is_same_v<T, ChownOp>) {
          return owner_json({{"chown", op.paths}}, op.owner);
        } else {
          return {{"modules", op.names}, {"from", op.from}};
        }
      },
      any);
}

json layer_json(const Layer& l) {
  json ops = json::array();
  for (const Op& op : l.ops)
    ops.push_back(op_json(op));
  return {{"name", l.name}, {"ops", ops}};
}

json ref_json(const FileRef& f) {
  json j{{"from", f.from}};
  if (!f.path.empty()) j["path"] = f.path;
  return j;
}

std::string relative_to(const fs::path& p, const fs::path& dir) {
  const fs::path rel = p.lexically_relative(dir);
  return rel.empty() ? p.generic_string() : rel.generic_string();
}

} // namespace

fs::path recipe_file_for(const fs::path& recipe) {
  std::error_code ec;
  if (!fs::is_directory(recipe, ec)) return recipe; // errors surface when the file is read
  const fs::path file = recipe / "recipe.json";
  if (!fs::exists(file, ec))
    fail(ErrorKind::input, "{}: is a directory without recipe.json", recipe.string());
  return file;
}

namespace {
Recipe load(const fs::path& file, const std::string* text) {
  std::vector<std::pair<fs::path, std::string>> stack;
  std::vector<Loaded> chain;
  load_chain(file, file.string(), text, stack, chain);

  Recipe r;
  Origins origins;
  for (Loaded& l : chain) {
    r.chain.push_back(l.file);
    merge(r, origins, std::move(l.recipe), l.display);
  }
  r.file = chain.back().file;
  if (r.name.empty())
    fail(ErrorKind::input, "{}: /: missing required key \"name\" (in the recipe or a base)",
         file.string());
  check_references(r, origins);
  check_pcr7(r, origins);
  return r;
}
} // namespace

Recipe load_recipe(const fs::path& recipe) {
  return load(recipe_file_for(recipe), nullptr);
}

Recipe parse_recipe_text(std::string_view text, const fs::path& file) {
  const std::string copy(text);
  return load(file, &copy);
}

std::int64_t parse_source_date_epoch(std::string_view value, std::string_view what) {
  // The reproducible-builds spec: "an integer ... identical to the output of date +%s".
  const bool digits = !value.empty() && std::all_of(value.begin(), value.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (value.size() > 1 && value[0] == '0'))
    fail(ErrorKind::input,
         "{}: expected a non-negative decimal integer (seconds since 1970, like `date +%s`), got "
         "\"{}\"",
         what, value);
  std::int64_t n = 0;
  for (char c : value) {
    const int d = c - '0';
    if (n > (std::numeric_limits<std::int64_t>::max() - d) / 10)
      fail(ErrorKind::input, "{}: value \"{}\" does not fit in 64 bits", what, value);
    n = n * 10 + d;
  }
  return n;
}

std::int64_t effective_source_date_epoch(const Recipe& recipe) {
  if (const char* env = std::getenv("SOURCE_DATE_EPOCH"))
    return parse_source_date_epoch(env, "SOURCE_DATE_EPOCH (environment)");
  if (recipe.source_date_epoch) return *recipe.source_date_epoch;
  fail(ErrorKind::input,
       "{}: no SOURCE_DATE_EPOCH: set \"source_date_epoch\" in the recipe (e.g. 1735689600) or "
       "the SOURCE_DATE_EPOCH environment variable (e.g. $(git log -1 --format=%ct))",
       recipe.file.string());
}

std::string canonical_json(const Recipe& r) {
  const fs::path top = r.file.parent_path();
  json j;
  j["schema"] = r.schema;
  j["output_format"] = r.output_format;
  j["name"] = r.name;
  if (r.source_date_epoch) j["source_date_epoch"] = *r.source_date_epoch;
  j["inputs"] = json::object();
  for (const auto& [name, in] : r.inputs) {
    json i;
    switch (in.kind) {
    case InputKind::path:
      i["path"] = relative_to(in.path, top);
      break;
    case InputKind::deb:
      i["deb"] = in.deb.package;
      i["suite"] = in.deb.suite;
      i["arch"] = in.deb.arch;
      if (!in.deb.version.empty()) i["version"] = in.deb.version;
      break;
    case InputKind::url:
      i["url"] = in.url;
      break;
    }
    if (!in.sha256.empty()) i["sha256"] = in.sha256;
    if (in.size) i["size"] = *in.size;
    j["inputs"][name] = i;
  }
  j["layers"] = json::array();
  for (const Layer& l : r.layers)
    j["layers"].push_back(layer_json(l));
  if (r.kernel) j["kernel"] = ref_json(*r.kernel);
  if (r.stub) j["stub"] = ref_json(*r.stub);
  j["cmdline"] = r.cmdline;
  if (r.os_release_file)
    j["os_release_file"] = ref_json(*r.os_release_file);
  else
    j["os_release"] = r.os_release;
  j["initramfs"] = {{"compression", compression_name(r.initramfs.compression)}};
  if (r.initramfs.compression != Compression::none) j["initramfs"]["level"] = r.initramfs.level;
  j["uki"] = json::object();
  if (r.uki.splash) j["uki"]["splash"] = ref_json(*r.uki.splash);
  if (r.uki.dtb) j["uki"]["dtb"] = ref_json(*r.uki.dtb);
  if (r.uki.sbat) j["uki"]["sbat"] = *r.uki.sbat;
  j["uki"]["section_order"] = r.uki.section_order;
  j["outputs"] = r.outputs;
  json m{{"platforms", r.measure.platforms}, {"vmm", r.measure.vmm}, {"vms", json::array()}};
  m["secure_boot"] = json::array();
  for (bool b : r.measure.secure_boot)
    m["secure_boot"].push_back(b);
  if (r.measure.firmware) m["firmware"] = ref_json(*r.measure.firmware);
  for (const VmShape& vm : r.measure.vms)
    m["vms"].push_back({{"name", vm.name}, {"memory", vm.memory_bytes}, {"cpus", vm.cpus}});
  if (r.measure.rtmr0_calibration)
    m["rtmr0_calibration"] = relative_to(*r.measure.rtmr0_calibration, top);
  if (!r.measure.tdx_pin.empty()) m["tdx_pin"] = r.measure.tdx_pin;
  // Written only when set, so the digest of recipes without them is unchanged.
  if (!r.measure.secure_boot_vars.empty()) {
    m["secure_boot_vars"] = json::array();
    for (const FileRef& f : r.measure.secure_boot_vars) m["secure_boot_vars"].push_back(ref_json(f));
  }
  if (r.measure.secure_boot_db_cert) m["secure_boot_db_cert"] = ref_json(*r.measure.secure_boot_db_cert);
  j["measure"] = m;
  return j.dump(-1, ' ', false, json::error_handler_t::strict);
}

std::string layer_canonical_json(const Layer& layer) {
  return layer_json(layer).dump(-1, ' ', false, json::error_handler_t::strict);
}

std::vector<std::string> layer_input_names(const Layer& layer) {
  std::set<std::string> names;
  for (const Op& any : layer.ops) {
    std::visit(
        [&](const auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, ExtractOp>) names.insert(op.input);
          else if constexpr (std::is_same_v<T, FileOp>) {
            if (op.from) names.insert(*op.from);
          } else if constexpr (std::is_same_v<T, ModulesOp>) names.insert(op.from);
        },
        any);
  }
  return {names.begin(), names.end()};
}

std::string recipe_digest(const Recipe& recipe) {
  return sha256_hex(as_bytes(canonical_json(recipe)));
}

std::string_view compression_name(Compression c) noexcept {
  switch (c) {
  case Compression::none:
    return "none";
  case Compression::gzip:
    return "gzip";
  case Compression::zstd:
    return "zstd";
  case Compression::xz:
    return "xz";
  }
  return "none";
}

std::string_view input_kind_name(InputKind k) noexcept {
  switch (k) {
  case InputKind::path:
    return "path";
  case InputKind::deb:
    return "deb";
  case InputKind::url:
    return "url";
  }
  return "path";
}

std::string format_mode(std::uint32_t mode) {
  return fmt::format("{:04o}", mode & 07777U);
}

} // namespace tdximg::recipe
