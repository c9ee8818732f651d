// `tdximg build`: recipe -> inputs -> layers -> initramfs -> UKI -> disks -> measurements ->
// manifest, published atomically into the output directory. Each step is one call below.
#include <tdximg/pipeline/build.hpp>

#include <chrono>
#include <thread>
#include <future>
#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <tdximg/disk/gcp.hpp>
#include <tdximg/disk/gpt.hpp>
#include <tdximg/disk/image.hpp>
#include <tdximg/disk/vhd.hpp>
#include <tdximg/measure/export.hpp>
#include <tdximg/measure/mrtd.hpp>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/measure/tdx_export.hpp>
#include <tdximg/verify/ccel.hpp>
#include <tdximg/pipeline/steps.hpp>
#include <tdximg/pipeline/supply_chain.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/rootfs/layer.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::pipeline {

namespace {

bool wants(const recipe::Recipe& r, std::string_view output) {
  return std::find(r.outputs.begin(), r.outputs.end(), output) != r.outputs.end();
}

// Output files are staged inside the output directory (it may be a bind mount that cannot
// itself be renamed), then renamed into place one by one, manifest.json last. Until the first
// rename nothing in the directory changes; the staging directory is removed on failure.
class Staging {
public:
  explicit Staging(const fs::path& out_dir) : m_out(out_dir) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot create the output directory: {}", out_dir.string(), ec.message());
    m_dir = std::make_unique<TempDir>(out_dir, ".tdximg-staging-");
  }
  void add(const std::string& name, ByteSpan data) {
    write_file_atomic(m_dir->path() / name, data, 0644);
    m_files.push_back(name);
  }
  void publish(const std::string& last) {
    for (const auto& f : m_files)
      if (f != last) rename_in(f);
    rename_in(last);
    fsync_dir(m_out);
  }

private:
  void rename_in(const std::string& f) {
    const fs::path from = m_dir->path() / f, to = m_out / f;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      fail(ErrorKind::io, "{}: cannot move into place: {}", to.string(), errno_text());
    }
  }
  fs::path m_out;
  std::unique_ptr<TempDir> m_dir;
  std::vector<std::string> m_files;
};

bool wants_platform(const recipe::Recipe& r, std::string_view platform) {
  return std::find(r.measure.platforms.begin(), r.measure.platforms.end(), platform) != r.measure.platforms.end();
}

// TDX registers for every VM shape of the recipe: MRTD from the pinned firmware, RTMR1/2 from
// the image (disk boot, so RTMR1 covers disk.raw's GPT), RTMR0 from a calibration CCEL if the
// recipe names one (else unpinned), RTMR3 zero. Adds the "dcap-tdx" attested-TLS entries
// (MRTD + RTMR1 + RTMR2, and RTMR0 when calibrated) to `attested`.
nlohmann::json predict_tdx_for_recipe(const recipe::Recipe& r,
                                      const std::map<std::string, store::ResolvedInput>& inputs,
                                      ByteSpan uki_bytes, const std::optional<Bytes>& gpt,
                                      nlohmann::json& attested) {
  const measure::UkiMeasureInput in = uki_measure_input(uki_bytes);
  Bytes firmware;
  if (r.measure.firmware) firmware = extract_ref(*r.measure.firmware, inputs);
  measure::TdxBootConfig cfg;
  cfg.mode = measure::TdxBootMode::disk;
  cfg.gpt_event_data = gpt;
  cfg.page_order = measure::page_order_for_vmm(r.measure.vmm);
  if (r.measure.rtmr0_calibration) {
    cfg.rtmr0_calibration = verify::rtmr0_calibration_from_ccel(read_file(*r.measure.rtmr0_calibration),
                                                                r.measure.rtmr0_calibration->filename().string());
  }
  std::vector<recipe::VmShape> shapes = r.measure.vms;
  if (shapes.empty()) shapes.push_back(recipe::VmShape{});
  std::vector<measure::TdxPrediction> preds;
  nlohmann::json out = nlohmann::json::array();
  for (bool sb : r.measure.secure_boot) {
    cfg.secure_boot = sb;
    for (const auto& shape : shapes) {
      cfg.vm_shape = shape.name;
      measure::TdxPrediction p = measure::predict_tdx(in, firmware, cfg);
      nlohmann::json j = measure::to_json(p);
      j["id"] = fmt::format("tdx-{}-sb-{}", shape.name.empty() ? "any" : shape.name, sb ? "on" : "off");
      j["boot"] = "disk.raw";
      j["dstack_mr"] = measure::to_dstack_mr(p); // {mrtd, rtmr0 (null unless calibrated), rtmr1, rtmr2}
      out.push_back(std::move(j));
      if (!sb) preds.push_back(std::move(p));
    }
  }
  measure::TdxRegisterSelection sel;
  sel.mrtd = r.measure.firmware.has_value();
  sel.rtmr0 = cfg.rtmr0_calibration.has_value();
  if (!r.measure.tdx_pin.empty()) {
    // The operator's choice; to_attested_tls_dcap refuses registers that are not available
    // (MRTD without firmware, RTMR0 without a calibration CCEL).
    sel = measure::parse_register_selection(fmt::format("{}", fmt::join(r.measure.tdx_pin, ",")));
  }
  for (auto& e : measure::to_attested_tls_dcap(preds, r.name + "-tdx", sel)) attested.push_back(std::move(e));
  return out;
}

