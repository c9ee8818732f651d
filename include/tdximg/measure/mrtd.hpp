#pragma once
// MRTD: the TD build-time measurement the TDX module accumulates while the VMM adds and
// extends the firmware pages. Pure: bytes in, SHA-384 out.
// Spec: Intel TDX Module ABI spec §5.3.20 TDH.MEM.PAGE.ADD, §5.3.44 TDH.MR.EXTEND, §5.3.45
// TDH.MR.FINALIZE; TDX Module base architecture spec §12.2.1 (MRTD is one SHA-384 context over
// 128-byte records: ASCII "MEM.PAGE.ADD"/"MR.EXTEND" zero-padded to 16 bytes, GPA u64 LE at 16,
// zeros to 128; MR.EXTEND is followed by the 256 bytes it measures).

#include <string_view>
#include <tdximg/measure/tdvf.hpp>
#include <tdximg/util/digest.hpp>

namespace tdximg::measure {

// The order in which the VMM issues the calls for each section.
enum class PageOrder {
  // For each page: PAGE.ADD, then its 16 MR.EXTENDs. Current QEMU (>= 9) with upstream KVM
  // (KVM_TDX_INIT_MEM_REGION adds a page and then extends it). The default.
  single_pass,
  // Per section: every PAGE.ADD first, then every MR.EXTEND. QEMU 8.x-era TDX stacks.
  two_pass,
};

// "single_pass" / "two_pass". Never throws.
std::string_view page_order_name(PageOrder order) noexcept;
// The page order of a recipe/CLI `vmm` setting: "qemu" (default; single pass),
// "qemu-8-two-pass" (two pass); also accepts "single_pass"/"two_pass".
// Throws ErrorKind::usage for anything else.
PageOrder page_order_for_vmm(std::string_view vmm);

// MRTD for `firmware` laid out by `metadata` (from parse_tdvf_metadata of the same bytes):
// sections in metadata order; every page of a section PAGE.ADDed unless PAGE_AUG; pages of an
// MR_EXTEND section extended in 256-byte chunks (bytes past RawDataSize are zero).
// Throws ErrorKind::input if a section's data lies outside `firmware`.
Sha384 compute_mrtd(ByteSpan firmware, const TdvfMetadata& metadata,
                    PageOrder order = PageOrder::single_pass);

// Parses the metadata and computes the MRTD. Throws like parse_tdvf_metadata().
Sha384 compute_mrtd(ByteSpan firmware, PageOrder order = PageOrder::single_pass,
                    std::string_view name = "firmware");

} // namespace tdximg::measure
