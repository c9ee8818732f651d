// tdximg diff: two inputs that differ in one known place; the report must name that place and
// its byte range must point at bytes that really differ. Inputs are made with the writers of
// the rootfs, uki and disk modules and tests/data/pe/stub.efi (tests/data/pe/PROVENANCE.md).
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include <tdximg/disk/image.hpp>
#include <tdximg/disk/vhd.hpp>
#include <tdximg/pipeline/diff.hpp>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;

namespace {

Bytes data_file(const std::string& rel) {
  return read_file(std::filesystem::path(TDXIMG_SOURCE_DIR) / "tests/data" / rel);
}

rootfs::CpioEntry file_entry(const std::string& path, const std::string& text, std::uint32_t ino,
                             std::uint32_t mtime = 1735689600) {
  rootfs::CpioEntry e;
  e.path = path;
  e.mode = rootfs::k_mode_regular | 0644;
  e.mtime = mtime;
  e.ino = ino;
  e.data = std::make_shared<const Bytes>(text.begin(), text.end());
  return e;
}

rootfs::CpioEntry dir_entry(const std::string& path, std::uint32_t ino) {
  rootfs::CpioEntry e;
  e.path = path;
  e.mode = rootfs::k_mode_dir | 0755;
  e.nlink = 2;
  e.mtime = 1735689600;
  e.ino = ino;
  return e;
}

// A two-segment zstd initramfs: segment 0 "base" (bin/, bin/sh), segment 1 "app" (etc/,
// etc/build-time with `stamp`, etc/motd with mtime `motd_mtime`).
Bytes initramfs(const std::string& stamp, std::uint32_t motd_mtime = 1735689600) {
  std::vector<rootfs::CpioEntry> s0{dir_entry("bin", 1), file_entry("bin/sh", "#!busybox\n", 2)};
  std::vector<rootfs::CpioEntry> s1{dir_entry("etc", 1), file_entry("etc/build-time", stamp, 2),
                                    file_entry("etc/motd", "hello\n", 3, motd_mtime)};
  Bytes out;
  rootfs::append_initramfs_segment(out, rootfs::compress(rootfs::write_cpio_newc(s0), rootfs::Compression::zstd, 3));
  rootfs::append_initramfs_segment(out, rootfs::compress(rootfs::write_cpio_newc(s1), rootfs::Compression::zstd, 3));
  return out;
}

Bytes make_uki(const Bytes& initrd, const std::string& cmdline = "console=ttyS0\n") {
  uki::UkiParts p;
  p.linux = data_file("pe/plain.efi");
  p.cmdline = cmdline;
  p.osrel = "ID=test\n";
  p.uname = "6.1.0-test";
  p.initrd = initrd;
  return uki::pack_uki(data_file("pe/stub.efi"), p);
}

// The findings whose object contains `object_part` and whose field equals `field`.
std::vector<nlohmann::json> findings_for(const nlohmann::json& report, const std::string& object_part, const std::string& field) {
  std::vector<nlohmann::json> out;
  for (const auto& f : report["findings"])
    if (f["object"].get<std::string>().find(object_part) != std::string::npos && f["field"] == field) out.push_back(f);
  return out;
}

// The reported range must start at a byte that differs between a and b.
void check_range_differs(const nlohmann::json& finding, const Bytes& a, const Bytes& b) {
  REQUIRE(finding.contains("range"));
  const auto off = finding["range"]["offset"].get<std::uint64_t>();
  INFO(finding.dump());
  REQUIRE(off < a.size());
  REQUIRE(off < b.size());
  CHECK(a[off] != b[off]);
}

} // namespace

TEST_CASE("diff of identical inputs reports nothing and says identical", "[pipeline]") {
  const Bytes a = initramfs("1\n");
  const nlohmann::json r = pipeline::diff_bytes(a, a, "initramfs.cpio.zst");
  CHECK(r["identical"] == true);
  CHECK(r["findings"].empty());
  CHECK(pipeline::render_diff_text(r) == "identical\n");
}

