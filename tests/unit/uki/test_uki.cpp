#include "pe/pe_test_data.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <tdximg/pe/authenticode.hpp>
#include <tdximg/pe/pe_file.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include <cstdio>
#include <cstdlib>

using namespace tdximg;
using pe_test::hex;

namespace {

// The inputs given to ukify for the golden files (tests/data/uki/PROVENANCE.md).
uki::UkiParts test_parts() {
  uki::UkiParts p;
  p.linux = pe_test::data_file("pe/plain.efi");
  p.cmdline = "console=ttyS0 panic=-1\n";
  p.osrel = "ID=debian\nVERSION_ID=12\n";
  p.uname = "6.1.0-56-amd64";
  Bytes initrd(1000);
  for (std::size_t i = 0; i < initrd.size(); ++i)
    initrd[i] = static_cast<std::uint8_t>(i * 7 % 251);
  p.initrd = initrd;
  return p;
}

// The same parts in Debian ukify 257.13's section order (the golden values were made with it).
uki::UkiParts ukify_parts() {
  uki::UkiParts p = test_parts();
  p.order = uki::SectionOrder::ukify_257;
  return p;
}

// `pesign -h -i FILE` (an independent Authenticode implementation), or "" if pesign is missing.
std::string pesign_hash(const Bytes& pe) {
  if (std::system("command -v pesign >/dev/null 2>&1") != 0) return "";
  TempDir dir;
  const auto path = dir.path() / "x.efi";
  write_file_atomic(path, pe);
  const std::string cmd = "pesign -h -i '" + path.string() + "' 2>/dev/null";
  std::FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  ::pclose(f);
  // "hash: <hex>" (pesign 0.112) or "<path> <hex>"
  const auto sp = out.find_last_of(' ');
  std::string h = sp == std::string::npos ? out : out.substr(sp + 1);
  while (!h.empty() && (h.back() == '\n' || h.back() == '\r')) h.pop_back();
  return h;
}

std::string long_sbat() {
  std::string s = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";
  for (int i = 0; i < 6; ++i) {
    s += "tdximg-test-component-" + std::to_string(i) +
         ",1,tdximg tests,tdximg,1,https://example.invalid/\n";
  }
  return s;
}

void expect_error(ErrorKind kind, const std::string& text, const std::function<void()>& f) {
  try {
    f();
    FAIL("expected an error containing " << text);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.kind() == kind);
    CHECK_THAT(e.what(), Catch::Contains(text));
  }
}

// Layout rules every packed UKI must satisfy (reliability.md §4.1 output checks).
// Sections from index `first_new` on were added by pack_uki and must be SectionAlignment-aligned
// (Debian's 252 stub itself has .sdmagic at 0x19100 with SectionAlignment 0x200).
void check_layout(const Bytes& out, std::size_t first_new = 0) {
  const pe::PeFile f(out, "uki.efi");
  const auto& o = f.optional();
  std::uint64_t prev_end_va = 0;
  std::uint64_t prev_end_raw = o.SizeOfHeaders;
  for (std::size_t i = 0; i < f.sections().size(); ++i) {
    const pe::Section& s = f.sections()[i];
    INFO(s.name);
    CHECK(s.VirtualAddress >= prev_end_va); // no overlap in memory, ascending
    if (i >= first_new) CHECK(s.VirtualAddress % o.SectionAlignment == 0);
    CHECK(s.PointerToRawData == prev_end_raw); // contiguous in the file: no gaps
    CHECK(s.PointerToRawData % o.FileAlignment == 0);
    CHECK(s.SizeOfRawData % o.FileAlignment == 0);
    CHECK(s.SizeOfRawData >= s.VirtualSize);
    const bool w = (s.Characteristics & pe::k_scn_mem_write) != 0;
    const bool x = (s.Characteristics & pe::k_scn_mem_execute) != 0;
    CHECK_FALSE((w && x));
    prev_end_va = std::uint64_t{s.VirtualAddress} + s.VirtualSize;
    prev_end_raw = std::uint64_t{s.PointerToRawData} + s.SizeOfRawData;
  }
  CHECK(out.size() == prev_end_raw);
  CHECK(o.SizeOfImage ==
        (prev_end_va + o.SectionAlignment - 1) / o.SectionAlignment * o.SectionAlignment);
  CHECK(o.CheckSum == 0);
}

} // namespace

