#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/types.hpp"

namespace alter::server {

/// "2026-11-26T19:35:03.123Z"
std::string iso8601(TimePoint t);
/// Accepts "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)" and "YYYY-MM-DD".
std::optional<TimePoint> parse_iso8601(std::string_view text);
/// "90s", "15m", "2h", "7d" (for --since and config durations).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

inline std::int64_t to_unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix_ms(std::int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

}  // namespace alter::server
