#include "measure/test_tdvf_builder.hpp"

#include <catch2/catch.hpp>
#include <tdximg/measure/rtmr.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/hex.hpp>

using namespace tdximg;
using namespace tdximg::measure;

namespace {

Bytes rep(std::uint8_t b, std::size_t n) {
  return Bytes(n, b);
}
Bytes h384(std::string_view s) {
  const Sha384 d = sha384(as_bytes(s));
  return Bytes(d.begin(), d.end());
}
Bytes h384(ByteSpan s) {
  const Sha384 d = sha384(s);
  return Bytes(d.begin(), d.end());
}

// UTF-16LE + NUL16, written by hand (ASCII only).
Bytes utf16z(std::string_view s) {
  Bytes out;
  for (char c : s) {
    out.push_back(static_cast<std::uint8_t>(c));
    out.push_back(0);
  }
  out.push_back(0);
  out.push_back(0);
  return out;
}

// H(old || d), by hand.
Bytes ext(const Bytes& old, const Bytes& d) {
  Bytes cat = old;
  cat.insert(cat.end(), d.begin(), d.end());
  return h384(cat);
}
Bytes replay_by_hand(const std::vector<Bytes>& digests) {
  Bytes v(48, 0);
  for (const Bytes& d : digests)
    v = ext(v, d);
  return v;
}

UkiMeasureInput uki(int major, std::string uname) {
  UkiMeasureInput u;
  u.stub_major = major;
  u.stub_version_string = fmt::format("systemd-stub {}", major);
  u.uki_authenticode = {{HashAlg::sha384, rep(0xaa, 48)}};
  u.linux_authenticode = {{HashAlg::sha384, rep(0xbb, 48)}};
  u.uname = std::move(uname);
  u.sections = {{".osrel", to_bytes("ID=debian\n")},
                {".cmdline", to_bytes("console=ttyS0 quiet")},
                {".uname", to_bytes(u.uname)},
                {".linux", to_bytes("KERNEL")},
                {".initrd", to_bytes("INITRD-BYTES")}};
  return u;
}

std::vector<Bytes> digests_of(const std::vector<Event>& events) {
  std::vector<Bytes> out;
  for (const Event& e : events)
    out.push_back(e.digests.at(HashAlg::sha384));
  return out;
}

// Constant edk2 event digests, as published (aleph-vm measure.rs rtmr1_tail_event_digests;
// tdx-measurements.md §2.3): PROVENANCE.md.
const char* k_calling = "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346b"
                        "fe0abaa938ca20439a8d71";
const char* k_separator = "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4"
                          "b971c9effc60e1ad9f1289f0";
const char* k_ebs = "214b0bef1379756011344877743fdc2a5382bac6e70362d624ccf3f654407c1b4badf7d8f9295d"
                    "d3dabdef65b27677e0";
const char* k_ebs_ok = "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c"
                       "4174a652cd080f6230b74";

} // namespace

TEST_CASE("RTMR1 for disk boot: action, separator, GPT, UKI, kernel, exit boot services",
          "[measure][tdx]") {
  TdxBootConfig cfg;
  cfg.gpt_event_data = to_bytes("GPT-EVENT-DATA");
  const auto events = rtmr1_events(uki(257, "6.12.57+deb13-amd64"), 257, cfg);
  REQUIRE(events.size() == 7);
  const std::vector<Bytes> expected{
      from_hex(k_calling), from_hex(k_separator), h384("GPT-EVENT-DATA"), rep(0xaa, 48),
      rep(0xbb, 48),       from_hex(k_ebs),       from_hex(k_ebs_ok)};
  CHECK(digests_of(events) == expected);
  CHECK(events[2].type == ev::k_efi_gpt_event);
  for (const Event& e : events) {
    CHECK(e.reg == "rtmr1");
    CHECK(e.index == 1);
  }
  // Secure Boot or stub 258: the stub's LoadImage of .linux is not measured.
  cfg.secure_boot = true;
  CHECK(rtmr1_events(uki(257, "6.12"), 257, cfg).size() == 6);
  cfg.secure_boot = false;
  CHECK(rtmr1_events(uki(258, "6.12"), 258, cfg).size() == 6);
}

TEST_CASE("RTMR1 for direct -kernel boot measures the UKI before ReadyToBoot", "[measure][tdx]") {
  TdxBootConfig cfg;
  cfg.mode = TdxBootMode::direct_kernel;
  const auto events = rtmr1_events(uki(258, "6.12"), 258, cfg);
  // steep compute_rtmr1_direct_kernel / aleph rtmr1: image, Calling, separator, EBS x2.
  const std::vector<Bytes> expected{rep(0xaa, 48), from_hex(k_calling), from_hex(k_separator),
                                    from_hex(k_ebs), from_hex(k_ebs_ok)};
  CHECK(digests_of(events) == expected);
  CHECK(rtmr1_events(uki(252, "6.1.0-41-amd64"), 252, cfg).size() == 6); // + .linux
}