TEST_CASE("diff of two initramfs streams names the segment and the member whose content differs", "[pipeline]") {
  const Bytes a = initramfs("1700000000\n"), b = initramfs("1700000999\n");
  pipeline::DiffOptions o;
  o.segment_names = {"base", "app"};
  const nlohmann::json r = pipeline::diff_bytes(a, b, "initramfs.cpio.zst", o);
  CHECK(r["identical"] == false);
  CHECK(r["kind"] == "cpio");
  // Segment 0 is byte-identical: nothing is reported in it.
  CHECK(findings_for(r, "segment 0", "stored bytes").empty());
  const auto seg = findings_for(r, "segment 1 (app)", "stored bytes");
  REQUIRE(seg.size() == 1);
  check_range_differs(seg[0], a, b); // the compressed segment's range in the stream
  const auto m = findings_for(r, "segment 1 (app): etc/build-time", "content sha256");
  REQUIRE(m.size() == 1);
  CHECK(m[0]["range"]["in"] == "initramfs.cpio.zst: segment 1 (app) (uncompressed)");
  // The range is inside the uncompressed segment, at the first differing data byte: check it
  // against the decompressed bytes.
  const auto sa = rootfs::read_cpio_segments(a), sb = rootfs::read_cpio_segments(b);
  const Bytes ua = rootfs::decompress(ByteSpan(a).subspan(sa.segments[1].offset, sa.segments[1].stored_size), rootfs::Compression::zstd, 1 << 20);
  const Bytes ub = rootfs::decompress(ByteSpan(b).subspan(sb.segments[1].offset, sb.segments[1].stored_size), rootfs::Compression::zstd, 1 << 20);
  check_range_differs(m[0], ua, ub);
  // Nothing else in the segment is blamed.
  CHECK(findings_for(r, "etc/motd", "content sha256").empty());
  CHECK(findings_for(r, "etc/motd", "mtime").empty());
  const std::string text = pipeline::render_diff_text(r);
  CHECK(text.find("segment 1 (app): etc/build-time: content sha256") != std::string::npos);
}

TEST_CASE("diff of two initramfs streams reports a metadata-only difference by field", "[pipeline]") {
  const Bytes a = initramfs("1\n", 1735689600), b = initramfs("1\n", 1735689601);
  const nlohmann::json r = pipeline::diff_bytes(a, b, "initrd");
  const auto m = findings_for(r, "segment 1: etc/motd", "mtime");
  REQUIRE(m.size() == 1);
  CHECK(m[0]["a"] == "1735689600");
  CHECK(m[0]["b"] == "1735689601");
  CHECK(findings_for(r, "etc/motd", "content sha256").empty());
}

TEST_CASE("diff of two UKIs names the differing section and descends into .initrd", "[pipeline]") {
  const Bytes a = make_uki(initramfs("1\n")), b = make_uki(initramfs("2\n"));
  const nlohmann::json r = pipeline::diff_bytes(a, b, "uki.efi");
  CHECK(r["kind"] == "uki");
  const auto sec = findings_for(r, "uki.efi: section .initrd", "sha256 (as loaded)");
  REQUIRE(sec.size() == 1);
  check_range_differs(sec[0], a, b); // a file offset inside .initrd
  CHECK(!findings_for(r, "section .initrd: segment 1: etc/build-time", "content sha256").empty());
  CHECK(findings_for(r, "section .cmdline", "sha256 (as loaded)").empty());
  CHECK(findings_for(r, "section .linux", "sha256 (as loaded)").empty());
}

