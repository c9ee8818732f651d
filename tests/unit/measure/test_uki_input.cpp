#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <random>

#include <tdximg/measure/export.hpp>
#include <tdximg/measure/uki_input.hpp>
#include <tdximg/uki/uki.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

const char* k_stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const char* k_pe = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const char* k_systemd_measure = "/usr/lib/systemd/systemd-measure";

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(pipe);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
  return out;
}

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

TEST_CASE("a UKI packed with Debian's 252 stub measures like systemd-measure and pesign",
          "[measure]") {
  for (const char* tool : {k_stub, k_pe, k_systemd_measure, "/usr/bin/pesign"})
    if (!fs::exists(tool)) {
      WARN(tool << " not installed; cross-check skipped");
      return;
    }
  TempDir dir;
  // A stand-in kernel: systemd-boot's PE with MajorImageVersion set to 1 (the EFI-stub >= 1.0
  // marker the stub checks), so the LoadImage path applies.
  Bytes kernel = read_file(k_pe);
  const std::uint32_t lfanew = load_u32le(kernel, 0x3c, "e_lfanew");
  kernel[lfanew + 24 + 44] = 1;
  kernel[lfanew + 24 + 45] = 0;
  std::mt19937 rng(7);
  Bytes initrd(4099);
  for (auto& b : initrd) b = static_cast<std::uint8_t>(rng());
  uki::UkiParts parts;
  parts.linux = kernel;
  parts.initrd = initrd;
  parts.cmdline = "console=ttyS0 panic=-1\n";
  parts.osrel = "ID=tdximg-test\n";
  parts.uname = "6.1.0-41-amd64";
  const Bytes image = uki::pack_uki(read_file(k_stub), parts);
  write_file_atomic(dir.path() / "uki.efi", image);
  write_file_atomic(dir.path() / "linux", kernel);
  write_file_atomic(dir.path() / "initrd", initrd);
  write_file_atomic(dir.path() / "cmdline", *parts.cmdline);
  write_file_atomic(dir.path() / "osrel", *parts.osrel);

  const HashAlg banks[] = {HashAlg::sha256, HashAlg::sha384};
  const UkiMeasureInput in = measure_input_from_uki(image, banks);
  CHECK(in.stub_major == 252);
  CHECK(in.stub_version_string.rfind("252.39", 0) == 0);
  CHECK(in.kernel_efi_major == 1);
  CHECK(in.uname == "6.1.0-41-amd64");

  // Authenticode (sha256) of the UKI and of the .linux buffer, per pesign.
  const auto pesign = [&](const char* file) {
    std::string out = run(fmt::format("pesign -h -i '{}' 2>/dev/null", (dir.path() / file).string()));
    const auto pos = out.find("hash: ");
    REQUIRE(pos != std::string::npos);
    return out.substr(pos + 6, 64);
  };
  CHECK(to_hex(in.uki_authenticode.at(HashAlg::sha256)) == pesign("uki.efi"));
  CHECK(to_hex(in.linux_authenticode.at(HashAlg::sha256)) == pesign("linux"));

  BootConfig cfg;
  const PcrPrediction p = predict_pcrs(in, cfg);
  CHECK(p.registers[0].events.size() == 4);
  REQUIRE(p.registers[1].events.size() == 2);
  CHECK(p.registers[1].events[0].digests.at(HashAlg::sha256) ==
        hash(HashAlg::sha256, utf16z("console=ttyS0 panic=-1")));
  CHECK(p.registers[1].events[1].digests.at(HashAlg::sha256) == hash(HashAlg::sha256, initrd));

  std::string args;
  for (const char* s : {"linux", "initrd", "cmdline", "osrel"})
    args += fmt::format(" --{}='{}'", s, (dir.path() / s).string());
  const auto expected = nlohmann::json::parse(
      run(fmt::format("{} calculate --json=short --bank=sha256 --bank=sha384{}", k_systemd_measure,
                      args)));
  CHECK(to_systemd_measure(p) == expected);
}