TEST_CASE("pack_uki output is byte-identical to Debian's ukify 257.13 for the synthetic stub",
          "[uki]") {
  // ukify build --stub stub.efi --linux plain.efi --initrd initrd1000 --cmdline @cmdline
  //   --os-release @osrel --uname 6.1.0-56-amd64 (PROVENANCE.md): sha256 of its output.
  const Bytes out = uki::pack_uki(pe_test::data_file("pe/stub.efi"), ukify_parts());
  CHECK(sha256_hex(out) == "23c89e843551f27195e3ecd5f7e43a3b61d1c8561b24ad7b99abec9c0fc697a7");
  CHECK(out.size() == 6656);
  check_layout(out);
  // pesign -h on ukify's output.
  CHECK(hex(pe::authenticode(out, HashAlg::sha256)) ==
        "eb116f834deef05634803297093a069199221fd8d37eb904a4c2c2f08777871f");
}

TEST_CASE("pack_uki is deterministic and keeps the stub's sections and TimeDateStamp", "[uki]") {
  const Bytes stub_bytes = pe_test::data_file("pe/stub.efi");
  const Bytes a = uki::pack_uki(stub_bytes, ukify_parts());
  CHECK(a == uki::pack_uki(stub_bytes, ukify_parts()));
  const pe::PeFile stub(stub_bytes, "stub"), f(a, "uki");
  CHECK(f.coff().TimeDateStamp == stub.coff().TimeDateStamp);
  for (const char* n : {".text", ".sdmagic"}) {
    REQUIRE(f.section(n));
    CHECK(f.section(n)->VirtualAddress == stub.section(n)->VirtualAddress);
    CHECK(f.section(n)->PointerToRawData == stub.section(n)->PointerToRawData);
    CHECK(f.section_memory(*f.section(n)) == stub.section_memory(*stub.section(n)));
  }
  // objdump -h on ukify's output: the order and placement of the new sections.
  const char* names[] = {".text",    ".sbat",  ".sdmagic", ".osrel",
                         ".cmdline", ".uname", ".linux",   ".initrd"};
  const std::uint32_t vas[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000, 0x8000};
  const std::uint32_t vss[] = {0x200, 0xe0, 0x2e, 0x18, 0x17, 0xe, 0x600, 0x3e8};
  const std::uint32_t ptrs[] = {0x400, 0x600, 0x800, 0xa00, 0xc00, 0xe00, 0x1000, 0x1600};
  REQUIRE(f.sections().size() == 8);
  for (std::size_t i = 0; i < 8; ++i) {
    CHECK(f.sections()[i].name == names[i]);
    CHECK(f.sections()[i].VirtualAddress == vas[i]);
    CHECK(f.sections()[i].VirtualSize == vss[i]);
    CHECK(f.sections()[i].PointerToRawData == ptrs[i]);
  }
  CHECK(f.section(".linux")->Characteristics == (pe::k_scn_cnt_code | pe::k_scn_mem_read));
  CHECK(f.section(".initrd")->Characteristics ==
        (pe::k_scn_cnt_initialized_data | pe::k_scn_mem_read));
}

TEST_CASE("merge_sbat follows ukify: one header line, stub then kernel then extra lines, \\n\\0",
          "[uki]") {
  const std::string hdr =
      "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";
  const std::string stub =
      hdr + "systemd,1,The systemd Developers,systemd,252,https://systemd.io/\n";
  const std::string kernel = hdr + "linux,1,Linux,linux,6.1,https://kernel.org\r\n";
  CHECK(uki::merge_sbat(stub + std::string(3, '\0'), kernel, hdr + "app,1,A,app,1,u\n") ==
        hdr +
            "systemd,1,The systemd Developers,systemd,252,https://systemd.io/\n"
            "linux,1,Linux,linux,6.1,https://kernel.org\napp,1,A,app,1,u\n" +
            std::string(1, '\0'));
  // Default extra line, empty kernel, and an input without a "sbat," header is skipped.
  CHECK(uki::merge_sbat("garbage\nline\n", "", std::nullopt) ==
        hdr +
            "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n" +
            std::string(1, '\0'));
}

