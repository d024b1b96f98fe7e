#pragma once
// JSON-line logs on stderr: one object per line, {"ts", "level", "msg", ...fields}. Fields are
// set by the code that logs, never copied from request headers or bodies, so no secret can
// reach a log line by accident.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string_view>

namespace alter::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

std::optional<LogLevel> parse_log_level(std::string_view text);

class Logger {
 public:
  explicit Logger(LogLevel min_level = LogLevel::kInfo, std::FILE* out = stderr) : min_(min_level), out_(out) {}
  void log(LogLevel level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
  void debug(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { log(LogLevel::kDebug, msg, f); }
  void info(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { log(LogLevel::kInfo, msg, f); }
  void warn(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { log(LogLevel::kWarn, msg, f); }
  void error(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { log(LogLevel::kError, msg, f); }
  bool enabled(LogLevel level) const { return level >= min_; }

 private:
  const LogLevel min_;
  std::FILE* const out_;
  std::mutex mu_;
};

/// At most one line per `every` for a failure that can repeat thousands of times a second (a
/// failing audit trail): allow() is true for the first caller in each window, from any thread.
class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::steady_clock::duration every = std::chrono::seconds(5)) : every_ns_(every.count()) {}
  bool allow(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    const std::int64_t now_ns = std::chrono::nanoseconds(now.time_since_epoch()).count();
    std::int64_t last = last_ns_.load(std::memory_order_relaxed);
    return (last == kNever || now_ns - last > every_ns_) && last_ns_.compare_exchange_strong(last, now_ns, std::memory_order_relaxed);
  }

 private:
  static constexpr std::int64_t kNever = INT64_MIN;
  const std::int64_t every_ns_;
  std::atomic<std::int64_t> last_ns_{kNever};
};

}  // namespace alter::server
