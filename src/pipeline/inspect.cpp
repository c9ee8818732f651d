#include <tdximg/pipeline/inspect.hpp>

#include <algorithm>
#include <cstring>

#include <tdximg/disk/image.hpp>
#include <tdximg/disk/vhd.hpp>
#include <tdximg/measure/event.hpp>
#include <tdximg/disk/gpt.hpp>
#include <tdximg/measure/mrtd.hpp>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/measure/tdx_export.hpp>
#include <tdximg/measure/tdvf.hpp>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>
#include <tdximg/verify/compare.hpp>
#include <tdximg/verify/tcg2_log.hpp>

namespace tdximg::pipeline {

std::string_view file_kind_name(FileKind k) {
  switch (k) {
  case FileKind::uki: return "uki";
  case FileKind::disk: return "disk";
  case FileKind::vhd: return "vhd";
  case FileKind::cpio: return "cpio";
  case FileKind::event_log: return "event_log";
  case FileKind::firmware: return "firmware";
  case FileKind::unknown: return "unknown";
  }
  return "unknown";
}

namespace {
bool starts_with(ByteSpan d, std::uint64_t off, std::string_view magic) {
  return d.size() >= off + magic.size() && std::memcmp(d.data() + off, magic.data(), magic.size()) == 0;
}
} // namespace

FileKind detect_file_kind(ByteSpan d) {
  if (starts_with(d, 0, "MZ")) return FileKind::uki;
  // A fixed VHD is a raw disk plus a footer: look for the footer before the GPT.
  if (d.size() >= 1024 && starts_with(d, d.size() - 512, "conectix")) return FileKind::vhd;
  if (starts_with(d, 512, "EFI PART")) return FileKind::disk;
  if (starts_with(d, 0, "070701") || starts_with(d, 0, "070702") || rootfs::detect_compression(d)) return FileKind::cpio;
  // TCG2 log: the first record is a TCG_PCR_EVENT for PCR 0, EV_NO_ACTION, with a SHA1-sized
  // zero digest and "Spec ID Event" data.
  if (d.size() >= 48 && load_u32le(d, 0, "log") == 0 && load_u32le(d, 4, "log") == 3 && starts_with(d, 32, "Spec ID Event"))
    return FileKind::event_log;
  // OVMF's reset-vector GUID table ends with the footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d
  // 32 bytes before the end of the image (TDX Virtual Firmware Design Guide §11).
  static const std::uint8_t k_footer[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                            0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
  if (d.size() >= 48 && std::memcmp(d.data() + d.size() - 48, k_footer, 16) == 0) return FileKind::firmware;
  return FileKind::unknown;
}

namespace {

std::string trim_nul(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n')) s.pop_back();
  return s;
}

nlohmann::json inspect_cpio(ByteSpan data, std::string_view name) {
  rootfs::CpioReadOptions opts;
  opts.name = std::string(name);
  const rootfs::CpioStream s = rootfs::read_cpio_segments(data, opts);
  nlohmann::json segs = nlohmann::json::array();
  for (const auto& seg : s.segments) {
    segs.push_back({{"compression", rootfs::compression_name(seg.compression)},
                    {"offset", seg.offset},
                    {"stored_size", seg.stored_size},
                    {"uncompressed_size", seg.uncompressed_size},
                    {"members", seg.member_count}});
  }
  nlohmann::json members = nlohmann::json::array();
  for (const auto& m : s.members) {
    const auto& e = m.entry;
    nlohmann::json j = {{"path", e.path}, {"mode", fmt::format("{:o}", e.mode)}, {"uid", e.uid}, {"gid", e.gid},
                        {"mtime", e.mtime}, {"nlink", e.nlink}, {"ino", e.ino}, {"segment", m.segment},
                        {"size", e.data ? e.data->size() : 0}};
    const std::uint32_t type = e.mode & rootfs::k_mode_type_mask;
    if (type == rootfs::k_mode_symlink && e.data) j["target"] = std::string(e.data->begin(), e.data->end());
    if (type == rootfs::k_mode_char || type == rootfs::k_mode_block) j["rdev"] = fmt::format("{}:{}", e.rdev_major, e.rdev_minor);
    if (type == rootfs::k_mode_regular && e.data) j["sha256"] = sha256_hex(*e.data);
    members.push_back(std::move(j));
  }
  return {{"kind", "cpio"}, {"segments", segs}, {"members", members}};
}

nlohmann::json inspect_uki(ByteSpan data, std::string_view name) {
  const uki::UkiInfo info = uki::read_uki(data, name);
  nlohmann::json sections = nlohmann::json::array();
  for (const auto& s : info.sections) {
    sections.push_back({{"name", s.name}, {"virtual_address", s.VirtualAddress}, {"virtual_size", s.VirtualSize},
                        {"raw_offset", s.PointerToRawData}, {"raw_size", s.SizeOfRawData},
                        {"sha256", to_hex(s.memory_sha256)}});
  }
  nlohmann::json j = {{"kind", "uki"}, {"size", data.size()}, {"sha256", sha256_hex(data)},
                      {"stub", info.stub_version}, {"sections", sections},
                      {"authenticode", {{"sha256", to_hex(info.authenticode_sha256)}, {"sha384", to_hex(info.authenticode_sha384)}}}};
  if (info.cmdline) j["cmdline"] = *info.cmdline;
  if (info.osrel) j["osrel"] = *info.osrel;
  if (info.uname) j["uname"] = trim_nul(*info.uname);
  if (info.sbat) j["sbat"] = trim_nul(*info.sbat);
  if (info.kernel) {
    j["kernel"] = {{"efi_stub_version", fmt::format("{}.{}", info.kernel->MajorImageVersion, info.kernel->MinorImageVersion)},
                   {"size", info.kernel->buffer_size},
                   {"authenticode", {{"sha256", to_hex(info.kernel->authenticode_sha256)}, {"sha384", to_hex(info.kernel->authenticode_sha384)}}}};
  }
  if (auto initrd = uki::uki_section(data, ".initrd", name)) {
    try {
      j["initrd"] = inspect_cpio(*initrd, std::string(name) + ": .initrd");
    } catch (const Error& e) {
      j["initrd"] = {{"error", e.what()}};
    }
  }
  return j;
}

nlohmann::json inspect_disk_bytes(ByteSpan data, std::string_view kind) {
  const disk::DiskInfo info = disk::inspect_disk(data);
  auto header = [](const disk::GptHeader& h) {
    return nlohmann::json{{"valid", h.valid}, {"problem", h.problem}, {"my_lba", h.my_lba},
                          {"alternate_lba", h.alternate_lba}, {"disk_guid", disk::guid_to_string(h.disk_guid)},
                          {"entries", h.number_of_entries}};
  };
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : info.gpt.partitions) {
    parts.push_back({{"index", p.index}, {"name", p.name}, {"type", disk::guid_to_string(p.type_guid)},
                     {"guid", disk::guid_to_string(p.unique_guid)}, {"first_lba", p.first_lba}, {"last_lba", p.last_lba}});
  }
  nlohmann::json j = {{"kind", kind}, {"size", data.size()}, {"protective_mbr_ok", info.gpt.protective_mbr_ok},
                      {"primary_gpt", header(info.gpt.primary)}, {"backup_gpt", header(info.gpt.backup)},
                      {"partitions", parts}};
  if (info.esp) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : info.esp->entries) {
      if (f.is_directory) continue;
      files.push_back({{"path", f.path}, {"size", f.size_bytes}, {"sha256", to_hex(f.sha256)}});
    }
    j["esp"] = {{"fat", disk::fat_type_name(info.esp->type)}, {"cluster_count", info.esp->cluster_count},
                {"volume_serial", fmt::format("{:08x}", info.esp->volume_serial)}, {"label", info.esp->label},
                {"files", files}};
  }
  return j;
}

