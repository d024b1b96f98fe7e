#pragma once
// Time zones for the `time_window` condition, through Howard Hinnant's date library (see
// docs/adr/0003-date-tz-for-time-zones.md). Zones are looked up once, when a policy is compiled;
// converting an instant is then a binary search in the zone's transitions, safe from any thread.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/types.hpp"

namespace date {
class time_zone;
}

namespace alter::server::policy {

/// A zone found in the system's tz database. UTC needs no database.
class Zone {
 public:
  /// "Europe/Paris", "UTC", ... Sets `error` and returns false when the zone is unknown or the
  /// database cannot be read.
  static bool lookup(std::string_view name, Zone& out, std::string* error);

  struct Local {
    int weekday = 0;         // 0 = Monday ... 6 = Sunday
    int minute_of_day = 0;   // 0 ... 1439
  };
  Local to_local(TimePoint t) const;
  const std::string& name() const { return name_; }

 private:
  const date::time_zone* zone_ = nullptr;  // nullptr: UTC
  std::string name_ = "UTC";
};

/// Days (bit 0 = Monday ... bit 6 = Sunday) and [start, end) minutes of the day in a zone. An end
/// before the start wraps past midnight; the hours after midnight then belong to the day the
/// window opened (a Friday 22:00-06:00 window includes Saturday 03:00).
struct TimeWindow {
  std::uint8_t days = 0x7f;
  int start_minute = 0;
  int end_minute = 24 * 60;
  int zone_index = 0;  // index into the compiled policy's zones

  bool contains(Zone::Local local) const;
};

}  // namespace alter::server::policy
