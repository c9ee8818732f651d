#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>

#include <tdximg/measure/pcr.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

Section sec(std::string name, std::string_view data) { return {std::move(name), to_bytes(data)}; }

UkiMeasureInput uki(int major, std::vector<Section> sections) {
  UkiMeasureInput u;
  u.stub_major = major;
  u.sections = std::move(sections);
  return u;
}

Bytes cat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

} // namespace

TEST_CASE("the stub's cpio literal unpacks with GNU cpio to .extra/<file>, modes 0555/0444",
          "[measure]") {
  if (std::system("command -v cpio >/dev/null 2>&1") != 0) {
    WARN("GNU cpio not installed; check skipped");
    return;
  }
  const std::string content = "ID=debian\nVERSION_ID=\"13\"\n"; // 27 bytes: needs padding
  const Bytes archive = stub_cpio_literal(".extra", "os-release", as_bytes(content));
  CHECK(archive.size() % 4 == 0);
  TempDir dir;
  write_file_atomic(dir.path() / "a.cpio", archive);
  const std::string cmd = fmt::format(
      "cd '{}' && mkdir x && cd x && cpio -id --quiet --no-absolute-filenames < ../a.cpio",
      dir.path().string());
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(read_text_file(dir.path() / "x/.extra/os-release") == content);
  struct stat st {};
  REQUIRE(::stat((dir.path() / "x/.extra").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
  REQUIRE(::stat((dir.path() / "x/.extra/os-release").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0444);
  ::chmod((dir.path() / "x/.extra").c_str(), 0755); // let TempDir clean up
  // GNU cpio lists exactly the two entries.
  const std::string list_cmd =
      fmt::format("cpio -it --quiet < '{}/a.cpio' > '{}/list'", dir.path().string(),
                  dir.path().string());
  REQUIRE(std::system(list_cmd.c_str()) == 0);
  CHECK(read_text_file(dir.path() / "list") == ".extra\n.extra/os-release\n");
}

TEST_CASE("the stub's cpio literal has lowercase fields and the fixed uppercase-B trailer",
          "[measure]") {
  const Bytes a = stub_cpio_literal(".extra", "tpm2-pcr-public-key.pem", as_bytes("KEY"));
  const std::string s(as_chars(a));
  // Directory header: ino 1, mode 040555 (0x416d), nlink 1, namesize 7.
  CHECK(s.substr(0, 6 + 8 * 13) ==
        "070701" "00000001" "0000416d" "00000000" "00000000" "00000001" "00000000" "00000000"
        "00000000" "00000000" "00000000" "00000000" "00000007" "00000000");
  CHECK(s.substr(110, 8) == std::string(".extra\0\0", 8));
  // File header at 120: ino 2, mode 0100444 (0x8124), size 3, namesize 31.
  CHECK(s.substr(120, 6 + 8 * 13) ==
        "070701" "00000002" "00008124" "00000000" "00000000" "00000001" "00000000" "00000003"
        "00000000" "00000000" "00000000" "00000000" "0000001f" "00000000");
  const std::string trailer = std::string("070701" "00000000" "00000000" "00000000" "00000000"
                                          "00000001" "00000000" "00000000" "00000000" "00000000"
                                          "00000000" "00000000" "0000000B" "00000000"
                                          "TRAILER!!!") +
                              std::string(4, '\0');
  REQUIRE(s.size() > trailer.size());
  CHECK(s.substr(s.size() - trailer.size()) == trailer);
  CHECK(s.size() == 120 + 112 + 32 + 4 + trailer.size()); // hdr+name+pad, data 3 + pad 1
}

TEST_CASE("stub 252 serves .initrd alone unpadded, or padded only when cpios follow",
          "[measure]") {
  CHECK(stub_initrd(uki(252, {sec(".initrd", "abcde")}), 252) == to_bytes("abcde"));
  const Bytes pk = stub_cpio_literal(".extra", "tpm2-pcr-public-key.pem", as_bytes("PK"));
  const Bytes sig = stub_cpio_literal(".extra", "tpm2-pcr-signature.json", as_bytes("{}"));
  const auto u = uki(252, {sec(".initrd", "abcde"), sec(".pcrsig", "{}"), sec(".pcrpkey", "PK"),
                           sec(".osrel", "ID=x\n")});
  CHECK(stub_initrd(u, 252) == cat({as_bytes("abcde"), Bytes(3, 0), sig, pk}));
  // No .initrd, only generated parts.
  CHECK(stub_initrd(uki(252, {sec(".pcrpkey", "PK")}), 252) == pk);
  CHECK(stub_initrd(uki(252, {}), 252).empty());
}

TEST_CASE("stub 256+ pads every part to 4 except a single part; 257 adds the osrel cpio",
          "[measure]") {
  const Bytes pk = stub_cpio_literal(".extra", "tpm2-pcr-public-key.pem", as_bytes("PK"));
  const Bytes os = stub_cpio_literal(".extra", "os-release", as_bytes("ID=x\n"));
  CHECK(stub_initrd(uki(256, {sec(".initrd", "abcde"), sec(".osrel", "ID=x\n")}), 256) ==
        to_bytes("abcde"));
  CHECK(stub_initrd(uki(256, {sec(".ucode", "uc"), sec(".initrd", "abcde")}), 256) ==
        cat({as_bytes("uc"), Bytes(2, 0), as_bytes("abcde"), Bytes(3, 0)}));
  CHECK(stub_initrd(uki(257, {sec(".initrd", "abcde"), sec(".osrel", "ID=x\n")}), 257) ==
        cat({as_bytes("abcde"), Bytes(3, 0), os}));
  CHECK(stub_initrd(uki(257, {sec(".osrel", "ID=x\n"), sec(".pcrpkey", "PK"),
                              sec(".initrd", "abcd")}),
                    257) == cat({as_bytes("abcd"), pk, os}));
  // A single generated part (no .initrd) is passed as is.
  CHECK(stub_initrd(uki(257, {sec(".osrel", "ID=x\n")}), 257) == os);
}

TEST_CASE("PCR 9 measures LoadOptions then the combined initrd, gated by kernel version",
          "[measure]") {
  const HashAlg banks[] = {HashAlg::sha256};
  UkiMeasureInput u = uki(257, {sec(".linux", "MZ"), sec(".cmdline", "quiet\n"),
                                sec(".initrd", "abcde"), sec(".osrel", "ID=x\n")});
  u.uname = "6.12.117-amd64";
  auto e = pcr9_events(u, 257, banks);
  REQUIRE(e.size() == 2);
  CHECK(e[0].digests.at(HashAlg::sha256) == hash(HashAlg::sha256, stub_load_options("quiet", 257)));
  CHECK(e[1].digests.at(HashAlg::sha256) == hash(HashAlg::sha256, stub_initrd(u, 257)));
  CHECK(e[1].digests.at(HashAlg::sha256) != hash(HashAlg::sha256, as_bytes("abcde")));
  u.uname = "6.0.12";
  CHECK(pcr9_events(u, 257, banks).size() == 1); // LoadOptions measured from 6.1
  u.uname = "5.16.0";
  CHECK(pcr9_events(u, 257, banks).empty());
  u.uname = "";
  u.kernel_efi_major = 0; // EFI handover: nothing measured
  CHECK(pcr9_events(u, 257, banks).empty());
}

TEST_CASE("predict_pcrs refuses unknown stubs unless overridden and labels Azure unverified",
          "[measure]") {
  UkiMeasureInput u = uki(259, {sec(".linux", "MZ"), sec(".cmdline", "x")});
  u.uki_authenticode = {{HashAlg::sha256, Bytes(32, 1)}, {HashAlg::sha384, Bytes(48, 1)}};
  u.linux_authenticode = u.uki_authenticode;
  BootConfig cfg;
  try {
    predict_pcrs(u, cfg);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
  }
  u.stub_major = 251;
  CHECK_THROWS_AS(predict_pcrs(u, cfg), Error);
  u.stub_major = 259;
  cfg.stub_rules_override = 258;
  const PcrPrediction p = predict_pcrs(u, cfg);
  CHECK(p.stub_rules_major == 258);
  REQUIRE(p.registers.size() == 5);
  CHECK(p.registers[0].events.size() == 3); // 258: no kernel LoadImage event
  CHECK(p.registers[3].values.at(HashAlg::sha256) == Bytes(32, 0));
  CHECK(p.pcr11_phases.size() == 5);
  CHECK(p.registers[0].verified_platform);
  cfg.platform = Platform::azure;
  const PcrPrediction az = predict_pcrs(u, cfg);
  CHECK_FALSE(az.registers[0].verified_platform);
  CHECK(az.registers[0].note.find("calibrate") != std::string::npos);
  CHECK(az.registers[0].values == p.registers[0].values);
}

TEST_CASE("the timeline lists firmware, stub, kernel-image and kernel events in boot order",
          "[measure]") {
  UkiMeasureInput u = uki(252, {sec(".linux", "MZ"), sec(".cmdline", "x"), sec(".initrd", "i")});
  u.uki_authenticode = {{HashAlg::sha256, Bytes(32, 1)}};
  u.linux_authenticode = {{HashAlg::sha256, Bytes(32, 2)}};
  BootConfig cfg;
  cfg.banks = {HashAlg::sha256};
  const PcrPrediction p = predict_pcrs(u, cfg);
  std::vector<std::string> regs;
  for (const Event& e : p.timeline) regs.push_back(e.reg);
  CHECK(regs == std::vector<std::string>{"pcr4", "pcr4", "pcr4", "pcr11", "pcr11", "pcr11",
                                         "pcr11", "pcr11", "pcr11", "pcr4", "pcr9", "pcr9"});
}