nlohmann::json inspect_log(ByteSpan data, std::string_view name) {
  const verify::EventLog log = verify::parse_tcg2_log(data, std::string(name));
  nlohmann::json banks = nlohmann::json::array();
  for (auto b : log.banks) banks.push_back(hash_name(b));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : log.events) {
    nlohmann::json d = nlohmann::json::object();
    for (const auto& [alg, v] : e.digests) d[std::string(hash_name(alg))] = to_hex(v);
    events.push_back({{"index", e.index}, {"type", measure::event_type_name(e.type)}, {"digests", d},
                      {"data_size", e.data.size()}, {"offset", e.offset}});
  }
  return {{"kind", "event_log"}, {"banks", banks}, {"events", events}};
}

} // namespace

Bytes find_uki(ByteSpan data, std::string_view name) {
  switch (detect_file_kind(data)) {
  case FileKind::uki: return Bytes(data.begin(), data.end());
  case FileKind::disk: return disk::read_fat_file(data, "EFI/BOOT/BOOTX64.EFI");
  case FileKind::vhd: return disk::read_fat_file(data.first(data.size() - 512), "EFI/BOOT/BOOTX64.EFI");
  default:
    fail(ErrorKind::unsupported, "{}: not a UKI, raw disk or VHD (no MZ, GPT or VHD signature)", name);
  }
}

