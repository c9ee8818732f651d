#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <random>

#include <tdximg/measure/export.hpp>
#include <tdximg/measure/pcr.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

const HashAlg k_sha256[] = {HashAlg::sha256};
const HashAlg k_both[] = {HashAlg::sha256, HashAlg::sha384};

Bytes rep(std::uint8_t b, std::size_t n) { return Bytes(n, b); }

Section sec(std::string name, std::string_view data) { return {std::move(name), to_bytes(data)}; }

UkiMeasureInput base_uki(int major) {
  UkiMeasureInput u;
  u.stub_major = major;
  u.stub_version_string = fmt::format("systemd-stub {}", major);
  u.uki_authenticode = {{HashAlg::sha256, rep(0xaa, 32)}, {HashAlg::sha384, rep(0xaa, 48)}};
  u.linux_authenticode = {{HashAlg::sha256, rep(0xbb, 32)}, {HashAlg::sha384, rep(0xbb, 48)}};
  u.uname = "6.1.0-41-amd64";
  return u;
}

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(pipe);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
  return out;
}

const char* k_systemd_measure = "/usr/lib/systemd/systemd-measure";

// UTF-16LE + NUL16 of an ASCII string, written out independently of stub_load_options().
Bytes utf16z(std::string_view ascii) {
  Bytes b;
  for (char c : ascii) {
    b.push_back(static_cast<std::uint8_t>(c));
    b.push_back(0);
  }
  b.push_back(0);
  b.push_back(0);
  return b;
}

} // namespace

TEST_CASE("PCR 11 for systemd TEST-70 inputs matches the published sha256 and sha384 values",
          "[measure]") {
  // Oracle: systemd test/units/TEST-70-TPM2.measure.sh (PROVENANCE.md).
  UkiMeasureInput u = base_uki(252);
  u.sections = {sec(".linux", "HALLO\n"), sec(".initrd", "foobar\n")};
  const HashAlg banks[] = {HashAlg::sha1, HashAlg::sha256, HashAlg::sha384};
  const DigestMap v = replay(pcr11_events(u, 252, banks), banks);
  CHECK(to_hex(v.at(HashAlg::sha1)) == "5177e4ad69db92192c10e5f80402bf81bfec8a81");
  CHECK(to_hex(v.at(HashAlg::sha256)) ==
        "37b48bd0b222394dbe3cceff2fca4660c4b0a90ae9369ec90b42f14489989c13");
  CHECK(to_hex(v.at(HashAlg::sha384)) ==
        "5573f9b2caf55b1d0a6a701f890662d682af961899f0419cf1e2d5ea4a6a68c1f25bd4f5b8a0865eeee82af9"
        "0f5cb087");
  const DigestMap foo = extend_phase_path(v, "foo");
  CHECK(to_hex(foo.at(HashAlg::sha1)) == "6765ee305db063040c454d32697d922b3d4f232b");
  CHECK(to_hex(foo.at(HashAlg::sha256)) ==
        "21c49c1242042649e09c156546fd7d425ccc3c67359f840507b30be4e0f6f699");
  CHECK(to_hex(foo.at(HashAlg::sha384)) ==
        "08d0b003a134878eee552070d51d58abe942f457ca85704131dd36f73728e7327ca837594bc9d5ac7de818d0"
        "2a3d5dd2");
  CHECK(extend_phase_path(v, ":") == v);
}

TEST_CASE("PCR 11 event order and names match flashbots TestPredictPCR11", "[measure]") {
  // Oracle: flashbots TestPredictPCR11: .linux data digest 00*32, .initrd data digest 01*32.
  UkiMeasureInput u = base_uki(257);
  u.sections = {sec(".initrd", "i"), sec(".linux", "l")}; // file order must not matter
  std::vector<Event> events = pcr11_events(u, 257, k_sha256);
  REQUIRE(events.size() == 4);
  CHECK(events[0].description == "section name .linux");
  events[1].digests[HashAlg::sha256] = rep(0, 32);
  events[3].digests[HashAlg::sha256] = rep(1, 32);
  CHECK(to_hex(replay(events, k_sha256).at(HashAlg::sha256)) ==
        "9dfe399fcd4432639f0e20f49df823aa66b095f0664f0a4b9fbdc11ea64683e2");
}

