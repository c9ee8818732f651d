// `tdximg diff`: explain the first layer of difference between two builds, then descend into
// each differing output through the same readers `inspect` uses (rootfs cpio reader, uki/pe,
// disk GPT/FAT/VHD). Untrusted bytes are only ever read through those checked readers.
#include <tdximg/pipeline/diff.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include <tdximg/disk/fat.hpp>
#include <tdximg/disk/gpt.hpp>
#include <tdximg/disk/image.hpp>
#include <tdximg/disk/vhd.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/pipeline/inspect.hpp>
#include <tdximg/rootfs/compress.hpp>
#include <tdximg/rootfs/cpio.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

namespace tdximg::pipeline {

namespace {

namespace fs = std::filesystem;

struct Range {
  std::string in; // the object the offset is relative to
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// Collects findings in order, up to a limit.
class Findings {
public:
  explicit Findings(std::size_t max) : m_max(max) {}
  void add(const std::string& object, const std::string& field, const std::string& a,
           const std::string& b, const std::optional<Range>& range = std::nullopt) {
    if (m_list.size() >= m_max) {
      m_truncated = true;
      return;
    }
    nlohmann::json j = {{"object", object}, {"field", field}, {"a", a}, {"b", b}};
    if (range) j["range"] = {{"in", range->in}, {"offset", range->offset}, {"length", range->length}};
    m_list.push_back(std::move(j));
  }
  template <typename T>
  void cmp(const std::string& object, const std::string& field, const T& a, const T& b,
           const std::optional<Range>& range = std::nullopt) {
    if (a != b) add(object, field, fmt::format("{}", a), fmt::format("{}", b), range);
  }
  std::size_t size() const noexcept { return m_list.size(); }
  bool full() const noexcept { return m_list.size() >= m_max; }
  bool truncated() const noexcept { return m_truncated; }
  const nlohmann::json& list() const noexcept { return m_list; }

private:
  std::size_t m_max;
  bool m_truncated = false;
  nlohmann::json m_list = nlohmann::json::array();
};

bool same(ByteSpan a, ByteSpan b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// Offset of the first differing byte (the shorter length if one is a prefix of the other);
// nullopt when equal.
std::optional<std::uint64_t> first_difference(ByteSpan a, ByteSpan b) {
  const std::size_t n = std::min(a.size(), b.size());
  const auto mm = std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin());
  const auto off = static_cast<std::uint64_t>(mm.first - a.begin());
  if (off < n) return off;
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

// Length of the differing run starting at `off`: up to the last differing byte within a 1 MiB
// window (a hint for the reader, not a precise diff).
std::uint64_t difference_length(ByteSpan a, ByteSpan b, std::uint64_t off) {
  const std::uint64_t end = std::min<std::uint64_t>({a.size(), b.size(), off + (1u << 20)});
  std::uint64_t last = off;
  for (std::uint64_t i = off; i < end; ++i)
    if (a[i] != b[i]) last = i;
  if (a.size() != b.size() && end == std::min<std::uint64_t>(a.size(), b.size()))
    return std::max<std::uint64_t>(a.size(), b.size()) - off;
  return last - off + 1;
}

// Whole-object digest finding with the first differing byte range.
void bytes_finding(Findings& f, const std::string& object, ByteSpan a, ByteSpan b, std::uint64_t base = 0,
                   const std::string& in = {}) {
  const auto off = first_difference(a, b);
  if (!off) return;
  f.add(object, "sha256", sha256_hex(a), sha256_hex(b),
        Range{in.empty() ? object : in, base + *off, difference_length(a, b, *off)});
  if (a.size() != b.size()) f.add(object, "size", fmt::format("{}", a.size()), fmt::format("{}", b.size()));
}

std::string oct(std::uint32_t v) { return fmt::format("{:o}", v); }

std::uint64_t align4(std::uint64_t v) { return (v + 3) & ~std::uint64_t{3}; }

// ---- initramfs ------------------------------------------------------------------------------

std::string segment_label(std::size_t i, const DiffOptions& o) {
  if (i < o.segment_names.size() && !o.segment_names[i].empty()) return fmt::format("segment {} ({})", i, o.segment_names[i]);
  return fmt::format("segment {}", i);
}

void diff_member(Findings& f, const std::string& obj, const rootfs::CpioMember& a, const rootfs::CpioMember& b,
                 const std::string& seg_in) {
  const auto& ea = a.entry;
  const auto& eb = b.entry;
  const std::uint64_t len = align4(rootfs::k_newc_header_size + ea.path.size() + 1) + align4(ea.data ? ea.data->size() : 0);
  const Range r{seg_in, a.offset, len};
  f.cmp(obj, "mode", oct(ea.mode), oct(eb.mode), r);
  f.cmp(obj, "uid", ea.uid, eb.uid, r);
  f.cmp(obj, "gid", ea.gid, eb.gid, r);
  f.cmp(obj, "mtime", ea.mtime, eb.mtime, r);
  f.cmp(obj, "nlink", ea.nlink, eb.nlink, r);
  f.cmp(obj, "rdev", fmt::format("{}:{}", ea.rdev_major, ea.rdev_minor), fmt::format("{}:{}", eb.rdev_major, eb.rdev_minor), r);
  f.cmp(obj, "ino", ea.ino, eb.ino, r);
  const Bytes empty;
  const Bytes& da = ea.data ? *ea.data : empty;
  const Bytes& db = eb.data ? *eb.data : empty;
  if (!same(da, db)) {
    const std::uint64_t data_off = align4(a.offset + rootfs::k_newc_header_size + ea.path.size() + 1);
    const bool link = (ea.mode & rootfs::k_mode_type_mask) == rootfs::k_mode_symlink;
    if (link) {
      f.add(obj, "symlink target", std::string(da.begin(), da.end()), std::string(db.begin(), db.end()), r);
    } else {
      const auto off = first_difference(da, db).value_or(0);
      f.add(obj, "content sha256", sha256_hex(da), sha256_hex(db), Range{seg_in, data_off + off, difference_length(da, db, off)});
      if (da.size() != db.size()) f.cmp(obj, "size", da.size(), db.size());
    }
  }
  if (a.offset != b.offset && f.size() == 0) f.cmp(obj, "offset in segment", a.offset, b.offset);
}

void diff_cpio(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o) {
  rootfs::CpioReadOptions ra, rb;
  ra.name = name + " (A)";
  rb.name = name + " (B)";
  const rootfs::CpioStream sa = rootfs::read_cpio_segments(a, ra);
  const rootfs::CpioStream sb = rootfs::read_cpio_segments(b, rb);
  f.cmp(name, "segments", sa.segments.size(), sb.segments.size());
  const std::size_t n = std::max(sa.segments.size(), sb.segments.size());
  for (std::size_t i = 0; i < n && !f.full(); ++i) {
    const std::string seg = name + ": " + segment_label(i, o);
    const rootfs::CpioSegment* ga = i < sa.segments.size() ? &sa.segments[i] : nullptr;
    const rootfs::CpioSegment* gb = i < sb.segments.size() ? &sb.segments[i] : nullptr;
    if (ga && gb) {
      const ByteSpan ba = checked_slice(a, ga->offset, ga->stored_size, "segment");
      const ByteSpan bb = checked_slice(b, gb->offset, gb->stored_size, "segment");
      if (same(ba, bb)) continue;
      const std::uint64_t off = first_difference(ba, bb).value_or(0);
      f.add(seg, "stored bytes", sha256_hex(ba), sha256_hex(bb), Range{name, ga->offset + off, difference_length(ba, bb, off)});
      f.cmp(seg, "compression", std::string(rootfs::compression_name(ga->compression)),
            std::string(rootfs::compression_name(gb->compression)));
      f.cmp(seg, "offset", ga->offset, gb->offset);
      f.cmp(seg, "uncompressed size", ga->uncompressed_size, gb->uncompressed_size);
      f.cmp(seg, "members", ga->member_count, gb->member_count);
    } else {
      f.add(seg, "present", ga ? "yes" : "no", gb ? "yes" : "no");
    }
    // Members of segment i on each side, by path (a path may repeat: placeholder directories).
    std::map<std::string, std::vector<const rootfs::CpioMember*>> ma, mb;
    if (ga)
      for (std::size_t k = ga->first_member; k < ga->first_member + ga->member_count; ++k) ma[sa.members[k].entry.path].push_back(&sa.members[k]);
    if (gb)
      for (std::size_t k = gb->first_member; k < gb->first_member + gb->member_count; ++k) mb[sb.members[k].entry.path].push_back(&sb.members[k]);
    std::set<std::string> paths;
    for (const auto& [p, v] : ma) paths.insert(p);
    for (const auto& [p, v] : mb) paths.insert(p);
    const std::string seg_in = seg + " (uncompressed)";
    const std::size_t before = f.size();
    for (const auto& p : paths) {
      if (f.full()) break;
      const auto& va = ma[p];
      const auto& vb = mb[p];
      const std::string obj = seg + ": " + p;
      if (va.size() != vb.size()) {
        const rootfs::CpioMember* any = !va.empty() ? va.front() : vb.front();
        f.add(obj, "present", va.empty() ? "no" : fmt::format("yes ({}x)", va.size()),
              vb.empty() ? "no" : fmt::format("yes ({}x)", vb.size()), Range{seg_in, any->offset, rootfs::k_newc_header_size});
        continue;
      }
      for (std::size_t k = 0; k < va.size(); ++k) diff_member(f, obj, *va[k], *vb[k], seg_in);
    }
    if (f.size() == before && ga && gb) {
      // Same members, different bytes: order or header fields we do not list (dev, check).
      f.add(seg, "member order or header bytes", "", "", Range{seg_in, 0, ga->uncompressed_size});
    }
  }
}

// ---- UKI / PE -------------------------------------------------------------------------------

void diff_pe(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o) {
  const pe::PeFile pa(a, name + " (A)");
  const pe::PeFile pb(b, name + " (B)");
  const Range coff{name, pa.coff_offset(), pe::k_coff_header_size};
  const std::string ch = name + ": COFF header";
  const auto& ca = pa.coff();
  const auto& cb = pb.coff();
  f.cmp(ch, "Machine", ca.Machine, cb.Machine, coff);
  f.cmp(ch, "NumberOfSections", ca.NumberOfSections, cb.NumberOfSections, coff);
  f.cmp(ch, "TimeDateStamp", ca.TimeDateStamp, cb.TimeDateStamp, coff);
  f.cmp(ch, "PointerToSymbolTable", ca.PointerToSymbolTable, cb.PointerToSymbolTable, coff);
  f.cmp(ch, "NumberOfSymbols", ca.NumberOfSymbols, cb.NumberOfSymbols, coff);
  f.cmp(ch, "SizeOfOptionalHeader", ca.SizeOfOptionalHeader, cb.SizeOfOptionalHeader, coff);
  f.cmp(ch, "Characteristics", ca.Characteristics, cb.Characteristics, coff);
  const Range opt{name, pa.optional_header_offset(), ca.SizeOfOptionalHeader};
  const std::string oh = name + ": optional header";
  const auto& oa = pa.optional();
  const auto& ob = pb.optional();
  f.cmp(oh, "Magic", oa.Magic, ob.Magic, opt);
  f.cmp(oh, "LinkerVersion", fmt::format("{}.{}", oa.MajorLinkerVersion, oa.MinorLinkerVersion),
        fmt::format("{}.{}", ob.MajorLinkerVersion, ob.MinorLinkerVersion), opt);
  f.cmp(oh, "SizeOfCode", oa.SizeOfCode, ob.SizeOfCode, opt);
  f.cmp(oh, "SizeOfInitializedData", oa.SizeOfInitializedData, ob.SizeOfInitializedData, opt);
  f.cmp(oh, "SizeOfUninitializedData", oa.SizeOfUninitializedData, ob.SizeOfUninitializedData, opt);
  f.cmp(oh, "AddressOfEntryPoint", oa.AddressOfEntryPoint, ob.AddressOfEntryPoint, opt);
  f.cmp(oh, "ImageBase", oa.ImageBase, ob.ImageBase, opt);
  f.cmp(oh, "SectionAlignment", oa.SectionAlignment, ob.SectionAlignment, opt);
  f.cmp(oh, "FileAlignment", oa.FileAlignment, ob.FileAlignment, opt);
  f.cmp(oh, "ImageVersion", fmt::format("{}.{}", oa.MajorImageVersion, oa.MinorImageVersion),
        fmt::format("{}.{}", ob.MajorImageVersion, ob.MinorImageVersion), opt);
  f.cmp(oh, "SizeOfImage", oa.SizeOfImage, ob.SizeOfImage, opt);
  f.cmp(oh, "SizeOfHeaders", oa.SizeOfHeaders, ob.SizeOfHeaders, opt);
  f.cmp(oh, "CheckSum", oa.CheckSum, ob.CheckSum, Range{name, pa.checksum_offset(), 4});
  f.cmp(oh, "Subsystem", oa.Subsystem, ob.Subsystem, opt);
  f.cmp(oh, "DllCharacteristics", oa.DllCharacteristics, ob.DllCharacteristics, opt);
  f.cmp(oh, "NumberOfRvaAndSizes", oa.NumberOfRvaAndSizes, ob.NumberOfRvaAndSizes, opt);
  const std::size_t nd = std::min(oa.DataDirectories.size(), ob.DataDirectories.size());
  for (std::size_t i = 0; i < nd; ++i) {
    const auto& da = oa.DataDirectories[i];
    const auto& db = ob.DataDirectories[i];
    const Range r{name, da.entry_offset, 8};
    f.cmp(oh, fmt::format("DataDirectory[{}].VirtualAddress", i), da.VirtualAddress, db.VirtualAddress, r);
    f.cmp(oh, fmt::format("DataDirectory[{}].Size", i), da.Size, db.Size, r);
  }

  // Sections, matched by name (first occurrence), in A's table order, then B's extra ones.
  std::vector<std::string> names_a, names_b;
  for (const auto& s : pa.sections()) names_a.push_back(s.name);
  for (const auto& s : pb.sections()) names_b.push_back(s.name);
  if (names_a != names_b) {
    f.add(name + ": section table", "names", fmt::format("{}", fmt::join(names_a, " ")), fmt::format("{}", fmt::join(names_b, " ")),
          Range{name, pa.section_table_offset(), pe::k_section_header_size * names_a.size()});
  }
  for (const auto& s : pa.sections()) {
    if (f.full()) break;
    const std::string obj = name + ": section " + s.name;
    const pe::Section* t = pb.section(s.name);
    if (!t) {
      f.add(obj, "present", "yes", "no", Range{name, s.header_offset, pe::k_section_header_size});
      continue;
    }
    const Range hdr{name, s.header_offset, pe::k_section_header_size};
    f.cmp(obj, "VirtualAddress", s.VirtualAddress, t->VirtualAddress, hdr);
    f.cmp(obj, "VirtualSize", s.VirtualSize, t->VirtualSize, hdr);
    f.cmp(obj, "PointerToRawData", s.PointerToRawData, t->PointerToRawData, hdr);
    f.cmp(obj, "SizeOfRawData", s.SizeOfRawData, t->SizeOfRawData, hdr);
    f.cmp(obj, "Characteristics", s.Characteristics, t->Characteristics, hdr);
    const Bytes ma = pa.section_memory(s);
    const Bytes mb = pb.section_memory(*t);
    if (auto off = first_difference(ma, mb)) {
      f.add(obj, "sha256 (as loaded)", sha256_hex(ma), sha256_hex(mb),
            Range{name, std::uint64_t{s.PointerToRawData} + *off, difference_length(ma, mb, *off)});
      if (s.name == ".initrd") {
        // The initramfs inside: descend to segment and member.
        try {
          diff_cpio(f, ma, mb, obj, o);
        } catch (const Error& e) {
          f.add(obj, "initramfs unreadable", e.what(), "");
        }
      }
    }
  }
  for (const auto& s : pb.sections())
    if (!pa.section(s.name)) f.add(name + ": section " + s.name, "present", "no", "yes");
  // Bytes outside headers and sections (overlay, certificate table).
  const std::uint64_t ea = pa.end_of_section_data(), eb = pb.end_of_section_data();
  if (ea <= a.size() && eb <= b.size()) {
    const ByteSpan ta = a.subspan(static_cast<std::size_t>(ea));
    const ByteSpan tb = b.subspan(static_cast<std::size_t>(eb));
    if (!same(ta, tb)) bytes_finding(f, name + ": data after the last section", ta, tb, ea, name);
  }
}

// ---- disks ----------------------------------------------------------------------------------

void diff_gpt_header(Findings& f, const std::string& obj, const disk::GptHeader& a, const disk::GptHeader& b,
                     const Range& r) {
  f.cmp(obj, "valid", a.valid, b.valid, r);
  f.cmp(obj, "problem", a.problem, b.problem, r);
  f.cmp(obj, "Revision", a.revision, b.revision, r);
  f.cmp(obj, "HeaderSize", a.header_size, b.header_size, r);
  f.cmp(obj, "MyLBA", a.my_lba, b.my_lba, r);
  f.cmp(obj, "AlternateLBA", a.alternate_lba, b.alternate_lba, r);
  f.cmp(obj, "FirstUsableLBA", a.first_usable_lba, b.first_usable_lba, r);
  f.cmp(obj, "LastUsableLBA", a.last_usable_lba, b.last_usable_lba, r);
  f.cmp(obj, "DiskGUID", disk::guid_to_string(a.disk_guid), disk::guid_to_string(b.disk_guid), r);
  f.cmp(obj, "PartitionEntryLBA", a.partition_entry_lba, b.partition_entry_lba, r);
  f.cmp(obj, "NumberOfPartitionEntries", a.number_of_entries, b.number_of_entries, r);
  f.cmp(obj, "SizeOfPartitionEntry", a.entry_size, b.entry_size, r);
  f.cmp(obj, "header CRC ok", a.header_crc_ok, b.header_crc_ok, r);
  f.cmp(obj, "entries CRC ok", a.entries_crc_ok, b.entries_crc_ok, r);
}

void diff_bytes_into(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o);

void diff_fat(Findings& f, ByteSpan va, ByteSpan vb, const std::string& name, std::uint64_t base,
              const std::string& disk_name, const DiffOptions& o) {
  // Boot sector (BPB) first: it decides the layout of everything after it.
  const ByteSpan bsa = checked_slice(va, 0, disk::k_sector_bytes, "FAT boot sector");
  const ByteSpan bsb = checked_slice(vb, 0, disk::k_sector_bytes, "FAT boot sector");
  if (!same(bsa, bsb)) bytes_finding(f, name + ": boot sector", bsa, bsb, base, disk_name);
  const disk::FatInfo fa = disk::inspect_fat(va, name + " (A)");
  const disk::FatInfo fb = disk::inspect_fat(vb, name + " (B)");
  f.cmp(name, "FAT type", std::string(disk::fat_type_name(fa.type)), std::string(disk::fat_type_name(fb.type)));
  f.cmp(name, "sectors per cluster", fa.sectors_per_cluster, fb.sectors_per_cluster);
  f.cmp(name, "clusters", fa.cluster_count, fb.cluster_count);
  f.cmp(name, "volume serial", fmt::format("{:08x}", fa.volume_serial), fmt::format("{:08x}", fb.volume_serial));
  f.cmp(name, "label", fa.label, fb.label);
  // The FATs: from the reserved sectors to the end of the last FAT (layout from A's BPB).
  const std::uint64_t reserved = load_u16le(va, 14, "BPB_RsvdSecCnt");
  const std::uint64_t nfats = checked_slice(va, 16, 1, "BPB_NumFATs")[0];
  std::uint64_t fatsz = load_u16le(va, 22, "BPB_FATSz16");
  if (fatsz == 0) fatsz = load_u32le(va, 36, "BPB_FATSz32");
  const std::uint64_t fat_off = reserved * disk::k_sector_bytes;
  const std::uint64_t fat_len = nfats * fatsz * disk::k_sector_bytes;
  if (fat_off + fat_len <= va.size() && fat_off + fat_len <= vb.size()) {
    const ByteSpan ta = va.subspan(static_cast<std::size_t>(fat_off), static_cast<std::size_t>(fat_len));
    const ByteSpan tb = vb.subspan(static_cast<std::size_t>(fat_off), static_cast<std::size_t>(fat_len));
    if (!same(ta, tb)) bytes_finding(f, name + ": FATs (cluster chains)", ta, tb, base + fat_off, disk_name);
  }
  // Directory entries and file contents, by path.
  std::map<std::string, const disk::FatEntryInfo*> ea, eb;
  for (const auto& e : fa.entries) ea[e.path] = &e;
  for (const auto& e : fb.entries) eb[e.path] = &e;
  std::set<std::string> paths;
  for (const auto& [p, e] : ea) paths.insert(p);
  for (const auto& [p, e] : eb) paths.insert(p);
  for (const auto& p : paths) {
    if (f.full()) break;
    const std::string obj = name + ": " + p;
    const auto ia = ea.find(p), ib = eb.find(p);
    if (ia == ea.end() || ib == eb.end()) {
      f.add(obj, "present", ia == ea.end() ? "no" : "yes", ib == eb.end() ? "no" : "yes");
      continue;
    }
    f.cmp(obj, "directory", ia->second->is_directory, ib->second->is_directory);
    f.cmp(obj, "size", ia->second->size_bytes, ib->second->size_bytes);
    if (!ia->second->is_directory && ia->second->sha256 != ib->second->sha256) {
      f.add(obj, "content sha256", to_hex(ia->second->sha256), to_hex(ib->second->sha256));
      const Bytes ca = disk::read_fat_file_in_volume(va, p, name + " (A)");
      const Bytes cb = disk::read_fat_file_in_volume(vb, p, name + " (B)");
      diff_bytes_into(f, ca, cb, obj, o);
    }
  }
}

void diff_disk(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o) {
  const disk::GptInfo ga = disk::read_gpt(a);
  const disk::GptInfo gb = disk::read_gpt(b);
  f.cmp(name, "disk size", ga.disk_bytes, gb.disk_bytes);
  const ByteSpan mbra = checked_slice(a, 0, 512, "MBR"), mbrb = checked_slice(b, 0, 512, "MBR");
  if (!same(mbra, mbrb)) bytes_finding(f, name + ": protective MBR", mbra, mbrb, 0, name);
  f.cmp(name + ": protective MBR", "valid", ga.protective_mbr_ok, gb.protective_mbr_ok);
  diff_gpt_header(f, name + ": primary GPT header", ga.primary, gb.primary, Range{name, 512, 512});
  diff_gpt_header(f, name + ": backup GPT header", ga.backup, gb.backup, Range{name, ga.backup.my_lba * 512, 512});
  const std::size_t np = std::max(ga.partitions.size(), gb.partitions.size());
  for (std::size_t i = 0; i < np; ++i) {
    const std::string obj = fmt::format("{}: GPT entry {}", name, i);
    if (i >= ga.partitions.size() || i >= gb.partitions.size()) {
      f.add(obj, "present", i < ga.partitions.size() ? "yes" : "no", i < gb.partitions.size() ? "yes" : "no");
      continue;
    }
    const auto& pa = ga.partitions[i];
    const auto& pb = gb.partitions[i];
    const Range r{name, ga.primary.partition_entry_lba * 512 + std::uint64_t{pa.index} * ga.primary.entry_size, ga.primary.entry_size};
    f.cmp(obj, "index", pa.index, pb.index, r);
    f.cmp(obj, "PartitionTypeGUID", disk::guid_to_string(pa.type_guid), disk::guid_to_string(pb.type_guid), r);
    f.cmp(obj, "UniquePartitionGUID", disk::guid_to_string(pa.unique_guid), disk::guid_to_string(pb.unique_guid), r);
    f.cmp(obj, "StartingLBA", pa.first_lba, pb.first_lba, r);
    f.cmp(obj, "EndingLBA", pa.last_lba, pb.last_lba, r);
    f.cmp(obj, "Attributes", pa.attributes, pb.attributes, r);
    f.cmp(obj, "PartitionName", pa.name, pb.name, r);
  }
  ByteSpan ea, eb;
  try {
    ea = disk::esp_partition(a);
    eb = disk::esp_partition(b);
  } catch (const Error& e) {
    f.add(name, "ESP", e.what(), "");
    return;
  }
  if (!same(ea, eb)) {
    const auto base = static_cast<std::uint64_t>(ea.data() - a.data());
    diff_fat(f, ea, eb, name + ": ESP", base, name, o);
  }
}

void diff_vhd(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o) {
  const disk::VhdFooterInfo fa = disk::read_vhd_footer(a);
  const disk::VhdFooterInfo fb = disk::read_vhd_footer(b);
  const std::string obj = name + ": VHD footer";
  const Range r{name, a.size() - 512, 512};
  f.cmp(obj, "CurrentSize", fa.current_size, fb.current_size, r);
  f.cmp(obj, "DiskType", fa.disk_type, fb.disk_type, r);
  f.cmp(obj, "TimeStamp", fa.timestamp, fb.timestamp, r);
  f.cmp(obj, "DiskGeometry", fmt::format("{}/{}/{}", fa.geometry.cylinders, fa.geometry.heads, fa.geometry.sectors_per_track),
        fmt::format("{}/{}/{}", fb.geometry.cylinders, fb.geometry.heads, fb.geometry.sectors_per_track), r);
  f.cmp(obj, "Checksum ok", fa.checksum_ok, fb.checksum_ok, r);
  const ByteSpan fta = a.last(512), ftb = b.last(512);
  if (!same(fta, ftb) && f.size() == 0) bytes_finding(f, obj + " (unique id, other fields)", fta, ftb, a.size() - 512, name);
  const ByteSpan da = a.first(a.size() - 512), db = b.first(b.size() - 512);
  if (!same(da, db)) diff_disk(f, da, db, name + ": disk", o);
}

// JSON files: every differing leaf (JSON pointer), e.g. measurements.json's PCR values.
void diff_json(Findings& f, ByteSpan a, ByteSpan b, const std::string& name) {
  nlohmann::json ja = nlohmann::json::parse(a.begin(), a.end(), nullptr, false);
  nlohmann::json jb = nlohmann::json::parse(b.begin(), b.end(), nullptr, false);
  if (ja.is_discarded() || jb.is_discarded()) return;
  const nlohmann::json fa = ja.flatten(), fb = jb.flatten();
  std::set<std::string> keys;
  for (auto it = fa.begin(); it != fa.end(); ++it) keys.insert(it.key());
  for (auto it = fb.begin(); it != fb.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    if (f.full()) break;
    const bool ina = fa.contains(k), inb = fb.contains(k);
    if (ina && inb && fa.at(k) == fb.at(k)) continue;
    // flatten() turns an empty object into a null leaf: {} vs {"x": 1} is the "x" finding only.
    if ((ina && !inb && fa.at(k).is_null()) || (inb && !ina && fb.at(k).is_null())) continue;
    f.add(name + ": " + k, "value", ina ? fa.at(k).dump() : "(absent)", inb ? fb.at(k).dump() : "(absent)");
  }
}

// detect_file_kind() sees a fixed VHD as the raw disk at its front; diff wants the footer too.
FileKind diff_kind(ByteSpan d) {
  static constexpr std::string_view k_cookie = "conectix";
  if (d.size() >= 1024 && std::equal(k_cookie.begin(), k_cookie.end(), d.end() - 512)) return FileKind::vhd;
  return detect_file_kind(d);
}

void diff_bytes_into(Findings& f, ByteSpan a, ByteSpan b, const std::string& name, const DiffOptions& o) {
  if (same(a, b)) return;
  bytes_finding(f, name, a, b);
  const FileKind ka = diff_kind(a), kb = diff_kind(b);
  if (ka != kb) {
    f.add(name, "kind", std::string(file_kind_name(ka)), std::string(file_kind_name(kb)));
    return;
  }
  switch (ka) {
  case FileKind::uki: diff_pe(f, a, b, name, o); break;
  case FileKind::cpio: diff_cpio(f, a, b, name, o); break;
  case FileKind::disk: diff_disk(f, a, b, name, o); break;
  case FileKind::vhd: diff_vhd(f, a, b, name, o); break;
  default: // event logs, firmware, unknown kinds: JSON leaf by leaf, else bytes only
    if (!a.empty() && (a.front() == '{' || a.front() == '[')) diff_json(f, a, b, name);
    break;
  }
}

std::string kind_of(ByteSpan a) {
  const FileKind k = diff_kind(a);
  return k == FileKind::unknown || k == FileKind::event_log ? "file" : std::string(file_kind_name(k));
}

nlohmann::json report_of(const Findings& f, const std::string& kind, const std::string& a, const std::string& b) {
  return {{"identical", f.size() == 0}, {"kind", kind}, {"a", a}, {"b", b}, {"findings", f.list()}, {"truncated", f.truncated()}};
}

// ---- build output directories ----------------------------------------------------------------

nlohmann::json read_manifest(const fs::path& dir) {
  const fs::path p = dir / "manifest.json";
  if (!fs::exists(p)) return nullptr;
  const std::string text = read_text_file(p);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorKind::input, "{}: not a JSON object", p.string());
  return j;
}

std::string jstr(const nlohmann::json& j, const std::string& ptr) {
  const nlohmann::json::json_pointer p(ptr);
  if (!j.contains(p)) return "(absent)";
  const auto& v = j.at(p);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::set<std::string> keys_of(const nlohmann::json& a, const nlohmann::json& b, const std::string& ptr) {
  std::set<std::string> keys;
  for (const auto* j : {&a, &b}) {
    const nlohmann::json::json_pointer p(ptr);
    if (j->contains(p) && j->at(p).is_object())
      for (auto it = j->at(p).begin(); it != j->at(p).end(); ++it) keys.insert(it.key());
  }
  return keys;
}

// JSON pointer escaping (RFC 6901) for a key.
std::string esc(std::string k) {
  std::string out;
  for (char c : k) out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return out;
}

void diff_manifests(Findings& f, const nlohmann::json& a, const nlohmann::json& b) {
  auto field = [&](const std::string& obj, const std::string& name, const std::string& ptr) {
    const std::string va = jstr(a, ptr), vb = jstr(b, ptr);
    if (va != vb) f.add(obj, name, va, vb);
  };
  // Tool and formats first: a different tool explains everything after it.
  field("manifest: tool", "version", "/tool/version");
  field("manifest", "output_format", "/output_format");
  field("manifest", "compression_libraries", "/compression_libraries");
  field("manifest: recipe", "name", "/recipe/name");
  field("manifest: recipe", "sha256", "/recipe/sha256");
  field("manifest", "source_date_epoch", "/source_date_epoch");
  // Inputs: digest first, then what names it.
  for (const auto& k : keys_of(a, b, "/inputs")) {
    const std::string base = "/inputs/" + esc(k);
    const std::string obj = "manifest: input " + k;
    field(obj, "sha256", base + "/sha256");
    for (const auto& sub : keys_of(a, b, base))
      if (sub != "sha256") field(obj, sub, base + "/" + esc(sub));
  }
  // Layers, in order: the segment each produced.
  std::size_t nl = 0;
  for (const auto* j : {&a, &b})
    if (j->contains("layers") && j->at("layers").is_array()) nl = std::max(nl, j->at("layers").size());
  for (std::size_t i = 0; i < nl; ++i) {
    const std::string base = fmt::format("/layers/{}", i);
    const std::string obj = fmt::format("manifest: layer {} ({})", i, jstr(a, base + "/name"));
    field(obj, "name", base + "/name");
    field(obj, "digest (parent, operations, inputs)", base + "/digest");
    field(obj, "segment uncompressed sha256", base + "/segment/uncompressed_sha256");
    field(obj, "segment entries", base + "/segment/entries");
    field(obj, "segment uncompressed size", base + "/segment/uncompressed_size");
    field(obj, "segment compressed size", base + "/segment/compressed_size");
    field(obj, "modules", base + "/modules");
  }
  for (const auto& k : keys_of(a, b, "/outputs")) {
    const std::string base = "/outputs/" + esc(k);
    field("manifest: output " + k, "sha256", base + "/sha256");
    field("manifest: output " + k, "size", base + "/size");
  }
  // Anything else in the manifest (e.g. a layer's "reused" flag), by JSON pointer.
  nlohmann::json ra = a, rb = b;
  for (auto* j : {&ra, &rb}) {
    for (const char* k : {"tool", "output_format", "compression_libraries", "recipe", "source_date_epoch", "inputs"}) j->erase(k);
    if (j->contains("layers") && (*j)["layers"].is_array()) {
      for (auto& l : (*j)["layers"]) {
        if (!l.is_object()) continue;
        l.erase("name");
        l.erase("digest");
        l.erase("modules");
        if (l.contains("segment") && l["segment"].is_object())
          for (const char* k : {"uncompressed_sha256", "entries", "uncompressed_size", "compressed_size"}) l["segment"].erase(k);
      }
    }
    if (j->contains("outputs") && (*j)["outputs"].is_object()) {
      for (auto& [k, v] : (*j)["outputs"].items()) {
        if (!v.is_object()) continue;
        v.erase("sha256");
        v.erase("size");
      }
    }
  }
  const std::string ta = ra.dump(), tb = rb.dump();
  diff_json(f, as_bytes(ta), as_bytes(tb), "manifest");
}

// Order in which differing outputs are explained: upstream first.
int output_rank(const std::string& name) {
  if (name.rfind("initramfs", 0) == 0) return 0;
  if (name == "uki.efi") return 1;
  if (name == "disk.raw") return 2;
  if (name == "disk.vhd") return 3;
  if (name == "manifest.json") return 9;
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) return 5;
  return 4;
}

std::set<std::string> regular_files(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.empty() || n[0] == '.') continue; // staging directories, editor files
    if (it->is_regular_file(ec)) names.insert(n);
  }
  if (ec) fail(ErrorKind::io, "{}: cannot list: {}", dir.string(), ec.message());
  return names;
}

nlohmann::json diff_dirs(const fs::path& a, const fs::path& b, const DiffOptions& options) {
  Findings f(options.max_findings);
  DiffOptions o = options;
  const nlohmann::json ma = read_manifest(a), mb = read_manifest(b);
  if (ma.is_null() != mb.is_null()) {
    f.add("manifest.json", "present", ma.is_null() ? "no" : "yes", mb.is_null() ? "no" : "yes");
  } else if (!ma.is_null()) {
    diff_manifests(f, ma, mb);
    if (o.segment_names.empty() && ma.contains("layers") && ma["layers"].is_array()) {
      for (const auto& l : ma["layers"])
        if (l.contains("segment")) o.segment_names.push_back(l.value("name", std::string()));
    }
  }
  const std::set<std::string> fa = regular_files(a), fb = regular_files(b);
  std::vector<std::string> all;
  std::set_union(fa.begin(), fa.end(), fb.begin(), fb.end(), std::back_inserter(all));
  std::stable_sort(all.begin(), all.end(), [](const std::string& x, const std::string& y) { return output_rank(x) < output_rank(y); });
  for (const auto& n : all) {
    if (f.full()) break;
    if (!fa.count(n) || !fb.count(n)) {
      f.add(n, "present", fa.count(n) ? "yes" : "no", fb.count(n) ? "yes" : "no");
      continue;
    }
    const Bytes da = read_file(a / n), db = read_file(b / n);
    if (same(da, db)) continue;
    const std::size_t before = f.size();
    if (n == "manifest.json") {
      // Explained above, field by field; only if nothing was found there (formatting, key
      // order) are its bytes reported.
      if (f.size() == 0) bytes_finding(f, n, da, db);
      continue;
    }
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".tar.gz") == 0) {
      // The GCP tarball is disk.raw grown to a GiB and gzip'd: its difference is explained by
      // disk.raw's; only the bytes are reported here.
      bytes_finding(f, n, da, db);
      continue;
    }
    diff_bytes_into(f, da, db, n, o);
    if (f.size() == before) bytes_finding(f, n, da, db); // never "identical" for differing bytes
  }
  return report_of(f, "directory", a.string(), b.string());
}

} // namespace