void maybe_fail(const BuildOptions& o, std::string_view step) {
  if (o.fail_at == step) fail(ErrorKind::internal, "injected failure at step '{}' (TDXIMG_TEST_FAIL_AT)", step);
}

// What the manifest says of an input: never an absolute path, so the manifest does not depend
// on where the checkout lives.
nlohmann::json input_entry(const recipe::Recipe& r, const recipe::Input& in, const store::ResolvedInput& ri) {
  nlohmann::json j = {{"kind", recipe::input_kind_name(in.kind)}, {"sha256", ri.sha256}, {"size", ri.size}};
  switch (in.kind) {
  case recipe::InputKind::deb:
    j["package"] = in.deb.package;
    j["version"] = in.deb.version;
    j["suite"] = in.deb.suite;
    j["arch"] = in.deb.arch;
    break;
  case recipe::InputKind::url: j["url"] = in.url; break;
  case recipe::InputKind::path:
    j["path"] = in.path.lexically_relative(r.file.parent_path()).generic_string();
    break;
  }
  return j;
}

nlohmann::json output_entry(ByteSpan data) {
  return {{"size", data.size()}, {"sha256", sha256_hex(data)}};
}

} // namespace

nlohmann::json build(const BuildOptions& o) {
  const auto& progress = o.common.progress;
  const auto t0 = std::chrono::steady_clock::now();
  auto step = [&](const std::string& what) {
    if (progress) progress(what);
    spdlog::debug("{:7.2f}s {}", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), what);
  };

  // 1. Read the recipe and its lock file; every input must be pinned.
  recipe::Recipe r = load_pinned_recipe(o.recipe);
  const std::int64_t sde = recipe::effective_source_date_epoch(r);
  const std::uint32_t mtime = rootfs::cpio_mtime(sde);

  // 2. Resolve and verify every input before anything is written.
  store::Store st = open_store(o.common.cache_dir);
  step("inputs");
  auto inputs = resolve_inputs(r, st, o.common.offline, progress);
  maybe_fail(o, "inputs");
  step("layers");

  // The kernel for the UKI is decoded from its package while the layers are applied: the
  // modules op decodes the same package, so on a cold build the two xz passes overlap instead of
  // running one after the other. With -j1 it happens later, in the UKI step. Never changes bytes.
  const bool need_uki = wants(r, "uki") || wants(r, "raw") || wants(r, "vhd") || wants(r, "gcp");
  const unsigned jobs = o.common.jobs != 0 ? o.common.jobs : std::max(1u, std::thread::hardware_concurrency());
  struct Member {
    Bytes bytes;
    std::string path;
  };
  std::future<Member> kernel_member;
  if (need_uki && r.kernel && jobs > 1) {
    kernel_member = std::async(std::launch::async, [&] {
      Member m;
      m.bytes = extract_ref(*r.kernel, inputs, &m.path, &st);
      return m;
    });
  }

  // 3. Apply the layers to an in-memory file tree (maintainer scripts never run); unchanged
  //    layers come from the store's layer cache.
  LayeredTree layered = apply_layers(r, inputs, st, progress);
  rootfs::FileTree& tree = layered.tree;
  nlohmann::json skipped = nlohmann::json::array();
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json layer_reused = nlohmann::json::object();
  for (const LayerResult& l : layered.layers) {
    layers.push_back({{"name", l.name}, {"digest", l.digest}, {"modules", l.report.modules}});
    layer_reused[l.name] = l.reused;
    for (const auto& s : l.report.skipped_scripts) {
      spdlog::info("input {}: maintainer scripts not run: {}", s.input, fmt::join(s.scripts, ", "));
      skipped.push_back({{"input", s.input}, {"scripts", s.scripts}});
    }
  }

  // TEST-ONLY (issue 6, tests/repro/nondeterminism_detected.sh): TDXIMG_TEST_NONDETERMINISM=1
  // breaks determinism on purpose by stamping the current time into /etc/build-time in the
  // last layer, to prove the repro suite and `tdximg diff` catch it. Never set it otherwise.
  if (const char* nd = std::getenv("TDXIMG_TEST_NONDETERMINISM"); nd && std::string_view(nd) == "1" && !r.layers.empty()) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    rootfs::Node stamp;
    stamp.type = rootfs::NodeType::regular;
    stamp.mode = 0644;
    stamp.content = rootfs::Content::make(to_bytes(fmt::format("{}\n", std::chrono::duration_cast<std::chrono::nanoseconds>(now).count())));
    stamp.layer = r.layers.size() - 1;
    tree.put("/etc/build-time", std::move(stamp), "TDXIMG_TEST_NONDETERMINISM");
  }

  // 4. The initramfs: one compressed cpio segment per layer, cached, concatenated.
  step("initramfs");
  Initramfs initramfs = write_initramfs(tree, r, mtime, st, o.common.jobs);
  // Whether a segment came from the cache is a fact about this build's store, not about the
  // image: it goes into the --json report only, never into manifest.json (which must not
  // depend on cache state).
  nlohmann::json reused = nlohmann::json::object();
  for (std::size_t i = 0; i < initramfs.segments.size(); ++i) {
    const auto& s = initramfs.segments[i];
    layers[s.layer]["segment"] = {{"entries", s.entries},
                                  {"uncompressed_size", s.uncompressed_bytes},
                                  {"uncompressed_sha256", s.uncompressed_sha256},
                                  {"compressed_size", s.compressed_bytes}};
    reused[r.layers[s.layer].name] = s.reused;
  }

  Staging staging(o.out_dir);
  nlohmann::json outputs = nlohmann::json::object();
  // Conventional file extensions: .cpio.zst, .cpio.gz, .cpio.xz, or plain .cpio.
  static const std::map<recipe::Compression, std::string> k_ext{
      {recipe::Compression::none, ""}, {recipe::Compression::gzip, ".gz"},
      {recipe::Compression::zstd, ".zst"}, {recipe::Compression::xz, ".xz"}};
  const std::string initramfs_name = "initramfs.cpio" + k_ext.at(r.initramfs.compression);
  if (wants(r, "initramfs")) {
    staging.add(initramfs_name, initramfs.bytes);
    outputs[initramfs_name] = output_entry(initramfs.bytes);
  }

  // 5. The UKI: systemd-stub + kernel + initramfs + cmdline + os-release + uname + sbat.
  nlohmann::json measurements;
  if (need_uki) {
    step("uki");
    if (!r.kernel || !r.stub) fail(ErrorKind::input, "{}: outputs need a UKI, so the recipe needs \"kernel\" and \"stub\"", r.file.string());
    uki::UkiParts parts;
    std::string kernel_path;
    if (kernel_member.valid()) {
      Member m = kernel_member.get();
      parts.linux = std::move(m.bytes);
      kernel_path = std::move(m.path);
    } else {
      parts.linux = extract_ref(*r.kernel, inputs, &kernel_path, &st);
    }
    const Bytes stub = extract_ref(*r.stub, inputs, nullptr, &st);
    parts.initrd = initramfs.bytes;
    if (!r.cmdline.empty()) parts.cmdline = r.cmdline;
    if (r.os_release_file) {
      const Bytes b = extract_ref(*r.os_release_file, inputs);
      parts.osrel = std::string(b.begin(), b.end());
    } else {
      std::map<std::string, std::string> fields = r.os_release;
      if (!fields.count("ID")) fields["ID"] = r.name;
      parts.osrel = render_os_release(fields);
    }
    // Debian names its kernels boot/vmlinuz-<release>: that release is what `uname -r` says.
    const auto slash = kernel_path.rfind('/');
    const std::string base = slash == std::string::npos ? kernel_path : kernel_path.substr(slash + 1);
    if (base.rfind("vmlinuz-", 0) == 0) parts.uname = base.substr(8);
    parts.sbat = r.uki.sbat;
    parts.order = r.uki.section_order == "ukify-257" ? uki::SectionOrder::ukify_257 : uki::SectionOrder::linux_last;
    if (r.uki.splash) parts.splash = extract_ref(*r.uki.splash, inputs);
    if (r.uki.dtb) parts.dtb = extract_ref(*r.uki.dtb, inputs);
    const Bytes uki_bytes = uki::pack_uki(stub, parts);
    if (wants(r, "uki")) {
      staging.add("uki.efi", uki_bytes);
      outputs["uki.efi"] = output_entry(uki_bytes);
    }

    // 6. Disk images: GPT + FAT ESP with EFI/BOOT/BOOTX64.EFI; VHD; GCP tarball.
    nlohmann::json disk_events = nlohmann::json::object();
    std::optional<Bytes> boot_disk_gpt; // EV_EFI_GPT_EVENT data of disk.raw (and disk.vhd)
    if (wants(r, "raw") || wants(r, "vhd") || wants(r, "gcp")) {
      step("disk");
      disk::DiskSpec spec;
      spec.files.push_back({"EFI/BOOT/BOOTX64.EFI", uki_bytes});
      spec.source_date_epoch = sde;
      const Bytes raw = disk::make_esp_disk(spec);
      const std::string raw_sha256 = sha256_hex(raw); // the manifest's and the GCP cache key's
      const Bytes gpt_raw = disk::gpt_event_data(raw);
      boot_disk_gpt = gpt_raw;
      const nlohmann::json raw_gpt_event = {{"gpt_event_sha256", sha256_hex(gpt_raw)},
                                            {"gpt_event_sha384", to_hex(hash(HashAlg::sha384, gpt_raw))}};
      if (wants(r, "raw")) {
        staging.add("disk.raw", raw);
        outputs["disk.raw"] = {{"size", raw.size()}, {"sha256", raw_sha256}};
        disk_events["disk.raw"] = raw_gpt_event;
      }
      if (wants(r, "vhd")) {
        step("vhd");
        const Bytes vhd = disk::make_vhd(raw, sde);
        staging.add("disk.vhd", vhd);
        outputs["disk.vhd"] = output_entry(vhd);
        // The VHD carries the raw disk unchanged (padded to a whole MiB), so the same GPT.
        disk_events["disk.vhd"] = raw_gpt_event;
      }
      if (wants(r, "gcp")) {
        step("gcp");
        // A pure function of the disk bytes and SOURCE_DATE_EPOCH: cached (gzip -9 of a
        // sparse-ish disk is the slowest step of a warm build).
        Bytes tgz;
        const std::string gkey = sha256_hex(as_bytes(fmt::format(
            "tdximg gcp v1\n{}\n{}\n{}\n", raw_sha256, sde, tool_identity())));
        if (auto hit = st.get_keyed("gcp", gkey)) {
          tgz = std::move(*hit);
        } else {
          tgz = disk::make_gcp_tar_gz(raw, sde);
          st.put_keyed("gcp", gkey, tgz);
        }
        const std::string name = r.name + ".tar.gz";
        staging.add(name, tgz);
        outputs[name] = output_entry(tgz);
        const Bytes gpt_gcp = disk::gcp_gpt_event_data(raw);
        disk_events[name] = {{"gpt_event_sha256", sha256_hex(gpt_gcp)},
                             {"gpt_event_sha384", to_hex(hash(HashAlg::sha384, gpt_gcp))},
                             {"note", "the whole-GiB GCP disk moves the backup GPT header, so its "
                                      "EV_EFI_GPT_EVENT (PCR 5 / RTMR1) differs from disk.raw's"}};
      }
    }

    // 7. Measurements: TPM PCRs per platform and Secure Boot state, from the UKI's bytes; TDX
    //    MRTD (firmware) and RTMRs (image, per VM shape) when the recipe measures for "tdx".
    step("measure");
    MeasureRequest req;
    req.platforms = r.measure.platforms;
    req.secure_boot = r.measure.secure_boot;
    req.measurement_id = r.name;
    // PCR 7: the recipe's OVMF variable stores (and the db certificate that will sign the UKI).
    auto named = [&](const recipe::FileRef& ref, const std::string& ptr) {
      std::string matched;
      Bytes data = extract_ref(ref, inputs, &matched);
      return NamedBytes{fmt::format("{} ({}:{})", ptr, ref.from, matched), std::move(data)};
    };
    for (std::size_t i = 0; i < r.measure.secure_boot_vars.size(); ++i)
      req.efi_vars.push_back(named(r.measure.secure_boot_vars[i], fmt::format("measure.secure_boot_vars[{}]", i)));
    if (r.measure.secure_boot_db_cert) req.db_cert = named(*r.measure.secure_boot_db_cert, "measure.secure_boot_db_cert");
    measurements = measure_uki(uki_bytes, req);
    measurements["disk_gpt_events"] = disk_events;
    nlohmann::json attested = measurements["attested_tls"];
    if (wants_platform(r, "tdx")) {
      if (!boot_disk_gpt)
        fail(ErrorKind::input,
             "{}: /measure/platforms has \"tdx\": RTMR1 covers the boot disk's GPT, so /outputs "
             "must include \"raw\" (or \"vhd\"/\"gcp\"); outputs are {}",
             r.file.string(), nlohmann::json(r.outputs).dump());
      nlohmann::json tdx = predict_tdx_for_recipe(r, inputs, uki_bytes, boot_disk_gpt, attested);
      measurements["tdx"] = std::move(tdx);
    }
    measurements["attested_tls"] = attested;
    measurements["format"] = recipe::k_output_format;
    measurements["tool"] = std::string("tdximg ") + TDXIMG_VERSION;
    if (measurements.contains("tdx")) {
      // dstack-mr style values per TDX configuration, for verifiers that take that form.
      nlohmann::json dstack = nlohmann::json::object();
      for (const auto& t : measurements["tdx"]) dstack[t["id"].get<std::string>()] = t["dstack_mr"];
      const std::string dj = dstack.dump(2) + "\n";
      staging.add("dstack-mr.json", as_bytes(dj));
      outputs["dstack-mr.json"] = output_entry(as_bytes(dj));
    }
    if (!attested.empty()) {
      const std::string at = attested.dump(2) + "\n";
      staging.add("attested-tls.json", as_bytes(at));
      outputs["attested-tls.json"] = output_entry(as_bytes(at));
    }
    const std::string mj = measurements.dump(2) + "\n";
    staging.add("measurements.json", as_bytes(mj));
    outputs["measurements.json"] = output_entry(as_bytes(mj));
  }

  // 7b. Supply chain (issue 6; pipeline/supply_chain.hpp, owner "docker"): sbom.spdx.json
  //     (SPDX 2.3: every input with version, sha256, license) and provenance.json (in-toto v1 +
  //     SLSA v1: subjects = every output so far). Both deterministic; both listed in the manifest.
  {
    step("sbom and provenance");
    SupplyChainInfo sc;
    sc.recipe_name = r.name;
    sc.recipe_sha256 = recipe::recipe_digest(r);
    sc.source_date_epoch = sde;
    sc.tool_version = TDXIMG_VERSION;
    sc.inputs = describe_inputs(r, inputs, &st); // licenses cached in the store per .deb digest
    for (const auto& item : outputs.items()) sc.outputs[item.key()] = item.value().at("sha256").get<std::string>();
    const std::string sbom = supply_chain_text(make_sbom(sc));
    const std::string provenance = supply_chain_text(make_provenance(sc));
    staging.add("sbom.spdx.json", as_bytes(sbom));
    outputs["sbom.spdx.json"] = output_entry(as_bytes(sbom));
    staging.add("provenance.json", as_bytes(provenance));
    outputs["provenance.json"] = output_entry(as_bytes(provenance));
  }

  // 8. The manifest: what went in and what came out, written last.
  step("manifest and publish");
  nlohmann::json manifest;
  manifest["tool"] = {{"name", "tdximg"}, {"version", TDXIMG_VERSION}};
  manifest["output_format"] = recipe::k_output_format;
  manifest["compression_libraries"] = rootfs::compression_library_versions();
  manifest["recipe"] = {{"name", r.name}, {"sha256", recipe::recipe_digest(r)}};
  manifest["source_date_epoch"] = sde;
  nlohmann::json in = nlohmann::json::object();
  for (const auto& [name, ri] : inputs) in[name] = input_entry(r, r.inputs.at(name), ri);
  manifest["inputs"] = in;
  manifest["layers"] = layers;
  manifest["skipped_maintainer_scripts"] = skipped;
  manifest["outputs"] = outputs;
  const std::string manifest_text = manifest.dump(2) + "\n";
  staging.add("manifest.json", as_bytes(manifest_text));
  maybe_fail(o, "publish");

  // 9. Publish: rename every staged file into place, manifest.json last.
  staging.publish("manifest.json");

  nlohmann::json report = manifest;
  for (auto& l : report["layers"]) {
    const std::string name = l["name"].get<std::string>();
    l["reused"] = layer_reused.value(name, false);
    if (l.contains("segment")) l["segment"]["reused"] = reused.value(name, false);
  }
  if (!measurements.is_null()) report["measurements"] = measurements;
  report["out_dir"] = o.out_dir.string();
  return report;
}

} // namespace tdximg::pipeline
