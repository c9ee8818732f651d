// MRTD. Spec: Intel TDX Module ABI spec §5.3.20 TDH.MEM.PAGE.ADD, §5.3.44 TDH.MR.EXTEND,
// §5.3.45 TDH.MR.FINALIZE; base architecture spec §12.2.1. One SHA-384 context (opened by
// TDH.MNG.INIT, closed by TDH.MR.FINALIZE) absorbs, per call, a 128-byte record: the ASCII
// operation name zero-padded to 16 bytes, the GPA as u64 LE at offset 16, zeros to 128; an
// MR.EXTEND record is followed by the 256 bytes it measures. Nothing else enters MRTD.

#include <array>
#include <tdximg/measure/mrtd.hpp>
#include <tdximg/util/error.hpp>

namespace tdximg::measure {

namespace {

constexpr std::uint64_t k_page = 0x1000;
constexpr std::uint64_t k_chunk = 0x100; // TDH.MR.EXTEND granularity
constexpr std::uint64_t k_record = 128;

void record(Hasher& h, std::string_view op, std::uint64_t gpa) {
  std::array<std::uint8_t, k_record> buf{};
  for (std::size_t i = 0; i < op.size(); ++i)
    buf[i] = static_cast<std::uint8_t>(op[i]);
  for (std::size_t i = 0; i < 8; ++i)
    buf[16 + i] = static_cast<std::uint8_t>(gpa >> (8 * i));
  h.update(buf);
}

void page_add(Hasher& h, std::uint64_t gpa) {
  record(h, "MEM.PAGE.ADD", gpa);
}

// The 16 TDH.MR.EXTENDs of one page: bytes past RawDataSize are the zero-filled TD memory.
void extend_page(Hasher& h, ByteSpan raw, const TdvfSection& s, std::uint64_t page) {
  for (std::uint64_t c = 0; c < k_page / k_chunk; ++c) {
    const std::uint64_t off = page * k_page + c * k_chunk; // offset within the section
    record(h, "MR.EXTEND", s.memory_address + off);
    if (off >= raw.size()) {
      h.update_zeros(k_chunk);
    } else {
      const std::uint64_t n = std::min<std::uint64_t>(k_chunk, raw.size() - off);
      h.update(raw.subspan(static_cast<std::size_t>(off), static_cast<std::size_t>(n)));
      h.update_zeros(k_chunk - n);
    }
  }
}

} // namespace

std::string_view page_order_name(PageOrder order) noexcept {
  return order == PageOrder::two_pass ? "two_pass" : "single_pass";
}

PageOrder page_order_for_vmm(std::string_view vmm) {
  if (vmm == "qemu" || vmm == "single_pass") return PageOrder::single_pass;
  if (vmm == "qemu-8-two-pass" || vmm == "two_pass") return PageOrder::two_pass;
  fail(ErrorKind::usage,
       "unknown vmm '{}' (expected \"qemu\" = single-pass page order of QEMU >= 9 / upstream "
       "KVM, or \"qemu-8-two-pass\")",
       vmm);
}

Sha384 compute_mrtd(ByteSpan firmware, const TdvfMetadata& metadata, PageOrder order) {
  Hasher h(HashAlg::sha384);
  for (std::size_t i = 0; i < metadata.sections.size(); ++i) {
    const TdvfSection& s = metadata.sections[i];
    // PAGE_AUG memory is accepted by the guest later; it is not part of the build measurement.
    if (s.page_aug()) continue;
    const ByteSpan raw = checked_slice(firmware, s.data_offset, s.raw_data_size,
                                       fmt::format("firmware: TDVF section {} raw data", i));
    const std::uint64_t pages = s.memory_data_size / k_page;
    if (order == PageOrder::single_pass) {
      for (std::uint64_t p = 0; p < pages; ++p) {
        page_add(h, s.memory_address + p * k_page);
        if (s.mr_extend()) extend_page(h, raw, s, p);
      }
    } else {
      for (std::uint64_t p = 0; p < pages; ++p)
        page_add(h, s.memory_address + p * k_page);
      if (s.mr_extend())
        for (std::uint64_t p = 0; p < pages; ++p)
          extend_page(h, raw, s, p);
    }
  }
  const Bytes d = h.finish();
  Sha384 out{};
  std::copy(d.begin(), d.end(), out.begin());
  return out;
}

Sha384 compute_mrtd(ByteSpan firmware, PageOrder order, std::string_view name) {
  return compute_mrtd(firmware, parse_tdvf_metadata(firmware, name), order);
}

} // namespace tdximg::measure
