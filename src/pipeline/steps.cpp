#include <tdximg/pipeline/steps.hpp>

#include <algorithm>
#include <atomic>
#include <fnmatch.h>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include <tdximg/measure/export.hpp>
#include <tdximg/measure/pcr7.hpp>
#include <tdximg/measure/uki_input.hpp>
#include <tdximg/pe/signature.hpp>
#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/rootfs/archive.hpp>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/rootfs/initramfs.hpp>
#include <tdximg/rootfs/snapshot.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::pipeline {

namespace fs = std::filesystem;

recipe::Recipe load_pinned_recipe(const fs::path& recipe_path) {
  recipe::Recipe r = recipe::load_recipe(recipe_path);
  const fs::path lock = recipe::lock_path_for(r);
  if (fs::exists(lock)) recipe::apply_lock(r, recipe::read_lock(lock));
  const std::vector<std::string> unpinned = recipe::unpinned_inputs(r);
  if (!unpinned.empty()) {
    std::string names;
    for (const auto& n : unpinned) names += (names.empty() ? "" : ", ") + n;
    fail(ErrorKind::input,
         "{}: input(s) without a sha256 pin: {}; run `tdximg lock {}` to resolve and pin them in {}",
         r.file.string(), names, recipe_path.string(), lock.string());
  }
  return r;
}

store::Store open_store(const std::optional<fs::path>& dir) {
  return store::Store(dir ? *dir : store::default_store_root());
}

std::map<std::string, store::ResolvedInput>
resolve_inputs(const recipe::Recipe& recipe, store::Store& store, bool offline,
               const std::function<void(const std::string&)>& progress) {
  std::map<std::string, store::ResolvedInput> out;
  std::size_t i = 0;
  for (const auto& [name, input] : recipe.inputs) {
    ++i;
    if (progress) progress(fmt::format("[{}/{}] input {}", i, recipe.inputs.size(), name));
    store::ResolvedInput r = store::resolve_input(input, store, offline ? store::Offline::yes : store::Offline::no);
    spdlog::debug("input {}: {} ({} bytes, sha256 {})", name, r.description, r.size, r.sha256);
    out.emplace(name, std::move(r));
  }
  return out;
}

// sha256 of the running executable: part of every layer cache key, so trees built by one
// tdximg are never reused by another whose layer semantics might differ. Falls back to the
// version string if the executable cannot be read.
const std::string& tool_identity() {
  static const std::string id = [] {
    try {
      return sha256_hex(read_file("/proc/self/exe"));
    } catch (const std::exception& e) {
      spdlog::debug("layer cache: cannot hash /proc/self/exe ({}); keying by version only",
                    e.what());
      return std::string("version ") + TDXIMG_VERSION;
    }
  }();
  return id;
}

namespace {

// The one regular file of archive `data` matching `pattern` (no leading '/'); sets
// `matched_path`. Throws as extract_ref().
Bytes extract_member(const recipe::FileRef& ref, const Bytes& data, const std::string& pattern,
                     std::string& matched_path) {
  auto matches = [&](const std::string& p) {
    // FNM_PATHNAME: '*' does not cross '/'. The pattern is ASCII; fnmatch's bracket classes
    // are the only locale-sensitive part, and recipes use none that differ between locales.
    return ::fnmatch(pattern.c_str(), p.c_str(), FNM_PATHNAME) == 0;
  };
  std::vector<rootfs::ArchiveEntry> entries = rootfs::read_archive_input(
      data, fmt::format("input '{}'", ref.from), {}, [&](const std::string& p) { return matches(p); });
  std::vector<const rootfs::ArchiveEntry*> found;
  for (const auto& e : entries)
    if (matches(e.path) && e.type == rootfs::EntryType::regular) found.push_back(&e);
  if (found.empty()) {
    fail(ErrorKind::input, "input '{}': no regular file matches '{}'", ref.from, ref.path);
  }
  // The last duplicate of one path wins (as in layers); distinct paths are ambiguous.
  for (const auto* e : found) {
    if (e->path != found.back()->path) {
      fail(ErrorKind::input, "input '{}': '{}' matches several files ({} and {}); make the pattern exact",
           ref.from, ref.path, found.front()->path, found.back()->path);
    }
  }
  matched_path = found.back()->path;
  const auto& content = found.back()->content;
  return content.data ? *content.data : Bytes{};
}

} // namespace