nlohmann::json diff_bytes(ByteSpan a, ByteSpan b, std::string_view name, const DiffOptions& options) {
  Findings f(options.max_findings);
  diff_bytes_into(f, a, b, std::string(name), options);
  return report_of(f, kind_of(a), std::string(name) + " (A)", std::string(name) + " (B)");
}

nlohmann::json diff_paths(const fs::path& a, const fs::path& b, const DiffOptions& options) {
  std::error_code ec;
  const bool da = fs::is_directory(a, ec), db = fs::is_directory(b, ec);
  for (const auto* p : {&a, &b})
    if (!fs::exists(*p, ec)) fail(ErrorKind::io, "{}: no such file or directory", p->string());
  if (da != db) fail(ErrorKind::usage, "diff: {} and {} must both be directories or both files", a.string(), b.string());
  if (da) return diff_dirs(a, b, options);
  const Bytes ba = read_file(a), bb = read_file(b);
  Findings f(options.max_findings);
  const std::string name = a.filename() == b.filename() ? a.filename().string() : a.filename().string() + " | " + b.filename().string();
  diff_bytes_into(f, ba, bb, name, options);
  return report_of(f, kind_of(ba), a.string(), b.string());
}

std::string render_diff_text(const nlohmann::json& report) {
  std::string out;
  const auto& list = report.contains("findings") ? report["findings"] : nlohmann::json::array();
  if (report.value("identical", false) || list.empty()) return "identical\n";
  for (const auto& x : list) {
    out += fmt::format("{}: {}: {} -> {}", x.value("object", ""), x.value("field", ""), x.value("a", ""), x.value("b", ""));
    if (x.contains("range")) {
      const auto& r = x["range"];
      out += fmt::format("  [bytes 0x{:x}+{} in {}]", r.value("offset", std::uint64_t{0}), r.value("length", std::uint64_t{0}),
                         r.value("in", std::string()));
    }
    out += '\n';
  }
  if (report.value("truncated", false)) out += "(more differences not shown)\n";
  return out;
}

} // namespace tdximg::pipeline
