#pragma once
// JSON-line logs on stderr: one object per line, {"ts", "level", "msg", ...fields}. Fields are
// set by the code that logs, never copied from request headers or bodies, so no secret can
// reach a log line by accident.
#include <nlohmann/json.hpp>

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

}  // namespace alter::server
