#include "json_read.hpp"

#include <limits>
#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace tdximg::recipe {

using detail::json;
using detail::Obj;
using detail::Where;

LockFile parse_lock(std::string_view text, std::string_view display) {
  const Where w{std::string(display)};
  const json root = detail::parse_json(text, display, /*comments=*/false);
  const Obj top(w, root, "", {"schema", "recipe_sha256", "inputs"});
  LockFile lock;
  const json& schema = top.at("schema");
  if (!schema.is_number_integer())
    w.fail_at("/schema", "expected integer, got " + detail::show(schema));
  if (schema != k_schema)
    w.fail_at("/schema", fmt::format("expected {}, got {} (this tdximg reads lock schema {})",
                                     k_schema, schema.dump(), k_schema));
  lock.schema = k_schema;
  if (top.has("recipe_sha256"))
    lock.recipe_sha256 = detail::read_sha256(w, top.at("recipe_sha256"), "/recipe_sha256");
  const json& inputs = top.at("inputs");
  if (!inputs.is_object()) w.fail_at("/inputs", "expected object, got " + detail::show(inputs));
  for (const auto& [name, value] : inputs.items()) {
    const std::string ptr = detail::child("/inputs", name);
    const Obj o(
        w, value, ptr,
        {"kind", "sha256", "size", "package", "version", "suite", "arch", "filename", "url"});
    LockEntry e;
    e.name = name;
    const std::string kind = o.str("kind");
    if (kind == "path")
      e.kind = InputKind::path;
    else if (kind == "deb")
      e.kind = InputKind::deb;
    else if (kind == "url")
      e.kind = InputKind::url;
    else
      w.fail_at(o.ptr("kind"), "expected one of: path, deb, url, got \"" + kind + "\"");
    e.sha256 = detail::read_sha256(w, o.at("sha256"), o.ptr("sha256"));
    e.size = o.uint_or("size", 0, std::numeric_limits<std::uint64_t>::max());
    e.package = o.str_or("package", "");
    e.version = o.str_or("version", "");
    e.suite = o.str_or("suite", "");
    e.arch = o.str_or("arch", "");
    e.filename = o.str_or("filename", "");
    e.url = o.str_or("url", "");
    if (e.kind == InputKind::deb && (e.package.empty() || e.version.empty()))
      w.fail_at(ptr, "expected \"package\" and \"version\" in a deb entry");
    lock.entries[name] = std::move(e);
  }
  return lock;
}

LockFile read_lock(const fs::path& path) {
  return parse_lock(read_text_file(path), path.string());
}

std::string write_lock_json(const LockFile& lock) {
  json inputs = json::object();
  for (const auto& [name, e] : lock.entries) {
    json j{{"kind", input_kind_name(e.kind)}, {"sha256", e.sha256}, {"size", e.size}};
    const std::pair<const char*, const std::string*> optional[] = {
        {"package", &e.package}, {"version", &e.version},   {"suite", &e.suite},
        {"arch", &e.arch},       {"filename", &e.filename}, {"url", &e.url}};
    for (const auto& [key, value] : optional)
      if (!value->empty()) j[key] = *value;
    inputs[name] = j;
  }
  json root{{"schema", lock.schema}, {"inputs", inputs}};
  if (!lock.recipe_sha256.empty()) root["recipe_sha256"] = lock.recipe_sha256;
  // nlohmann's default object is a std::map: keys come out sorted by bytes.
  return root.dump(2, ' ', false, json::error_handler_t::strict) + "\n";
}

fs::path lock_path_for(const Recipe& recipe) {
  return recipe.file.parent_path() / (recipe.file.stem().string() + ".lock.json");
}

Input apply_lock_entry(const Input& input, const LockEntry& e, std::string_view lock_name) {
  Input in = input;
  const std::string& name = in.name;
  const auto stale = [&](std::string_view field, std::string_view recipe_value,
                         std::string_view lock_value) {
    fail(ErrorKind::input,
         "input \"{}\": the recipe says {} \"{}\" but {} has \"{}\" (stale lock file: run "
         "`tdximg lock`)",
         name, field, recipe_value, lock_name, lock_value);
  };
  if (e.kind != in.kind) stale("kind", input_kind_name(in.kind), input_kind_name(e.kind));
  if (!in.sha256.empty() && in.sha256 != e.sha256)
    fail(ErrorKind::integrity, "input \"{}\": the recipe pins sha256 {} but {} has sha256 {}",
         name, in.sha256, lock_name, e.sha256);
  if (in.size && e.size != 0 && *in.size != e.size)
    fail(ErrorKind::integrity, "input \"{}\": the recipe pins size {} but {} has size {}", name,
         *in.size, lock_name, e.size);
  if (in.kind == InputKind::deb) {
    if (!e.suite.empty() && e.suite != in.deb.suite) stale("suite", in.deb.suite, e.suite);
    if (!e.arch.empty() && e.arch != in.deb.arch) stale("arch", in.deb.arch, e.arch);
    if (!e.package.empty() && e.package != in.deb.package) {
      // A meta-package (linux-image-amd64) resolved to its concrete dependency.
      in.deb.package = e.package;
      in.deb.version = e.version;
    } else if (in.deb.version.empty()) {
      in.deb.version = e.version;
    } else if (in.deb.version != e.version) {
      stale("version", in.deb.version, e.version);
    }
  }
  if (in.kind == InputKind::url && !e.url.empty() && e.url != in.url) stale("url", in.url, e.url);
  if (in.sha256.empty()) in.sha256 = e.sha256;
  if (!in.size && e.size != 0) in.size = e.size;
  return in;
}

void apply_lock(Recipe& recipe, const LockFile& lock) {
  const std::string lock_name = lock_path_for(recipe).filename().string();
  for (auto& [name, in] : recipe.inputs) {
    const auto it = lock.entries.find(name);
    if (it == lock.entries.end()) continue;
    in = apply_lock_entry(in, it->second, lock_name);
  }
}

std::vector<std::string> unpinned_inputs(const Recipe& recipe) {
  std::vector<std::string> out;
  for (const auto& [name, in] : recipe.inputs)
    if (in.sha256.empty()) out.push_back(name);
  return out;
}

} // namespace tdximg::recipe
