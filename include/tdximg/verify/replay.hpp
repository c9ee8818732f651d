#pragma once
// Replays an event log into register values.

#include <cstdint>
#include <map>

#include <tdximg/verify/tcg2_log.hpp>

namespace tdximg::verify {

// Register index -> bank -> value. Every register starts at zero (PCR 0 starts at
// 00..0<locality> if the log has a StartupLocality event); EV_NO_ACTION is not extended.
using RegisterValues = std::map<std::uint32_t, std::map<HashAlg, Bytes>>;

// Replays every event of `log` in every bank of the log. Never throws for a parsed log.
RegisterValues replay(const EventLog& log);

} // namespace tdximg::verify