TEST_CASE("RTMR1 for disk boot needs the GPT event and a sha384 Authenticode", "[measure][tdx]") {
  TdxBootConfig cfg;
  CHECK_THROWS_AS(rtmr1_events(uki(257, "6.12"), 257, cfg), Error);
  cfg.gpt_event_data = Bytes{1, 2, 3};
  auto u = uki(257, "6.12");
  u.uki_authenticode = {{HashAlg::sha256, rep(0xaa, 32)}};
  CHECK_THROWS_AS(rtmr1_events(u, 257, cfg), Error);
}

TEST_CASE("bookworm's stub 252 and Linux 6.1 leave RTMR2 at zero, with a note", "[measure][tdx]") {
  std::vector<std::string> notes;
  CHECK(rtmr2_events(uki(252, "6.1.0-41-amd64"), 252, notes).empty());
  bool says_trixie = false;
  for (const auto& n : notes)
    says_trixie |= n.find("trixie") != std::string::npos;
  CHECK(says_trixie);
}

TEST_CASE("RTMR2 on stub 257 + Linux 6.12: sections, then LoadOptions and initrd",
          "[measure][tdx]") {
  std::vector<std::string> notes;
  const auto u = uki(257, "6.12.57+deb13-amd64");
  const auto events = rtmr2_events(u, 257, notes);
  // systemd-stub 257 measure_sections() order (.linux .osrel .cmdline .initrd .uname here),
  // name + NUL then data; then the kernel's LoadOptions (cleaned cmdline, UTF-16LE + NUL) and
  // the initrd the stub serves (.initrd + os-release cpio for >= 257, each padded to 4).
  std::vector<Bytes> expected;
  for (auto [name, data] : std::vector<std::pair<std::string_view, std::string_view>>{
           {".linux", "KERNEL"},
           {".osrel", "ID=debian\n"},
           {".cmdline", "console=ttyS0 quiet"},
           {".initrd", "INITRD-BYTES"},
           {".uname", "6.12.57+deb13-amd64"}}) {
    std::string name_nul(name);
    name_nul.push_back('\0');
    expected.push_back(h384(name_nul));
    expected.push_back(h384(data));
  }
  expected.push_back(h384(utf16z("console=ttyS0 quiet")));
  REQUIRE(events.size() == expected.size() + 1);
  std::vector<Bytes> got = digests_of(events);
  got.pop_back();
  CHECK(got == expected);
  CHECK(events.back().description.find("initrd") != std::string::npos);
  // The initrd digest is that of stub_initrd() (covered by test_initrd.cpp), not of .initrd.
  CHECK(events.back().digests.at(HashAlg::sha384) == h384(stub_initrd(u, 257)));
  CHECK(events.back().digests.at(HashAlg::sha384) != h384("INITRD-BYTES"));
  for (const Event& e : events)
    CHECK(e.reg == "rtmr2");
}

TEST_CASE("RTMR2 applies the stub and kernel cut-offs independently", "[measure][tdx]") {
  std::vector<std::string> notes;
  // stub 256 measures via CC, Linux 6.1 does not.
  CHECK(rtmr2_events(uki(256, "6.1.0-41-amd64"), 256, notes).size() == 10);
  // stub 252 does not, Linux 6.9 does: only LoadOptions + initrd.
  const auto kernel_only = rtmr2_events(uki(252, "6.9.0"), 252, notes);
  REQUIRE(kernel_only.size() == 2);
  CHECK(kernel_only[0].digests.at(HashAlg::sha384) == h384(utf16z("console=ttyS0 quiet")));
  CHECK(rtmr2_events(uki(252, "6.8.12"), 252, notes).empty());
}

TEST_CASE("RTMR2 of a live kata TDX quote (steep) reproduces from its cmdline", "[measure][tdx]") {
  // confidential-dot-ai/steep crates/tdx-measure/src/rtmr.rs test_rtmr2_direct_kernel_golden:
  // one EV_EVENT_TAG LoadOptions event (direct -kernel boot, no initrd).
  const std::string cmdline =
      R"(tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 pci=lastbus=0 dm-mod.create="dm-verity,,,ro,0 772096 verity 1 /dev/vda1 /dev/vda2 4096 4096 96512 0 sha256 768cd7e848f6cb7eb4f59467b26ee5c5e45ece570cb96a5c952d97dbc89bb150 63f8dacc786bd19f307be8668c7792a8fe07818df4aae55b63e76c4931d35c76" root=/dev/dm-0 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 console=hvc0 console=hvc1 quiet systemd.show_status=false panic=1 nr_cpus=1 selinux=0 systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service systemd.mask=systemd-networkd.socket scsi_mod.scan=none agent.launch_process_timeout=6 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1)";
  const std::array<HashAlg, 1> banks{HashAlg::sha384};
  std::vector<Event> events{hashed_event(
      "rtmr2", 2, ev::k_event_tag, stub_load_options(cmdline, 257), banks, "LoadOptions", "test")};
  const auto p = make_prediction("rtmr2", 2, events, banks);
  CHECK(to_hex(p.values.at(HashAlg::sha384)) == "b595f9f179d8b699d1420000d36c1fba82e9853545e719caa6"
                                                "ddbb82fa2041a23b4459876af4a253a1c20c5956529b9a");
}