Bytes extract_ref(const recipe::FileRef& ref, const std::map<std::string, store::ResolvedInput>& inputs,
                  std::string* matched_path, store::Store* cache) {
  auto it = inputs.find(ref.from);
  if (it == inputs.end()) fail(ErrorKind::input, "no input named '{}'", ref.from);
  const Bytes& data = it->second.data;
  if (ref.path.empty()) {
    if (matched_path != nullptr) *matched_path = ref.from;
    return data;
  }
  std::string pattern = ref.path;
  while (!pattern.empty() && pattern.front() == '/') pattern.erase(0, 1);
  // A member is a pure function of (input bytes, pattern, this tdximg): cache it, so a warm
  // build does not decompress a 70 MB kernel package to find vmlinuz again.
  std::string key;
  if (cache != nullptr) {
    Hasher h(HashAlg::sha256);
    h.update(fmt::format("tdximg member v1\n{}\n{}\n{}\n", it->second.sha256, tool_identity(), pattern));
    key = to_hex(h.finish());
    if (auto hit = cache->get_keyed("members", key)) {
      try {
        ByteReader r(*hit, "member cache entry");
        const std::uint32_t n = r.u32le("path length");
        const ByteSpan p = r.bytes(n, "path");
        const ByteSpan b = r.bytes(r.remaining(), "content");
        if (matched_path != nullptr) matched_path->assign(reinterpret_cast<const char*>(p.data()), p.size());
        return Bytes(b.begin(), b.end());
      } catch (const Error& e) {
        spdlog::warn("input '{}': ignoring a damaged member cache entry ({})", ref.from, e.what());
      }
    }
  }
  std::string path;
  Bytes content = extract_member(ref, data, pattern, path);
  if (cache != nullptr) {
    ByteWriter w;
    w.u32le(static_cast<std::uint32_t>(path.size()));
    w.str(path);
    w.bytes(content);
    cache->put_keyed("members", key, w.data());
  }
  if (matched_path != nullptr) *matched_path = path;
  return content;
}


namespace {


std::string layer_digest(const std::string& parent, std::size_t index, const recipe::Layer& layer,
                         const std::map<std::string, store::ResolvedInput>& inputs) {
  Hasher h(HashAlg::sha256);
  h.update(fmt::format("tdximg layer v{} snapshot v{}\nparent {}\nindex {}\n", recipe::k_output_format,
                       rootfs::k_snapshot_format, parent, index));
  h.update(recipe::layer_canonical_json(layer));
  h.update(std::string_view("\n"));
  for (const std::string& name : recipe::layer_input_names(layer)) {
    auto it = inputs.find(name);
    h.update(fmt::format("input {} {}\n", name, it == inputs.end() ? "missing" : it->second.sha256));
  }
  return to_hex(h.finish());
}

// A layer cache entry: the reports of layers 0..i (JSON) and the tree after layer i.
nlohmann::json report_json(const rootfs::LayerReport& rep) {
  nlohmann::json j = {{"modules", rep.modules}, {"skipped_scripts", nlohmann::json::array()}};
  for (const auto& s : rep.skipped_scripts)
    j["skipped_scripts"].push_back({{"input", s.input}, {"scripts", s.scripts}});
  return j;
}

Bytes encode_layer_cache(const std::vector<LayerResult>& layers, std::size_t upto,
                         const rootfs::FileTree& tree) {
  nlohmann::json reports = nlohmann::json::array();
  for (std::size_t i = 0; i <= upto; ++i) reports.push_back(report_json(layers[i].report));
  const std::string text = reports.dump();
  ByteWriter w;
  w.u64le(text.size());
  w.str(text);
  w.bytes(rootfs::serialize_tree(tree));
  return w.take();
}

rootfs::FileTree decode_layer_cache(ByteSpan data, const std::string& name,
                                    std::vector<LayerResult>& layers, std::size_t upto) {
  ByteReader r(data, name);
  const std::uint64_t n = r.u64le("report length");
  const ByteSpan text = r.bytes(n, "report");
  const auto reports = nlohmann::json::parse(text.begin(), text.end());
  if (!reports.is_array() || reports.size() != upto + 1)
    fail(ErrorKind::input, "{}: expected {} layer reports", name, upto + 1);
  std::vector<rootfs::LayerReport> parsed;
  for (const auto& j : reports) {
    rootfs::LayerReport rep;
    rep.modules = j.at("modules").get<std::vector<std::string>>();
    for (const auto& s : j.at("skipped_scripts"))
      rep.skipped_scripts.push_back(
          {s.at("input").get<std::string>(), s.at("scripts").get<std::vector<std::string>>()});
    parsed.push_back(std::move(rep));
  }
  rootfs::FileTree tree = rootfs::deserialize_tree(r.bytes(r.remaining(), "tree"), name);
  for (std::size_t i = 0; i <= upto; ++i) layers[i].report = std::move(parsed[i]);
  return tree;
}

std::string segment_cache_key(const Bytes& cpio, const recipe::InitramfsSpec& spec) {
  // Everything the compressed bytes depend on: the input, the method and level, the library
  // versions that implement them, and our output format version.
  Hasher h(HashAlg::sha256);
  h.update(fmt::format("tdximg segment v{}\n{}\n{}\n{}\n", recipe::k_output_format,
                       rootfs::compression_name(spec.compression), spec.level,
                       rootfs::compression_library_versions()));
  h.update(cpio);
  return to_hex(h.finish());
}

} // namespace