TEST_CASE("PCR 11 section-name digests equal the published table", "[measure]") {
  // Oracle: pcr-measurements.md §10.2 (recomputed from systemd pcrlock/issue #36502).
  const std::map<std::string, std::string> published = {
      {".linux", "0da293e37ad5511c59be47993769aacb91b243f7d010288e118dc90e95aaef5a"},
      {".osrel", "3fb9e4e3cc810d4326b5c13cef18aee1f9df8c5f4f7f5b96665724fa3b846e08"},
      {".cmdline", "461203a89f23e36c3a4dc817f905b00484d2cf7e7d9376f13df91c41d84abe46"},
      {".initrd", "15ee37e75f1e8d42080e91fdbbd2560780918c81fe3687ae6d15c472bbdaac75"},
      {".ucode", "454c046a0434209925846a1b8a84a234c432ea7ddf86a1f5efeccfea12d334ed"},
      {".splash", "f62e27c34850983eb70c12fd516c2c427fb74569485bfb12dc3038af5ef48512"},
      {".dtb", "7402eb30776ab6e0e338239fadcba975e7b18ff81c33b716608fb2bcf317aa13"},
      {".uname", "da7a6d941caa9d28b8a3665c4865c143db8f99400ac88d883370ae3021636c30"},
      {".sbat", "ff552fd255be18a3d61c0da88976fc71559d13aad12d1dfe1708cf950cc4b74c"},
      {".pcrpkey", "92b1351f7279fc885c24e3409e23fed3f84bdef4bb90beb618acd145763a293f"},
      {".dtbauto", "4debc1b47de0c604335fe3374f863304a6d76dd9382800e27316137b9ee0536c"},
      {".hwids", "fb4571efb1d8b0af9e750d286eb9b8f604d94ba9589ad52a1e9b5a7f7eefd586"},
      {".efifw", "ea418cc9072b0adb18a4ff2bdf9dc30408c4c1c1c1b0a17c9ced89dca0bc79d1"},
  };
  UkiMeasureInput u = base_uki(258);
  for (const auto& [name, hex] : published) u.sections.push_back(sec(name, "x"));
  u.sections.push_back(sec(".pcrsig", "{}"));
  const std::vector<Event> events = pcr11_events(u, 258, k_sha256);
  REQUIRE(events.size() == 2 * published.size()); // .pcrsig never measured
  std::vector<std::string> order;
  for (std::size_t i = 0; i < events.size(); i += 2) {
    const std::string name = events[i].description.substr(std::string("section name ").size());
    order.push_back(name);
    CHECK(to_hex(events[i].digests.at(HashAlg::sha256)) == published.at(name));
  }
  CHECK(order == std::vector<std::string>{".linux", ".osrel", ".cmdline", ".initrd", ".ucode",
                                          ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey",
                                          ".dtbauto", ".hwids", ".efifw"});
}

TEST_CASE("PCR 11 section sets follow the stub version", "[measure]") {
  CHECK(pcr11_section_order(252) == std::vector<std::string>{".linux", ".osrel", ".cmdline",
                                                             ".initrd", ".splash", ".dtb",
                                                             ".pcrpkey"});
  CHECK(pcr11_section_order(253) == pcr11_section_order(252));
  CHECK(pcr11_section_order(254) ==
        std::vector<std::string>{".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb",
                                 ".uname", ".sbat", ".pcrpkey"});
  CHECK(pcr11_section_order(257).size() == 13);
  CHECK(pcr11_section_order(258).back() == ".efifw");
  CHECK_THROWS_AS(pcr11_section_order(251), Error);
  CHECK_THROWS_AS(pcr11_section_order(259), Error);
}

