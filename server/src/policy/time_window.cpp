#include "policy/time_window.hpp"

#include <date/tz.h>

#include <chrono>
#include <exception>

namespace alter::server::policy {

bool Zone::lookup(std::string_view name, Zone& out, std::string* error) {
  if (name == "UTC" || name == "Etc/UTC" || name == "Z") {
    out.zone_ = nullptr;
    out.name_ = "UTC";
    return true;
  }
  try {
    (void)date::get_tzdb();  // loaded once per process
  } catch (const std::exception& e) {
    if (error) *error = std::string("the system's time zone database could not be read (is tzdata installed?): ") + e.what();
    return false;
  }
  try {
    out.zone_ = date::locate_zone(name);
    out.name_ = std::string(name);
    // Load the zone's transitions now rather than on the first request (the library loads them
    // lazily under a once-flag).
    (void)out.zone_->get_info(std::chrono::system_clock::now());
    return true;
  } catch (const std::exception&) {
    if (error) *error = "unknown time zone \"" + std::string(name) + "\" (use an IANA name such as \"Europe/Paris\")";
    return false;
  }
}

Zone::Local Zone::to_local(TimePoint t) const {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  seconds offset{0};
  if (zone_ != nullptr) offset = zone_->get_info(secs).offset;
  const auto local = secs + offset;
  const auto day = floor<days>(local);
  const auto minute = duration_cast<minutes>(local - day).count();
  // 1970-01-01 was a Thursday (3 when Monday is 0).
  const auto day_count = day.time_since_epoch().count();
  const auto weekday = static_cast<int>(((day_count % 7) + 7 + 3) % 7);
  return Local{weekday, static_cast<int>(minute)};
}

bool TimeWindow::contains(Zone::Local local) const {
  const auto day_in = [&](int weekday) { return (days >> weekday) & 1; };
  if (start_minute < end_minute) {
    return day_in(local.weekday) && local.minute_of_day >= start_minute && local.minute_of_day < end_minute;
  }
  // Wraps past midnight.
  if (local.minute_of_day >= start_minute) return day_in(local.weekday);
  if (local.minute_of_day < end_minute) return day_in((local.weekday + 6) % 7);
  return false;
}

}  // namespace alter::server::policy
