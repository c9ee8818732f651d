#include "measure/test_tdvf_builder.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <tdximg/measure/mrtd.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;
using tdximg::test::build_fw;

namespace {

// Golden values: tests/data/tdx/PROVENANCE.md.
struct KnownFirmware {
  const char* what;
  const char* sha256;
  const char* single_pass;
  const char* two_pass;
};
const KnownFirmware k_bookworm{"Debian bookworm ovmf 2022.11-6+deb12u2 /usr/share/ovmf/OVMF.fd",
                               "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
                               "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb8"
                               "87fed0744d5631a212967fb231c47",
                               "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db"
                               "3b32e6924cba830a724eed443f7e1"};
const KnownFirmware k_trixie{"Debian trixie ovmf 2025.02-8+deb13u1 /usr/share/ovmf/OVMF.fd",
                             "14954040cc754ade0c625ac3470ea46d4c14318b5b1396de4ef77090203d76db",
                             "bdc6fb145880f06f30c8b346b8dce2a99d9351b56892df22f80fcf6574caa9f9c31df"
                             "8e8576d53b4d0cd1c3f28910e11",
                             "456f07902150d008bb913c3e1e84e9297f735a6c83cd2a957a1f0a8bbedb06df188e3"
                             "837ae48d32c73d473d097dc0db2"};

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(pipe);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0)
    out.append(buf, n);
  return out;
}

// The 128-byte TDX module record (ABI spec TDH.MEM.PAGE.ADD / TDH.MR.EXTEND), by hand.
Bytes record(std::string_view op, std::uint64_t gpa) {
  Bytes r(128, 0);
  std::copy(op.begin(), op.end(), r.begin());
  for (int i = 0; i < 8; ++i)
    r[16 + i] = static_cast<std::uint8_t>(gpa >> (8 * i));
  return r;
}

void append(Bytes& out, const Bytes& b) {
  out.insert(out.end(), b.begin(), b.end());
}

// Checks a firmware file against recorded values, or, when the file changed (a Debian point
// release), against the python reference run now.
void check_firmware(const std::string& path, const KnownFirmware& known) {
  const Bytes fw = read_file(path);
  const std::string single = to_hex(compute_mrtd(fw, PageOrder::single_pass, path));
  const std::string two = to_hex(compute_mrtd(fw, PageOrder::two_pass, path));
  if (sha256_hex(fw) == known.sha256) {
    CHECK(single == known.single_pass);
    CHECK(two == known.two_pass);
    return;
  }
  WARN(path << " is not " << known.what << "; comparing with the python reference instead");
  const std::string script = std::string(TDXIMG_SOURCE_DIR) + "/tests/data/tdx/mrtd_reference.py";
  const auto j = nlohmann::json::parse(run("python3 '" + script + "' '" + path + "'"));
  CHECK(single == j["single_pass"].get<std::string>());
  CHECK(two == j["two_pass"].get<std::string>());
}

} // namespace

TEST_CASE("MRTD hashes 128-byte PAGE.ADD and MR.EXTEND records in the chosen order",
          "[measure][tdx]") {
  // Two measured pages at GPA 0x1000 and one unmeasured page at 0x10000.
  const auto img =
      build_fw(0x4000, 0x3000, {{0, 0x2000, 0x1000, 0x2000, 0, 1}, {0, 0, 0x10000, 0x1000, 3, 0}});
  Bytes single;
  Bytes two;
  for (std::uint64_t p = 0; p < 2; ++p) {
    append(single, record("MEM.PAGE.ADD", 0x1000 + p * 0x1000));
    for (std::uint64_t c = 0; c < 16; ++c) {
      append(single, record("MR.EXTEND", 0x1000 + p * 0x1000 + c * 256));
      const auto at = static_cast<std::ptrdiff_t>(p * 0x1000 + c * 256);
      append(single, Bytes(img.fw.begin() + at, img.fw.begin() + at + 256));
    }
  }
  append(two, record("MEM.PAGE.ADD", 0x1000));
  append(two, record("MEM.PAGE.ADD", 0x2000));
  for (std::uint64_t p = 0; p < 2; ++p)
    for (std::uint64_t c = 0; c < 16; ++c) {
      append(two, record("MR.EXTEND", 0x1000 + p * 0x1000 + c * 256));
      const auto at = static_cast<std::ptrdiff_t>(p * 0x1000 + c * 256);
      append(two, Bytes(img.fw.begin() + at, img.fw.begin() + at + 256));
    }
  append(single, record("MEM.PAGE.ADD", 0x10000));
  append(two, record("MEM.PAGE.ADD", 0x10000));
  CHECK(compute_mrtd(img.fw, PageOrder::single_pass) == sha384(single));
  CHECK(compute_mrtd(img.fw, PageOrder::two_pass) == sha384(two));
  CHECK(compute_mrtd(img.fw) == sha384(single)); // single pass is the default
}

