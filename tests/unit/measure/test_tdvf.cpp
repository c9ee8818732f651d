#include "measure/test_tdvf_builder.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <tdximg/measure/tdvf.hpp>
#include <tdximg/util/digest.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

using namespace tdximg;
using namespace tdximg::measure;
using tdximg::test::build_fw;
using tdximg::test::FwImage;
using tdximg::test::FwSection;

namespace {

// Parsing `fw` fails with ErrorKind::input and a message containing `needle`.
void require_input_error(const Bytes& fw, const std::string& needle) {
  try {
    parse_tdvf_metadata(fw, "fw.fd");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    CHECK(std::string(e.what()).find("fw.fd") == 0);
    return;
  }
  FAIL("no error; expected one containing: " << needle);
}

void put_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_u64(Bytes& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Offset of field `field_offset` of section `i` of the image's descriptor.
std::size_t sec_field(const FwImage& img, std::size_t i, std::size_t field_offset) {
  return img.desc_at + 16 + 32 * i + field_offset;
}

const char* k_bookworm_ovmf = "/usr/share/ovmf/OVMF.fd";
const char* k_bookworm_code_4m = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const char* k_bookworm_code_2m = "/usr/share/OVMF/OVMF_CODE.fd";

} // namespace

TEST_CASE("the TDVF parser reads aleph-vm's synthetic firmware layout", "[measure][tdx]") {
  const FwImage img = test::aleph_synthetic_fw();
  const TdvfMetadata md = parse_tdvf_metadata(img.fw);
  CHECK(md.locator == TdvfLocator::guid_table);
  CHECK(md.descriptor_offset == 0x2000);
  CHECK(md.version == 1);
  CHECK(md.length == 16 + 4 * 32);
  REQUIRE(md.sections.size() == 4);
  CHECK(md.sections[0] == TdvfSection{0, 0x1000, 0xFFFFF000, 0x1000, tdvf_type::k_bfv, 1});
  CHECK(md.sections[1] == TdvfSection{0x1000, 0x1000, 0xFFFFE000, 0x1000, tdvf_type::k_cfv, 1});
  CHECK(md.sections[2] == TdvfSection{0, 0, 0x809000, 0x2000, tdvf_type::k_td_hob, 0});
  CHECK(md.sections[3].page_aug());
  CHECK_FALSE(md.sections[3].mr_extend());
  const auto j = to_json(md);
  CHECK(j["sections"][0]["type_name"] == "BFV");
  CHECK(j["sections"][1]["memory_address"] == "0xffffe000");
  CHECK(render_text(md).find("TD_HOB") != std::string::npos);
}

TEST_CASE("Debian bookworm's OVMF.fd has the documented TDX sections", "[measure][tdx]") {
  if (!std::filesystem::exists(k_bookworm_ovmf)) {
    WARN("skipped: " << k_bookworm_ovmf << " absent (install Debian's ovmf)");
    return;
  }
  const Bytes fw = read_file(k_bookworm_ovmf);
  if (sha256_hex(fw) != "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773") {
    WARN("skipped: host OVMF.fd is not ovmf 2022.11-6+deb12u2 (values recorded for that one)");
    return;
  }
  const TdvfMetadata md = parse_tdvf_metadata(fw, k_bookworm_ovmf);
  // Reference tdx-measurements.md §1.5 (and aleph's parser output, PROVENANCE.md).
  CHECK(md.descriptor_offset == fw.size() - 0x840);
  REQUIRE(md.sections.size() == 6);
  CHECK(md.sections[0] == TdvfSection{0x20000, 0x1e0000, 0xffe20000, 0x1e0000, 0, 1});
  CHECK(md.sections[1] == TdvfSection{0, 0x20000, 0xffe00000, 0x20000, 1, 0});
  CHECK(md.sections[2] == TdvfSection{0, 0, 0x810000, 0x10000, 3, 0});
  CHECK(md.sections[3] == TdvfSection{0, 0, 0x80b000, 0x2000, 3, 0});
  CHECK(md.sections[4] == TdvfSection{0, 0, 0x809000, 0x2000, 2, 0});
  CHECK(md.sections[5] == TdvfSection{0, 0, 0x800000, 0x6000, 3, 0});
}

TEST_CASE("split OVMF_CODE images are rejected with a message that says so", "[measure][tdx]") {
  // bookworm's OVMF_CODE_4M.fd: GUID table without the TDX entry.
  if (std::filesystem::exists(k_bookworm_code_4m)) {
    require_input_error(read_file(k_bookworm_code_4m), "not built for TDX");
  } else {
    WARN("skipped: " << k_bookworm_code_4m << " absent");
  }
  // bookworm's 2 MiB OVMF_CODE.fd carries the combined image's metadata; its BFV is not there.
  if (std::filesystem::exists(k_bookworm_code_2m)) {
    require_input_error(read_file(k_bookworm_code_2m), "split OVMF_CODE");
  } else {
    WARN("skipped: " << k_bookworm_code_2m << " absent");
  }
  // No GUID table at all (e.g. a VARS file, or random bytes).
  require_input_error(Bytes(0x4000, 0), "no TDX metadata");
  require_input_error(Bytes{}, "no TDX metadata");
}

TEST_CASE("a GUID table without the TDX entry is reported as a non-TDX build", "[measure][tdx]") {
  FwImage img = test::aleph_synthetic_fw();
  img.fw[img.tdx_entry_len + 2] ^= 0xff; // the entry's GUID no longer matches
  require_input_error(img.fw, "no TDX metadata offset entry");
}

TEST_CASE("the legacy TDVF pointer at size - 0x20 is used without a GUID table", "[measure][tdx]") {
  FwImage img = build_fw(0x3000, 0x1800, {{0, 0x1000, 0xFFFFF000, 0x1000, 0, 1}}, false);
  put_u32(img.fw, img.fw.size() - 0x20, 0x1800);
  const TdvfMetadata md = parse_tdvf_metadata(img.fw);
  CHECK(md.locator == TdvfLocator::legacy_offset);
  CHECK(md.descriptor_offset == 0x1800);
  REQUIRE(md.sections.size() == 1);
  // A pointer that does not reach a "TDVF" signature is not taken.
  put_u32(img.fw, img.fw.size() - 0x20, 0x1804);
  require_input_error(img.fw, "no TDX metadata");
}

TEST_CASE("every kind of GUID table corruption gives a clean input error", "[measure][tdx]") {
  const FwImage good = test::aleph_synthetic_fw();
  SECTION("table length shorter than its footer entry") {
    Bytes fw = good.fw;
    fw[good.table_len_at] = 5;
    fw[good.table_len_at + 1] = 0;
    require_input_error(fw, "GUID table length 5");
  }
  SECTION("table length beyond the image") {
    Bytes fw = good.fw;
    fw[good.table_len_at] = 0xff;
    fw[good.table_len_at + 1] = 0xff;
    // 0xffff < image size here, so grow the claim past the start with a small image
    Bytes small(good.fw.end() - 200, good.fw.end());
    small[small.size() - 50] = 0xff;
    small[small.size() - 49] = 0xff;
    require_input_error(small, "GUID table length 65535");
  }
  SECTION("an entry length below 18") {
    Bytes fw = good.fw;
    fw[good.tdx_entry_len + 16 + 2 + 4] = 3; // the 0x22 entry after the TDX entry
    fw[good.tdx_entry_len + 16 + 2 + 5] = 0;
    require_input_error(fw, "entry length 3");
  }
  SECTION("an entry length past the table start") {
    Bytes fw = good.fw;
    fw[good.tdx_entry_len] = 0xf0;
    require_input_error(fw, "entry length 240");
  }
  SECTION("a TDX entry that does not hold exactly a u32") {
    // Grow the TDX entry by one byte (it then swallows the last byte of "unrelated") and grow
    // the unrelated entry's claim accordingly: the table stays consistent, the entry is 5 bytes.
    Bytes fw = good.fw;
    fw[good.tdx_entry_len] = 23;
    require_input_error(fw, "holds 5 bytes, expected 4");
  }
  SECTION("a TDX offset beyond the image") {
    Bytes fw = good.fw;
    put_u32(fw, good.tdx_entry_data, 0x10000);
    require_input_error(fw, "TDX metadata offset 0x10000");
  }
  SECTION("a TDX offset of zero") {
    Bytes fw = good.fw;
    put_u32(fw, good.tdx_entry_data, 0);
    require_input_error(fw, "TDX metadata offset 0x0");
  }
}

TEST_CASE("every kind of descriptor corruption gives a clean input error", "[measure][tdx]") {
  const FwImage good = test::aleph_synthetic_fw();
  Bytes fw = good.fw;
  const std::size_t d = good.desc_at;
  SECTION("signature") {
    fw[d] = 'X';
    require_input_error(fw, "signature is not \"TDVF\"");
  }
  SECTION("version") {
    put_u32(fw, d + 8, 2);
    require_input_error(fw, "Version 2");
  }
  SECTION("no sections") {
    put_u32(fw, d + 12, 0);
    require_input_error(fw, "NumberOfSectionEntry 0");
  }
  SECTION("absurd section count") {
    put_u32(fw, d + 12, 0x1000000);
    require_input_error(fw, "NumberOfSectionEntry 16777216");
  }
  SECTION("length does not match the count") {
    put_u32(fw, d + 4, 16 + 3 * 32);
    require_input_error(fw, "Length 112");
  }
  SECTION("section table past the end of the image") {
    FwImage img = build_fw(0x3000, 0x2f00, {{0, 0x1000, 0xFFFFF000, 0x1000, 0, 1}}, false);
    put_u32(img.fw, img.fw.size() - 0x20, 0x2f00); // legacy pointer; 64 sections claimed
    put_u32(img.fw, 0x2f00 + 12, 64);
    put_u32(img.fw, 0x2f00 + 4, 16 + 64 * 32);
    require_input_error(img.fw, "runs past the end");
  }
}

TEST_CASE("every kind of section corruption gives a clean input error naming the field",
          "[measure][tdx]") {
  const FwImage good = test::aleph_synthetic_fw();
  Bytes fw = good.fw;
  SECTION("unknown type") {
    put_u32(fw, sec_field(good, 2, 24), 9);
    require_input_error(fw, "Type 9 is unknown");
  }
  SECTION("unknown attribute bits") {
    put_u32(fw, sec_field(good, 2, 28), 0x10);
    require_input_error(fw, "Attributes 0x10 has unknown bits");
  }
  SECTION("MR_EXTEND together with PAGE_AUG") {
    put_u32(fw, sec_field(good, 3, 28), 3);
    require_input_error(fw, "MR_EXTEND of PAGE_AUG");
  }
  SECTION("unaligned MemoryAddress") {
    put_u64(fw, sec_field(good, 2, 8), 0x809010);
    require_input_error(fw, "MemoryAddress 0x809010 is not 4 KiB aligned");
  }
  SECTION("unaligned MemoryDataSize") {
    put_u64(fw, sec_field(good, 2, 16), 0x2100);
    require_input_error(fw, "MemoryDataSize 0x2100");
  }
  SECTION("zero MemoryDataSize") {
    put_u64(fw, sec_field(good, 2, 16), 0);
    require_input_error(fw, "MemoryDataSize 0x0");
  }
  SECTION("RawDataSize above MemoryDataSize") {
    put_u32(fw, sec_field(good, 0, 4), 0x1100);
    require_input_error(fw, "RawDataSize 0x1100 exceeds MemoryDataSize 0x1000");
  }
  SECTION("raw data past the end of the image") {
    put_u32(fw, sec_field(good, 1, 0), 0x2800);
    require_input_error(fw, "DataOffset 0x2800 + RawDataSize 0x1000 lies outside");
  }
  SECTION("DataOffset + RawDataSize wrapping 32 bits") {
    put_u32(fw, sec_field(good, 1, 0), 0xFFFFF800);
    require_input_error(fw, "DataOffset 0xfffff800");
  }
  SECTION("GPA range overflowing 64 bits") {
    put_u64(fw, sec_field(good, 0, 8), 0xFFFFFFFFFFFFF000ULL);
    put_u64(fw, sec_field(good, 0, 16), 0x2000);
    put_u32(fw, sec_field(good, 0, 4), 0x1000);
    require_input_error(fw, "overflows");
  }
  SECTION("overlapping sections") {
    put_u64(fw, sec_field(good, 3, 8), 0x80A000); // inside TD_HOB 0x809000+0x2000
    require_input_error(fw, "overlap");
  }
  SECTION("the error names the section's offset") {
    put_u32(fw, sec_field(good, 2, 24), 9);
    require_input_error(fw, fmt::format("offset 0x{:x}", sec_field(good, 2, 24)));
  }
}

TEST_CASE("every truncation of a TDVF image fails cleanly", "[measure][tdx]") {
  const FwImage img = test::aleph_synthetic_fw();
  for (std::size_t n = 0; n < img.fw.size(); ++n) {
    const Bytes prefix(img.fw.begin(), img.fw.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      parse_tdvf_metadata(prefix, "fw.fd");
      FAIL("prefix of " << n << " bytes parsed");
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::input);
    }
  }
}

TEST_CASE("byte flips in the TDVF metadata either parse or fail cleanly", "[measure][tdx]") {
  const FwImage img = test::aleph_synthetic_fw();
  // Descriptor + section table, and the whole GUID table tail.
  std::vector<std::size_t> offsets;
  for (std::size_t i = img.desc_at; i < img.desc_at + 16 + 4 * 32; ++i)
    offsets.push_back(i);
  for (std::size_t i = img.fw.size() - 120; i < img.fw.size(); ++i)
    offsets.push_back(i);
  std::size_t parsed = 0;
  std::size_t rejected = 0;
  for (std::size_t at : offsets) {
    for (std::uint8_t flip : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
      Bytes fw = img.fw;
      fw[at] ^= flip;
      try {
        const TdvfMetadata md = parse_tdvf_metadata(fw);
        CHECK(!md.sections.empty());
        ++parsed;
      } catch (const Error& e) {
        REQUIRE(e.kind() == ErrorKind::input);
        ++rejected;
      }
    }
  }
  CHECK(parsed > 0);
  CHECK(rejected > 0);
}
