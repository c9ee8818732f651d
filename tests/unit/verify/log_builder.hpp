#pragma once
// Builds TCG2 event logs field by field from the TCG PC Client PFP 1.05 structures
// (§10.2.1 TCG_PCR_EVENT, §10.2.2 TCG_PCR_EVENT2, §10.4.5.1 TCG_EfiSpecIDEvent), with
// util's ByteWriter only — independent of the parser under test.

#include <string_view>
#include <utility>
#include <vector>

#include <tdximg/util/bytes.hpp>

namespace tdximg::test {

constexpr std::uint16_t k_alg_sha1 = 0x0004;
constexpr std::uint16_t k_alg_sha256 = 0x000B;
constexpr std::uint16_t k_alg_sha384 = 0x000C;
constexpr std::uint16_t k_alg_sm3 = 0x0012;

struct LogBuilder {
  ByteWriter w;
  std::vector<std::size_t> boundaries; // offsets after each complete record

  // TCG_PCR_EVENT carrying TCG_EfiSpecIDEvent.
  void spec_id(const std::vector<std::pair<std::uint16_t, std::uint16_t>>& algs,
               std::string_view signature = "Spec ID Event03", std::uint32_t count_override = 0) {
    ByteWriter ev;
    ev.str(signature);
    ev.zeros(16 - signature.size());
    ev.u32le(0); // platformClass
    ev.u8(0);    // specVersionMinor
    ev.u8(2);    // specVersionMajor
    ev.u8(0);    // specErrata
    ev.u8(2);    // uintnSize (64-bit)
    ev.u32le(count_override != 0 ? count_override : static_cast<std::uint32_t>(algs.size()));
    for (auto [id, size] : algs) {
      ev.u16le(id);
      ev.u16le(size);
    }
    ev.u8(0); // vendorInfoSize
    legacy_event(0, 3, Bytes(20, 0), ev.data());
  }

  // TCG_PCR_EVENT (SHA1 layout).
  void legacy_event(std::uint32_t pcr, std::uint32_t type, const Bytes& sha1, ByteSpan data) {
    w.u32le(pcr);
    w.u32le(type);
    w.bytes(sha1);
    w.u32le(static_cast<std::uint32_t>(data.size()));
    w.bytes(data);
    boundaries.push_back(w.size());
  }

  // TCG_PCR_EVENT2.
  void event2(std::uint32_t pcr, std::uint32_t type,
              const std::vector<std::pair<std::uint16_t, Bytes>>& digests, ByteSpan data,
              std::uint32_t count_override = 0) {
    w.u32le(pcr);
    w.u32le(type);
    w.u32le(count_override != 0 ? count_override : static_cast<std::uint32_t>(digests.size()));
    for (const auto& [id, d] : digests) {
      w.u16le(id);
      w.bytes(d);
    }
    w.u32le(static_cast<std::uint32_t>(data.size()));
    w.bytes(data);
    boundaries.push_back(w.size());
  }
};

} // namespace tdximg::test