TEST_CASE("diff of two UKIs with another cmdline names .cmdline and the header fields that moved", "[pipeline]") {
  const Bytes initrd = initramfs("1\n");
  const Bytes a = make_uki(initrd, "console=ttyS0\n"), b = make_uki(initrd, "console=ttyS1\n");
  const nlohmann::json r = pipeline::diff_bytes(a, b, "uki.efi");
  const auto sec = findings_for(r, "section .cmdline", "sha256 (as loaded)");
  REQUIRE(sec.size() == 1);
  check_range_differs(sec[0], a, b);
  CHECK(findings_for(r, "section .initrd", "sha256 (as loaded)").empty());
  // Same length: the section table does not change.
  CHECK(findings_for(r, "section .cmdline", "VirtualSize").empty());
  const Bytes c = make_uki(initrd, "console=ttyS0 quiet\n");
  const nlohmann::json r2 = pipeline::diff_bytes(a, c, "uki.efi");
  const auto vs = findings_for(r2, "section .cmdline", "VirtualSize");
  REQUIRE(vs.size() == 1);
  CHECK(vs[0]["a"] == "14");
  CHECK(vs[0]["b"] == "20");
}

TEST_CASE("diff of two disks names the GPT GUIDs, the ESP file and the UKI section inside it", "[pipeline]") {
  disk::DiskSpec sa, sb;
  sa.source_date_epoch = sb.source_date_epoch = 1735689600;
  sa.files.push_back({"EFI/BOOT/BOOTX64.EFI", make_uki(initramfs("1\n"))});
  sb.files.push_back({"EFI/BOOT/BOOTX64.EFI", make_uki(initramfs("2\n"))});
  const Bytes a = disk::make_esp_disk(sa), b = disk::make_esp_disk(sb);
  const nlohmann::json r = pipeline::diff_bytes(a, b, "disk.raw");
  CHECK(r["kind"] == "disk");
  // GUIDs are derived from the ESP content (image.hpp), so they differ and are named.
  const auto guid = findings_for(r, "disk.raw: primary GPT header", "DiskGUID");
  REQUIRE(guid.size() == 1);
  CHECK(!findings_for(r, "disk.raw: GPT entry 0", "UniquePartitionGUID").empty());
  CHECK(!findings_for(r, "disk.raw: ESP", "volume serial").empty());
  const auto file = findings_for(r, "disk.raw: ESP: EFI/BOOT/BOOTX64.EFI", "content sha256");
  REQUIRE(file.size() == 2); // the FAT file, and the member inside its .initrd
  CHECK(file[0]["object"] == "disk.raw: ESP: EFI/BOOT/BOOTX64.EFI");
  CHECK(!findings_for(r, "EFI/BOOT/BOOTX64.EFI: section .initrd: segment 1: etc/build-time", "content sha256").empty());
  const auto fats = findings_for(r, "disk.raw: ESP: boot sector", "sha256");
  REQUIRE(fats.size() == 1);
  check_range_differs(fats[0], a, b); // offset is relative to the whole disk
}

TEST_CASE("diff of two VHDs names the footer field first, then the disk inside", "[pipeline]") {
  disk::DiskSpec s;
  s.source_date_epoch = 1735689600;
  s.files.push_back({"EFI/BOOT/BOOTX64.EFI", Bytes(4096, 0x5a)});
  const Bytes raw = disk::make_esp_disk(s);
  const Bytes a = disk::make_vhd(raw, 1735689600), b = disk::make_vhd(raw, 1735689600 + 86400);
  const nlohmann::json r = pipeline::diff_bytes(a, b, "disk.vhd");
  CHECK(r["kind"] == "vhd");
  const auto ts = findings_for(r, "disk.vhd: VHD footer", "TimeStamp");
  REQUIRE(ts.size() == 1);
  CHECK(std::stoul(ts[0]["b"].get<std::string>()) - std::stoul(ts[0]["a"].get<std::string>()) == 86400);
  // The disk part is identical.
  CHECK(findings_for(r, "disk.vhd: disk", "DiskGUID").empty());
}

TEST_CASE("diff of two inputs of different kinds says so", "[pipeline]") {
  const Bytes a = initramfs("1\n");
  const Bytes b = make_uki(a);
  const nlohmann::json r = pipeline::diff_bytes(a, b, "x");
  const auto k = findings_for(r, "x", "kind");
  REQUIRE(k.size() == 1);
  CHECK(k[0]["a"] == "cpio");
  CHECK(k[0]["b"] == "uki");
}

