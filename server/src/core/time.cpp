#include "core/time.hpp"

#include <charconv>
#include <ctime>

namespace alter::server {

std::string iso8601(TimePoint t) {
  const auto ms = to_unix_ms(t);
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(frac));
  return buf;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<TimePoint> parse_iso8601(std::string_view s) {
  int Y = 0, M = 0, D = 0, h = 0, m = 0, sec = 0;
  if (!digits(s, 0, 4, Y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' || !digits(s, 8, 2, D)) {
    return std::nullopt;
  }
  if (M < 1 || M > 12 || D < 1 || D > 31) return std::nullopt;
  std::size_t pos = 10;
  std::int64_t offset_minutes = 0;
  int millis = 0;
  if (pos < s.size()) {
    if ((s[pos] != 'T' && s[pos] != ' ') || !digits(s, pos + 1, 2, h) || s.size() < pos + 9 || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, m) || s[pos + 6] != ':' || !digits(s, pos + 7, 2, sec)) {
      return std::nullopt;
    }
    if (h > 23 || m > 59 || sec > 60) return std::nullopt;
    pos += 9;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int scale = 100;
      std::size_t start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        millis += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
    if (pos >= s.size()) return std::nullopt;  // a time needs a zone
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh = 0, om = 0;
      if (!digits(s, pos + 1, 2, oh) || s.size() < pos + 6 || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om)) {
        return std::nullopt;
      }
      offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
      pos += 6;
    } else {
      return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return TimePoint(std::chrono::seconds(t) - std::chrono::minutes(offset_minutes) + std::chrono::milliseconds(millis));
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  std::string_view unit = s.substr(s.size() - 1);
  std::string_view num = s.substr(0, s.size() - 1);
  if (s.size() > 2 && s.substr(s.size() - 2) == "ms") {
    unit = "x";
    num = s.substr(0, s.size() - 2);
  }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || p != num.data() + num.size() || n < 0) return std::nullopt;
  using namespace std::chrono;
  switch (unit[0]) {
    case 'x': return milliseconds(n);
    case 's': return duration_cast<milliseconds>(seconds(n));
    case 'm': return duration_cast<milliseconds>(minutes(n));
    case 'h': return duration_cast<milliseconds>(hours(n));
    case 'd': return duration_cast<milliseconds>(hours(24 * n));
    default: return std::nullopt;
  }
}

}  // namespace alter::server