TEST_CASE("RTMR2 of aleph-vm's hardware vector (QEMU 10.2.4, edk2 202602) reproduces",
          "[measure][tdx]") {
  // aleph-im/aleph-vm rust/crates/aleph-tee/src/tdx/measure.rs HW_* constants.
  const std::string cmdline = "root=LABEL=cloudimg-rootfs ro console=ttyS0";
  const Bytes load_options = stub_load_options("initrd=initrd " + cmdline, 257);
  CHECK(to_hex(h384(load_options)) == "b8c85d40a1d555a451571e24d7d7c4c331bc15721d6e4b2a5cb5093214c4"
                                      "4174822a0916aa4d622d4309644de99cd59c");
  Event opts;
  opts.reg = "rtmr2";
  opts.index = 2;
  opts.type = ev::k_event_tag;
  opts.digests[HashAlg::sha384] = h384(load_options);
  Event initrd = opts;
  initrd.digests[HashAlg::sha384] = from_hex("88de90bedcc560064688c74ccd6609a25ed9d48b0a0e13d8b2a55"
                                             "8212724d8755b2c8114dcf04b8d51ea4cf7782e3091");
  const std::array<HashAlg, 1> banks{HashAlg::sha384};
  CHECK(to_hex(replay(std::vector<Event>{opts, initrd}, banks).at(HashAlg::sha384)) ==
        "972547466cb6bcb8a23cd479e9258c3affbbc4f0ba2805d732477200d0dff8432447c7a775e70453cdb51f018a"
        "306ece");
}

TEST_CASE("predict_tdx reports RTMR0 unpinned unless calibrated, RTMR3 zero, MRTD from firmware",
          "[measure][tdx]") {
  const auto fw = test::aleph_synthetic_fw();
  TdxBootConfig cfg;
  cfg.gpt_event_data = to_bytes("GPT");
  cfg.vm_shape = "2cpu-2G";
  const auto u = uki(257, "6.12.57+deb13-amd64");
  TdxPrediction p = predict_tdx(u, fw.fw, cfg);
  REQUIRE(p.mrtd);
  CHECK(to_hex(*p.mrtd) == "168f5582b72265ed01aad1edd402f5d096c12d95385b5f38959b5cc8c128e6efe6e13e8"
                           "54e211a1ee4e4a4eeafa36fa6");
  CHECK(p.firmware_sha256 == sha256_hex(fw.fw));
  CHECK_FALSE(p.rtmr0_pinned);
  CHECK(p.rtmr0_source == "unpinned");
  CHECK(p.find(0) == nullptr);
  REQUIRE(p.find(1) != nullptr);
  REQUIRE(p.find(2) != nullptr);
  REQUIRE(p.find(3) != nullptr);
  CHECK(p.find(3)->values.at(HashAlg::sha384) == Bytes(48, 0));
  CHECK(p.find(1)->values.at(HashAlg::sha384) == replay_by_hand(digests_of(p.find(1)->events)));
  CHECK(p.find(2)->events.size() == 12);

  // Calibrated: RTMR0 is the replay of the calibration's digests.
  Rtmr0Calibration cal;
  cal.log_sha256 = std::string(64, 'c');
  Event e;
  e.reg = "rtmr0";
  e.type = ev::k_efi_variable_driver_config;
  e.digests[HashAlg::sha384] = rep(0x01, 48);
  cal.events = {e, e};
  cfg.rtmr0_calibration = cal;
  p = predict_tdx(u, {}, cfg);
  CHECK_FALSE(p.mrtd);
  CHECK(p.rtmr0_pinned);
  CHECK(p.rtmr0_source == "calibrated from " + std::string(64, 'c'));
  REQUIRE(p.find(0) != nullptr);
  CHECK(p.find(0)->values.at(HashAlg::sha384) == replay_by_hand({rep(0x01, 48), rep(0x01, 48)}));
}

TEST_CASE("predict_tdx refuses unknown stubs and disk boot without a GPT", "[measure][tdx]") {
  TdxBootConfig cfg;
  cfg.gpt_event_data = to_bytes("GPT");
  CHECK_THROWS_AS(predict_tdx(uki(251, "6.1"), {}, cfg), Error);
  CHECK_THROWS_AS(predict_tdx(uki(259, "6.1"), {}, cfg), Error);
  cfg.stub_rules_override = 258;
  CHECK_NOTHROW(predict_tdx(uki(259, "6.12"), {}, cfg));
  cfg.gpt_event_data.reset();
  CHECK_THROWS_AS(predict_tdx(uki(257, "6.12"), {}, cfg), Error);
}