TEST_CASE("section lookup is prefix/last-wins up to 256 and exact/first-wins from 257",
          "[measure]") {
  const std::vector<Section> s = {sec(".dtbauto", "A"), sec(".dtb", "B"), sec(".dtbx", "C"),
                                  sec(".dtb", "D")};
  REQUIRE(find_section(s, ".dtb", 252) != nullptr);
  CHECK(find_section(s, ".dtb", 252)->data == to_bytes("D"));
  const std::vector<Section> s2 = {sec(".dtb", "B"), sec(".dtbauto", "A")};
  CHECK(find_section(s2, ".dtb", 256)->data == to_bytes("A")); // prefix, last wins
  CHECK(find_section(s2, ".dtb", 257)->data == to_bytes("B"));
  CHECK(find_section(s, ".dtb", 257)->data == to_bytes("B")); // exact, first wins
  const std::vector<Section> empty = {sec(".cmdline", "")};
  CHECK(find_section(empty, ".cmdline", 257) == nullptr);
}

TEST_CASE("PCR 11 for the 252 section set equals the host's systemd-measure, with phases",
          "[measure]") {
  if (!fs::exists(k_systemd_measure)) {
    WARN("systemd-measure not installed; cross-check skipped");
    return;
  }
  std::mt19937 rng(1234);
  TempDir dir;
  UkiMeasureInput u = base_uki(252);
  std::string args;
  for (const char* name : {"linux", "osrel", "cmdline", "initrd", "splash", "dtb", "pcrpkey"}) {
    Bytes data(1 + rng() % 3000);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    if (std::string_view(name) == "cmdline") // PCR 9 for 252 is modelled for ASCII only
      for (auto& b : data) b = static_cast<std::uint8_t>(0x20 + b % 0x5f);
    write_file_atomic(dir.path() / name, data);
    u.sections.push_back({std::string(".") + name, data});
    args += fmt::format(" --{}={}", name, (dir.path() / name).string());
  }
  // Sections 252 does not measure: they must not change the value.
  u.sections.push_back(sec(".sbat", "sbat,1,SBAT Version\n"));
  u.sections.push_back(sec(".uname", "6.1.0-41-amd64"));
  u.sections.push_back(sec(".pcrsig", "{\"sha256\":[]}"));
  BootConfig cfg;
  const PcrPrediction p = predict_pcrs(u, cfg);

  const std::string banks = " --bank=sha256 --bank=sha384";
  const auto stub_only = nlohmann::json::parse(
      run(std::string(k_systemd_measure) + " calculate --json=short --phase=:" + banks + args));
  CHECK(to_systemd_measure(p, {":"}) == stub_only);
  const auto phased = nlohmann::json::parse(
      run(std::string(k_systemd_measure) + " calculate --json=short" + banks + args));
  CHECK(to_systemd_measure(p) == phased);
  CHECK(to_systemd_measure(p).dump() == phased.dump());
}

TEST_CASE("PCR 4 matches flashbots TestPredictPCR4 and the published constant digests",
          "[measure]") {
  UkiMeasureInput u = base_uki(252);
  u.sections = {sec(".linux", "MZ")};
  u.uki_authenticode = {{HashAlg::sha256, rep(0, 32)}};
  u.linux_authenticode = {{HashAlg::sha256, rep(1, 32)}};
  const std::vector<Event> e = pcr4_events(u, 252, false, k_sha256);
  REQUIRE(e.size() == 4);
  // pcr-measurements.md §10.2 (systemd pcrlock.d 350-action-efi-application, 400 separator).
  CHECK(to_hex(e[0].digests.at(HashAlg::sha256)) ==
        "3d6772b4f84ed47595d72a2c4c5ffd15f5bb72c7507fe26f2aaee2c69d5633ba");
  CHECK(to_hex(e[1].digests.at(HashAlg::sha256)) ==
        "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119");
  CHECK(e[2].type == ev::k_efi_boot_services_application);
  CHECK(to_hex(replay(e, k_sha256).at(HashAlg::sha256)) ==
        "22116dee861aa6b44242ac469eab24cead344d52c77131f54ac1cac9d6a2408e");
}