TEST_CASE("diff of two build directories puts the input digest first, then the outputs it changed", "[pipeline]") {
  TempDir t;
  const auto da = t.path() / "a", db = t.path() / "b";
  std::filesystem::create_directories(da);
  std::filesystem::create_directories(db);
  auto manifest = [](const std::string& app_sha, const std::string& seg_sha, const std::string& out_sha) {
    nlohmann::json m;
    m["tool"] = {{"name", "tdximg"}, {"version", "0.1.0"}};
    m["output_format"] = 1;
    m["recipe"] = {{"name", "hello"}, {"sha256", "aa"}};
    m["inputs"] = {{"app", {{"kind", "path"}, {"sha256", app_sha}}}, {"kernel", {{"kind", "deb"}, {"sha256", "kk"}}}};
    m["layers"] = nlohmann::json::array({{{"name", "base"}, {"segment", {{"uncompressed_sha256", "s0"}}}},
                                         {{"name", "app"}, {"segment", {{"uncompressed_sha256", seg_sha}}}}});
    m["outputs"] = {{"initramfs.cpio.zst", {{"sha256", out_sha}, {"size", 1}}}};
    return m.dump(2) + "\n";
  };
  const Bytes ia = initramfs("1\n"), ib = initramfs("2\n");
  write_file_atomic(da / "manifest.json", manifest("11", "s1", sha256_hex(ia)));
  write_file_atomic(db / "manifest.json", manifest("22", "s2", sha256_hex(ib)));
  write_file_atomic(da / "initramfs.cpio.zst", ia);
  write_file_atomic(db / "initramfs.cpio.zst", ib);
  write_file_atomic(da / "only-a.txt", std::string_view("x"));
  const nlohmann::json r = pipeline::diff_paths(da, db);
  CHECK(r["kind"] == "directory");
  REQUIRE(!r["findings"].empty());
  const auto& first = r["findings"][0];
  CHECK(first["object"] == "manifest: input app");
  CHECK(first["field"] == "sha256");
  CHECK(findings_for(r, "manifest: input kernel", "sha256").empty());
  CHECK(!findings_for(r, "manifest: layer 1 (app)", "segment uncompressed sha256").empty());
  CHECK(findings_for(r, "manifest: layer 0", "segment uncompressed sha256").empty());
  // The file-level descent labels segments with the manifest's layer names.
  CHECK(!findings_for(r, "initramfs.cpio.zst: segment 1 (app): etc/build-time", "content sha256").empty());
  CHECK(!findings_for(r, "only-a.txt", "present").empty());
  CHECK_THROWS_AS(pipeline::diff_paths(da, da / "manifest.json"), Error);
  // A field outside the named ones (a layer's "reused" flag) is still reported.
  const auto dc = t.path() / "c";
  std::filesystem::create_directories(dc);
  nlohmann::json mc = nlohmann::json::parse(read_text_file(da / "manifest.json"));
  mc["layers"][1]["segment"]["reused"] = true;
  write_file_atomic(dc / "manifest.json", mc.dump(2) + "\n");
  write_file_atomic(dc / "initramfs.cpio.zst", ia);
  write_file_atomic(dc / "only-a.txt", std::string_view("x"));
  const nlohmann::json rc = pipeline::diff_paths(da, dc);
  REQUIRE(rc["findings"].size() == 1);
  CHECK(rc["findings"][0]["object"] == "manifest: /layers/1/segment/reused");
  // Same directory: identical.
  CHECK(pipeline::diff_paths(da, da)["identical"] == true);
}

TEST_CASE("diff of a malformed initramfs throws an input error naming it", "[pipeline]") {
  Bytes a = initramfs("1\n"), b = a;
  b.resize(b.size() - 20); // truncated zstd frame
  try {
    pipeline::diff_bytes(a, b, "initrd");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
  }
}