TEST_CASE("MRTD zero-fills measured memory past RawDataSize and skips PAGE_AUG sections",
          "[measure][tdx]") {
  auto img =
      build_fw(0x3000, 0x2000, {{0, 0x180, 0x1000, 0x1000, 0, 1}, {0, 0, 0x20000, 0x1000, 3, 2}});
  Bytes expected;
  append(expected, record("MEM.PAGE.ADD", 0x1000));
  for (std::uint64_t c = 0; c < 16; ++c) {
    append(expected, record("MR.EXTEND", 0x1000 + c * 256));
    Bytes chunk(256, 0);
    for (std::size_t i = 0; i < 256; ++i)
      if (c * 256 + i < 0x180) chunk[i] = img.fw[c * 256 + i];
    append(expected, chunk);
  }
  CHECK(compute_mrtd(img.fw) == sha384(expected));
}

TEST_CASE("MRTD of aleph-vm's synthetic TDVF equals aleph's pinned value", "[measure][tdx]") {
  const auto img = test::aleph_synthetic_fw();
  CHECK(to_hex(compute_mrtd(img.fw)) == "168f5582b72265ed01aad1edd402f5d096c12d95385b5f38959b5cc8c1"
                                        "28e6efe6e13e854e211a1ee4e4a4eeafa36fa6");
  // A byte of the descriptor page outside descriptor and table is not measured.
  Bytes fw = img.fw;
  fw[0x2800] ^= 1;
  CHECK(compute_mrtd(fw) == compute_mrtd(img.fw));
  fw[0x123] ^= 1; // a BFV byte is
  CHECK(compute_mrtd(fw) != compute_mrtd(img.fw));
}

TEST_CASE("MRTD of Debian bookworm's OVMF.fd matches aleph-vm and Contrast in both orders",
          "[measure][tdx]") {
  const char* path = "/usr/share/ovmf/OVMF.fd";
  if (!std::filesystem::exists(path)) {
    WARN("skipped: " << path << " absent (scripts/setup installs ovmf)");
    return;
  }
  check_firmware(path, k_bookworm);
}

TEST_CASE("MRTD of Debian trixie's OVMF.fd matches aleph-vm and Contrast in both orders",
          "[measure][tdx]") {
  // tests/cli/tdx_mrtd.sh downloads trixie's ovmf and points this variable at its OVMF.fd.
  const char* path = std::getenv("TDXIMG_TRIXIE_OVMF");
  if (path == nullptr || !std::filesystem::exists(path)) {
    WARN("skipped: TDXIMG_TRIXIE_OVMF not set (tests/cli/tdx_mrtd.sh sets it)");
    return;
  }
  check_firmware(path, k_trixie);
}

TEST_CASE("the vmm setting picks the page order", "[measure][tdx]") {
  CHECK(page_order_for_vmm("qemu") == PageOrder::single_pass);
  CHECK(page_order_for_vmm("qemu-8-two-pass") == PageOrder::two_pass);
  CHECK(page_order_name(PageOrder::two_pass) == "two_pass");
  CHECK_THROWS_AS(page_order_for_vmm("cloud-hypervisor"), Error);
}