TEST_CASE("pack_uki moves .sbat to the end when the merged SBAT would overlap the next section",
          "[uki]") {
  uki::UkiParts p = ukify_parts();
  p.sbat = long_sbat(); // 0x244 bytes merged: more than the stub's .sbat SizeOfRawData 0x200
  const Bytes out = uki::pack_uki(pe_test::data_file("pe/stub.efi"), p);
  check_layout(out);
  const pe::PeFile f(out, "uki");
  REQUIRE(f.sections().size() == 8);
  CHECK(f.sections().back().name == ".sbat");
  CHECK(f.sections()[1].name == ".sdmagic");
  CHECK(f.sections()[1].VirtualAddress == 0x3000);  // memory layout of the stub kept
  CHECK(f.sections()[1].PointerToRawData == 0x600); // raw data moved down over the old .sbat
  const std::string sbat(as_chars(f.section_data(*f.section(".sbat"))));
  CHECK(sbat == uki::merge_sbat(
                    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
                    "systemd,1,The systemd Developers,systemd,999,https://systemd.io/\n",
                    "", p.sbat));
  CHECK(hex(pe::authenticode(out, HashAlg::sha256)) == // pesign -h on this output
        "4d31a2df6f0dd0bc5c55e3850b4207d96607b6d48cc11f37ac35f93e7a896850");
}

TEST_CASE("pack_uki on Debian's 252 stub keeps every other stub section and yields a clean layout",
          "[uki]") {
  auto stub_bytes = pe_test::host_file(pe_test::k_stub_path, pe_test::k_stub_sha256);
  if (!stub_bytes) {
    WARN("Debian 12 systemd-boot-efi 252.39-1~deb12u2 not installed; skipped");
    return;
  }
  const Bytes out = uki::pack_uki(*stub_bytes, ukify_parts());
  check_layout(out, 7);
  const pe::PeFile stub(*stub_bytes, "stub"), f(out, "uki");
  // ukify 257.13 swaps the 0x134-byte merged SBAT into .sbat at 0x19000 although .sdmagic
  // starts at 0x19100 (overlap in memory); we move .sbat to the end instead.
  CHECK(f.sections().back().name == ".sbat");
  CHECK(f.sections().back().VirtualSize == 0x134);
  for (const pe::Section& s : stub.sections()) {
    if (s.name == ".sbat") continue;
    INFO(s.name);
    REQUIRE(f.section(s.name));
    CHECK(f.section(s.name)->VirtualAddress == s.VirtualAddress);
    CHECK(f.section_memory(*f.section(s.name)) == stub.section_memory(s));
  }
  CHECK(f.coff().PointerToSymbolTable == 0); // symbol table stripped, as ukify does
  CHECK((f.coff().Characteristics & 0x0008) != 0);
  // pesign -h on this output; objdump -h and sbverify --list read it ("No signature table").
  CHECK(hex(pe::authenticode(out, HashAlg::sha256)) ==
        "57d32ca68067a6eed6280f3c54df00ea108318863b110758ecd98275c6317ccf");
  const uki::UkiInfo info = uki::read_uki(out);
  CHECK(info.stub_version ==
        "252.39-1~deb12u2"); // strings(1): "#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####"
  CHECK(info.stub_major == 252u);
}

TEST_CASE("by default .linux is the last section, after .initrd and an appended .sbat", "[uki]") {
  for (bool long_sbat_text : {false, true}) {
    INFO("appended .sbat: " << long_sbat_text);
    uki::UkiParts p = test_parts();
    if (long_sbat_text) p.sbat = long_sbat();
    const Bytes out = uki::pack_uki(pe_test::data_file("pe/stub.efi"), p);
    check_layout(out);
    const pe::PeFile f(out, "uki");
    std::vector<std::string> names;
    for (const auto& s : f.sections()) names.push_back(s.name);
    const std::vector<std::string> want =
        long_sbat_text ? std::vector<std::string>{".text", ".sdmagic", ".osrel", ".cmdline", ".uname", ".initrd", ".sbat", ".linux"}
                       : std::vector<std::string>{".text", ".sbat", ".sdmagic", ".osrel", ".cmdline", ".uname", ".initrd", ".linux"};
    CHECK(names == want);
    CHECK(f.sections().back().VirtualSize == test_parts().linux.size()); // exact payload length
    CHECK(f.section(".linux")->Characteristics == (pe::k_scn_cnt_code | pe::k_scn_mem_read));
    // Same section contents as ukify's order: only the layout differs.
    uki::UkiParts q = p;
    q.order = uki::SectionOrder::ukify_257;
    const Bytes other = uki::pack_uki(pe_test::data_file("pe/stub.efi"), q);
    const pe::PeFile g(other, "ukify order");
    for (const auto& s : f.sections()) {
      INFO(s.name);
      REQUIRE(g.section(s.name));
      CHECK(f.section_memory(s) == g.section_memory(*g.section(s.name)));
    }
    CHECK(out != other);
    // Authenticode as an independent implementation computes it on this file.
    const std::string ph = pesign_hash(out);
    if (ph.empty()) WARN("pesign not installed: Authenticode not cross-checked");
    else CHECK(ph == hex(pe::authenticode(out, HashAlg::sha256)));
  }
}

