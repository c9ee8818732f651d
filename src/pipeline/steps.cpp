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
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
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

Bytes extract_ref(const recipe::FileRef& ref, const std::map<std::string, store::ResolvedInput>& inputs,
                  std::string* matched_path) {
  auto it = inputs.find(ref.from);
  if (it == inputs.end()) fail(ErrorKind::input, "no input named '{}'", ref.from);
  const Bytes& data = it->second.data;
  if (ref.path.empty()) {
    if (matched_path != nullptr) *matched_path = ref.from;
    return data;
  }
  std::string pattern = ref.path;
  while (!pattern.empty() && pattern.front() == '/') pattern.erase(0, 1);
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
  if (matched_path != nullptr) *matched_path = found.back()->path;
  const auto& content = found.back()->content;
  return content.data ? *content.data : Bytes{};
}

namespace {

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