TEST_CASE("PCR 4 has the kernel event only for stub <= 257, Secure Boot off, EFI stub >= 1.0",
          "[measure]") {
  UkiMeasureInput u = base_uki(257);
  u.sections = {sec(".linux", "MZ")};
  CHECK(pcr4_events(u, 257, false, k_both).size() == 4);
  CHECK(pcr4_events(u, 257, true, k_both).size() == 3);
  CHECK(pcr4_events(u, 258, false, k_both).size() == 3);
  u.kernel_efi_major = 0;
  CHECK(pcr4_events(u, 252, false, k_both).size() == 3);
  u.kernel_efi_major = 1;
  u.linux_authenticode.clear();
  CHECK_THROWS_AS(pcr4_events(u, 257, false, k_both), Error);
  CHECK_NOTHROW(pcr4_events(u, 257, true, k_both));
}

TEST_CASE("PCR 9 matches flashbots TestPredictPCR9 (console=tty0, initrd digest zero)",
          "[measure]") {
  const Bytes options = stub_load_options("console=tty0", 252);
  CHECK(options == utf16z("console=tty0"));
  const Event lo = hashed_event("pcr9", 9, ev::k_event_tag, options, k_sha256, "lo", "t");
  Event initrd = lo;
  initrd.digests[HashAlg::sha256] = rep(0, 32);
  const std::vector<Event> events{lo, initrd};
  CHECK(to_hex(replay(events, k_sha256).at(HashAlg::sha256)) ==
        "eb4f7bca865807d3163b95174d6e66cfc74acf8b930a553e95ec94662cb6facd");
}

TEST_CASE("LoadOptions cleaning follows the boot-confirmed 252 and 257 rules", "[measure]") {
  // 252 (Debian 252.39): up to NUL, control chars -> space, trailing spaces cut, leading
  // blanks and DEL kept.
  CHECK(stub_load_options("console=ttyS0\n", 252) == utf16z("console=ttyS0"));
  CHECK(stub_load_options("  a\tb\x7f\n\0junk", 252) == utf16z("  a b\x7f"));
  // 253..256: the same cleaning (<= 0x1F -> space, trailing cut), leading kept.
  CHECK(stub_load_options("  a\tb\x7f\n", 255) == utf16z("  a b\x7f"));
  // 257: c <= 0x20 || c == 0x7F is whitespace: leading dropped, inner -> space, runs kept.
  CHECK(stub_load_options(" \t a\t\tb\x7f" "c \n", 257) == utf16z("a  b c"));
  CHECK(stub_load_options("", 257) == utf16z(""));
  // UTF-8 is decoded to UCS-2 from 253 on; 252's conversion is not modelled for non-ASCII.
  const Bytes e_acute = stub_load_options("\xc3\xa9", 257);
  CHECK(e_acute == Bytes{0xe9, 0x00, 0x00, 0x00});
  CHECK_THROWS_AS(stub_load_options("\xc3\xa9", 252), Error);
}

TEST_CASE("a trailing newline changes PCR 11 but not PCR 9 on 252 and 257", "[measure]") {
  for (int major : {252, 257}) {
    UkiMeasureInput a = base_uki(major);
    a.sections = {sec(".linux", "MZ"), sec(".cmdline", "console=ttyS0"),
                  sec(".initrd", "initrd!")};
    UkiMeasureInput b = a;
    b.sections[1] = sec(".cmdline", "console=ttyS0\n");
    const PcrPrediction pa = predict_pcrs(a, BootConfig{});
    const PcrPrediction pb = predict_pcrs(b, BootConfig{});
    CHECK(pa.registers[1].values == pb.registers[1].values); // pcr9
    CHECK(pa.registers[2].values != pb.registers[2].values); // pcr11
  }
}
