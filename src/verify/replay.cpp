// Event log replay: TPM 2.0 Part 1 §17.2 PCR extend, PFP 1.05 §3.3.3.1 (PCR 0 starts at the
// startup locality), §10.4.5.3 StartupLocality; EV_NO_ACTION is never extended (§10.4.1).

#include <tdximg/verify/replay.hpp>

namespace tdximg::verify {

RegisterValues replay(const EventLog& log) {
  RegisterValues values;
  auto reg = [&](std::uint32_t index) -> std::map<HashAlg, Bytes>& {
    auto it = values.find(index);
    if (it == values.end()) {
      std::map<HashAlg, Bytes> init;
      for (HashAlg alg : log.banks) {
        Bytes zero(digest_size(alg), 0);
        if (index == 0) zero.back() = log.locality;
        init[alg] = std::move(zero);
      }
      it = values.emplace(index, std::move(init)).first;
    }
    return it->second;
  };
  for (const LogEvent& e : log.events) {
    if (e.type == 0x00000003) continue; // EV_NO_ACTION
    auto& r = reg(e.index);
    for (const auto& [alg, digest] : e.digests) {
      auto it = r.find(alg);
      if (it == r.end() || digest.size() != digest_size(alg)) continue;
      it->second = extend(alg, it->second, digest);
    }
  }
  return values;
}

} // namespace tdximg::verify