Initramfs write_initramfs(const rootfs::FileTree& tree, const recipe::Recipe& recipe,
                          std::uint32_t mtime, store::Store& store, unsigned jobs) {
  std::vector<std::vector<rootfs::CpioEntry>> per_layer =
      rootfs::segment_entries(tree, recipe.layers.size(), mtime);

  struct Work {
    std::size_t layer;
    Bytes cpio;
    Bytes compressed;
    std::string key;
    bool reused = false;
  };
  std::vector<Work> work;
  for (std::size_t layer = 0; layer < per_layer.size(); ++layer) {
    if (per_layer[layer].empty()) continue;
    Work w;
    w.layer = layer;
    w.cpio = rootfs::write_cpio_newc(per_layer[layer]);
    w.key = segment_cache_key(w.cpio, recipe.initramfs);
    if (auto cached = store.get_keyed("segments", w.key)) {
      w.compressed = std::move(*cached);
      w.reused = true;
    }
    work.push_back(std::move(w));
  }

  // Compress the segments that were not cached, in parallel. Each segment's bytes depend only
  // on its own content and settings, so the thread count never changes the result.
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < work.size(); i = next++) {
      if (work[i].reused) continue;
      try {
        work[i].compressed = rootfs::compress(work[i].cpio, recipe.initramfs.compression, recipe.initramfs.level);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  const unsigned threads = std::max(1u, std::min<unsigned>(jobs == 0 ? std::thread::hardware_concurrency() : jobs,
                                                           static_cast<unsigned>(work.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  Initramfs out;
  for (auto& w : work) {
    if (!w.reused) store.put_keyed("segments", w.key, w.compressed);
    SegmentReport rep;
    rep.layer = w.layer;
    rep.layer_name = w.layer < recipe.layers.size() ? recipe.layers[w.layer].name : "";
    rep.entries = per_layer[w.layer].size();
    rep.uncompressed_bytes = w.cpio.size();
    rep.compressed_bytes = w.compressed.size();
    rep.uncompressed_sha256 = sha256_hex(w.cpio);
    rep.reused = w.reused;
    rootfs::append_initramfs_segment(out.bytes, w.compressed);
    out.segments.push_back(std::move(rep));
  }
  return out;
}

LayeredTree apply_layers(const recipe::Recipe& recipe,
                         const std::map<std::string, store::ResolvedInput>& inputs,
                         store::Store& store,
                         const std::function<void(const std::string&)>& progress) {
  constexpr std::string_view ns = "layers";
  LayeredTree out;
  const std::size_t n = recipe.layers.size();
  std::vector<std::string> keys(n);
  std::string parent = "none";
  for (std::size_t i = 0; i < n; ++i) {
    LayerResult res;
    res.name = recipe.layers[i].name;
    res.digest = layer_digest(parent, i, recipe.layers[i], inputs);
    Hasher h(HashAlg::sha256);
    h.update(fmt::format("{}\n{}\n", res.digest, tool_identity()));
    keys[i] = to_hex(h.finish());
    parent = res.digest;
    out.layers.push_back(std::move(res));
  }

  // The deepest cached layer: everything below it is covered by its digest.
  std::size_t start = 0;
  for (std::size_t i = n; i-- > 0;) {
    auto cached = store.get_keyed(ns, keys[i]);
    if (!cached) continue;
    try {
      out.tree = decode_layer_cache(
          *cached, fmt::format("layer cache entry of '{}'", out.layers[i].name), out.layers, i);
      for (std::size_t k = 0; k <= i; ++k) out.layers[k].reused = true;
      start = i + 1;
      break;
    } catch (const std::exception& e) {
      spdlog::warn("layer '{}': ignoring an unreadable cache entry ({}); rebuilding it",
                   out.layers[i].name, e.what());
    }
  }

  rootfs::InputProvider provider = [&](const std::string& name) -> const Bytes& {
    auto it = inputs.find(name);
    if (it == inputs.end()) fail(ErrorKind::input, "no input named '{}'", name);
    return it->second.data;
  };
  for (std::size_t i = 0; i < n; ++i) {
    LayerResult& l = out.layers[i];
    if (progress) progress(fmt::format("layer {}/{} {}{}", i + 1, n, l.name, l.reused ? " (cached)" : ""));
    if (i < start) continue;
    l.report = rootfs::apply_layer(out.tree, recipe.layers[i], i, provider);
    store.put_keyed(ns, keys[i], encode_layer_cache(out.layers, i, out.tree));
  }
  return out;
}

std::string render_os_release(const std::map<std::string, std::string>& fields) {
  // os-release(5): shell-compatible assignments; always quote, escape \ " $ `.
  std::string out;
  for (const auto& [key, value] : fields) {
    out += key;
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"' || c == '$' || c == '`') out += '\\';
      out += c;
    }
    out += "\"\n";
  }
  return out;
}

measure::UkiMeasureInput uki_measure_input(ByteSpan uki_bytes, std::string_view name) {
  static const HashAlg k_banks[] = {HashAlg::sha256, HashAlg::sha384};
  measure::UkiMeasureInput in = measure::measure_input_from_uki(uki_bytes, k_banks, name);
  if (in.stub_major == 0) {
    fail(ErrorKind::unsupported,
         "{}: no systemd-stub version found (.sdmagic section missing or unreadable); "
         "tdximg predicts measurements for systemd-stub UKIs only", name);
  }
  return in;
}

namespace {

// PCR 7 inputs for one Secure Boot state: the variable store that implies it, and (on) the db
// entry that authorizes the UKI.
struct Pcr7Plan {
  const NamedBytes* file = nullptr;
  std::vector<measure::UefiVariable> vars;
  std::uint8_t secure_boot = 0;
  std::optional<measure::SecureBootAuthority> authority;
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::map<bool, Pcr7Plan> plan_pcr7(ByteSpan uki, std::string_view uki_name, const MeasureRequest& req) {
  std::map<bool, Pcr7Plan> out;
  if (req.efi_vars.empty()) {
    if (req.db_cert)
      fail(ErrorKind::usage, "{}: a db certificate is used only with an OVMF variable store (--efi-vars, measure.secure_boot_vars)",
           req.db_cert->name);
    return out;
  }
  if (std::find(req.platforms.begin(), req.platforms.end(), "qemu") == req.platforms.end())
    fail(ErrorKind::usage, "PCR 7 from an OVMF variable store is predicted for platform qemu only; platforms are: {}",
         join(req.platforms));
  std::optional<Bytes> cert;
  if (req.db_cert) cert = pe::certificate_der(req.db_cert->data, req.db_cert->name);
  for (const NamedBytes& f : req.efi_vars) {
    Pcr7Plan p;
    p.file = &f;
    p.vars = measure::parse_ovmf_vars(f.data, f.name);
    p.secure_boot = measure::secure_boot_value(p.vars);
    const bool on = p.secure_boot == 1;
    const std::string why = on ? "PK enrolled: Secure Boot on" : "no PK enrolled or Secure Boot disabled: Secure Boot off";
    if (std::find(req.secure_boot.begin(), req.secure_boot.end(), on) == req.secure_boot.end())
      fail(ErrorKind::usage, "{}: {}, a state that is not measured (Secure Boot states: {})", f.name, why,
           join([&] {
             std::vector<std::string> v;
             for (bool b : req.secure_boot) v.emplace_back(b ? "on" : "off");
             return v;
           }()));
    if (const auto it = out.find(on); it != out.end())
      fail(ErrorKind::usage, "{} and {}: both imply Secure Boot {}; expected one variable store per state",
           it->second.file->name, f.name, on ? "on" : "off");
    if (on) p.authority = measure::secure_boot_authority(p.vars, f.name, uki, uki_name, cert);
    out.emplace(on, std::move(p));
  }
  if (req.db_cert && out.find(true) == out.end())
    fail(ErrorKind::usage, "{}: a db certificate matters only with Secure Boot on, but no variable store given enrolls PK",
         req.db_cert->name);
  return out;
}

nlohmann::json pcr7_source_json(const Pcr7Plan& p) {
  nlohmann::json j = {{"efi_vars", {{"name", p.file->name}, {"sha256", sha256_hex(p.file->data)}}},
                      {"secure_boot", p.secure_boot},
                      {"authority", nullptr}};
  if (p.authority) {
    j["authority"] = {{"kind", p.authority->kind},
                      {"subject", p.authority->subject},
                      {"db_offset", p.authority->db_offset},
                      {"how", p.authority->how},
                      {"sha256", sha256_hex(p.authority->signature_data)}};
  }
  return j;
}

} // namespace

nlohmann::json measure_uki(ByteSpan uki_bytes, const MeasureRequest& request, std::string_view name) {
  const measure::UkiMeasureInput in = uki_measure_input(uki_bytes, name);
  const std::map<bool, Pcr7Plan> pcr7 = plan_pcr7(uki_bytes, name, request);

  nlohmann::json tpm = nlohmann::json::array();
  nlohmann::json attested = nlohmann::json::array();
  for (const auto& platform : request.platforms) {
    if (platform == "tdx") continue; // TDX registers are predicted separately
    for (bool sb : request.secure_boot) {
      measure::BootConfig cfg;
      cfg.platform = measure::parse_platform(platform);
      cfg.secure_boot = sb;
      const measure::PcrPrediction p = measure::predict_pcrs(in, cfg);
      nlohmann::json j = measure::to_json(p);
      j["id"] = fmt::format("{}-sb-{}", platform, sb ? "on" : "off");
      // PCR 7 (qemu only: booted and compared there) from the variable store of this state.
      if (const auto it = pcr7.find(sb); cfg.platform == measure::Platform::qemu && it != pcr7.end()) {
        measure::Pcr7Config c;
        c.secure_boot_value = it->second.secure_boot;
        if (const auto& a = it->second.authority) {
          c.authority = a->signature_data;
          c.authority_description = fmt::format("db entry that authorized {} ({})", name,
                                                a->subject.empty() ? a->kind + " digest" : a->subject);
        }
        j["registers"].push_back(measure::to_json(measure::predict_pcr7(it->second.vars, c, cfg.banks)));
        j["pcr7_source"] = pcr7_source_json(it->second);
      }
      tpm.push_back(std::move(j));
      // Azure's vTPM is what the attested-TLS proxy checks for "azure-tdx" (PCR 4, 9, 11).
      if (cfg.platform == measure::Platform::azure) {
        for (auto& e : measure::to_attested_tls(p, fmt::format("{}-{}", request.measurement_id, tpm.back()["id"].get<std::string>()), "azure-tdx"))
          attested.push_back(std::move(e));
      }
    }
  }
  nlohmann::json out;
  out["uki"] = {{"sha256", sha256_hex(uki_bytes)},
                {"size", uki_bytes.size()},
                {"stub", in.stub_version_string},
                {"kernel_release", in.uname},
                {"authenticode", {{"sha256", to_hex(in.uki_authenticode.at(HashAlg::sha256))},
                                  {"sha384", to_hex(in.uki_authenticode.at(HashAlg::sha384))}}}};
  out["tpm"] = std::move(tpm);
  out["attested_tls"] = std::move(attested);
  return out;
}

} // namespace tdximg::pipeline