nlohmann::json inspect_bytes(ByteSpan data, std::string_view name) {
  switch (detect_file_kind(data)) {
  case FileKind::uki: return inspect_uki(data, name);
  case FileKind::disk: return inspect_disk_bytes(data, "disk");
  case FileKind::vhd: {
    nlohmann::json j = inspect_disk_bytes(data.first(data.size() - 512), "vhd");
    const disk::VhdFooterInfo f = disk::read_vhd_footer(data);
    j["vhd_footer"] = {{"current_size", f.current_size}, {"disk_type", f.disk_type}, {"timestamp", f.timestamp},
                       {"checksum_ok", f.checksum_ok},
                       {"chs", fmt::format("{}/{}/{}", f.geometry.cylinders, f.geometry.heads, f.geometry.sectors_per_track)}};
    return j;
  }
  case FileKind::cpio: return inspect_cpio(data, name);
  case FileKind::event_log: return inspect_log(data, name);
  case FileKind::firmware: {
    const measure::TdvfMetadata md = measure::parse_tdvf_metadata(data, name);
    nlohmann::json j = {{"kind", "firmware"}, {"size", data.size()}, {"sha256", sha256_hex(data)},
                        {"tdvf", measure::to_json(md)}};
    j["mrtd"] = {{"single_pass", to_hex(measure::compute_mrtd(data, md, measure::PageOrder::single_pass))},
                 {"two_pass", to_hex(measure::compute_mrtd(data, md, measure::PageOrder::two_pass))}};
    return j;
  }
  case FileKind::unknown: break;
  }
  fail(ErrorKind::unsupported, "{}: unknown file type (expected a UKI, disk image, VHD, cpio archive, TCG2 event log or TDVF firmware)", name);
}

nlohmann::json measure_file(const std::filesystem::path& file, const MeasureRequest& request) {
  const Bytes data = read_file(file);
  const std::string name = file.filename().string();
  const Bytes uki_bytes = find_uki(data, name);
  nlohmann::json j = measure_uki(uki_bytes, request, name);
  if (request.firmware) {
    // TDX registers for a disk boot of this file (its GPT in RTMR1) or a direct -kernel boot of
    // a bare UKI, with MRTD from the given TDVF firmware. RTMR0 stays unpinned.
    const Bytes fw = read_file(*request.firmware);
    const measure::UkiMeasureInput in = uki_measure_input(uki_bytes, name);
    measure::TdxBootConfig cfg;
    const FileKind kind = detect_file_kind(data);
    cfg.mode = kind == FileKind::uki ? measure::TdxBootMode::direct_kernel : measure::TdxBootMode::disk;
    if (kind == FileKind::disk) cfg.gpt_event_data = disk::gpt_event_data(data);
    if (kind == FileKind::vhd) cfg.gpt_event_data = disk::gpt_event_data(ByteSpan(data).first(data.size() - 512));
    cfg.page_order = measure::page_order_for_vmm(request.vmm);
    nlohmann::json tdx = nlohmann::json::array();
    for (bool sb : request.secure_boot) {
      cfg.secure_boot = sb;
      nlohmann::json t = measure::to_json(measure::predict_tdx(in, fw, cfg));
      t["id"] = fmt::format("tdx-sb-{}", sb ? "on" : "off");
      tdx.push_back(std::move(t));
    }
    j["tdx"] = std::move(tdx);
  }
  j["source"] = {{"file", name}, {"kind", file_kind_name(detect_file_kind(data))}, {"sha256", sha256_hex(data)}};
  return j;
}

} // namespace tdximg::pipeline