TEST_CASE("read_uki reports the stub version, sections, texts, kernel and Authenticode", "[uki]") {
  const Bytes out = uki::pack_uki(pe_test::data_file("pe/stub.efi"), ukify_parts());
  const uki::UkiInfo info = uki::read_uki(out, "uki.efi");
  CHECK(info.stub_version == "999.1-test");
  CHECK(info.stub_major == 999u);
  CHECK(info.cmdline == "console=ttyS0 panic=-1\n");
  CHECK(info.osrel == "ID=debian\nVERSION_ID=12\n");
  CHECK(info.uname == "6.1.0-56-amd64");
  REQUIRE(info.sbat);
  CHECK_THAT(*info.sbat, Catch::Contains("\nuki,1,UKI,uki,1,"));
  REQUIRE(info.sections.size() == 8);
  CHECK(info.sections[5].name == ".uname");
  CHECK(to_hex(info.sections[5].memory_sha256) == sha256_hex(as_bytes("6.1.0-56-amd64")));
  CHECK(to_hex(info.sections[4].memory_sha256) == sha256_hex(as_bytes("console=ttyS0 panic=-1\n")));
  REQUIRE(info.kernel);
  CHECK(info.kernel->MajorImageVersion == 1); // make_synthetic.py writes 1.2
  CHECK(info.kernel->MinorImageVersion == 2);
  CHECK(info.kernel->buffer_size == 1536);
  // pesign -h -i plain.efi (the .linux payload), and pesign -h on ukify's output.
  CHECK(hex(info.kernel->authenticode_sha256) ==
        "67c6a6bcbb40dae5ce84201346b086d9f4585f3c9a4eea8526a110b9039de129");
  CHECK(hex(info.authenticode_sha256) ==
        "eb116f834deef05634803297093a069199221fd8d37eb904a4c2c2f08777871f");
  CHECK(info.authenticode_sha384 == pe::authenticode(out, HashAlg::sha384));
  CHECK(info.kernel->authenticode_sha384 == pe::authenticode(test_parts().linux, HashAlg::sha384));
  CHECK(uki::uki_section(out, ".cmdline") == to_bytes("console=ttyS0 panic=-1\n"));
  CHECK_FALSE(uki::uki_section(out, ".dtb"));
}

TEST_CASE("pack_uki refuses bad stubs and payloads without producing output", "[uki]") {
  const Bytes stub = pe_test::data_file("pe/stub.efi");
  SECTION("a signed stub") {
    expect_error(ErrorKind::unsupported, "signed",
                 [&] { uki::pack_uki(pe_test::data_file("pe/signed.efi"), test_parts()); });
  }
  SECTION("a stub without room for more section headers (systemd#28593)") {
    expect_error(ErrorKind::unsupported, "header space",
                 [&] { uki::pack_uki(pe_test::data_file("pe/plain.efi"), test_parts()); });
  }
  SECTION("an empty payload") {
    uki::UkiParts p = test_parts();
    p.cmdline = "";
    expect_error(ErrorKind::input, ".cmdline", [&] { uki::pack_uki(stub, p); });
  }
  SECTION("a kernel that is not a PE") {
    uki::UkiParts p = test_parts();
    p.linux = to_bytes(
        "not a kernel, long enough to have a DOS header? no: it has no MZ signature at all");
    expect_error(ErrorKind::input, "linux: DOS signature", [&] { uki::pack_uki(stub, p); });
  }
  SECTION("a stub that already has a payload section") {
    const Bytes packed = uki::pack_uki(stub, test_parts());
    expect_error(ErrorKind::unsupported, "already has",
                 [&] { uki::pack_uki(packed, test_parts()); });
  }
  SECTION("a stub without sections") {
    Bytes b = stub;
    b[0x86] = 0; // NumberOfSections = 0
    b[0x87] = 0;
    expect_error(ErrorKind::unsupported, "no sections", [&] { uki::pack_uki(b, test_parts()); });
  }
  SECTION("a stub whose sections overlap in the file") {
    Bytes b = stub;
    b[0x188 + 40 + 20] = 0x00; // .sbat PointerToRawData 0x600 -> 0x400 (= .text's)
    b[0x188 + 40 + 21] = 0x04;
    expect_error(ErrorKind::unsupported, "overlap", [&] { uki::pack_uki(b, test_parts()); });
  }
  SECTION("a stub that is not a PE") {
    expect_error(ErrorKind::input, "stub:", [&] { uki::pack_uki(Bytes(100, 0), test_parts()); });
  }
}
