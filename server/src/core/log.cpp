#include "core/log.hpp"

#include <chrono>

#include "core/time.hpp"

namespace alter::server {

std::optional<LogLevel> parse_log_level(std::string_view t) {
  if (t == "debug") return LogLevel::kDebug;
  if (t == "info") return LogLevel::kInfo;
  if (t == "warn" || t == "warning") return LogLevel::kWarn;
  if (t == "error") return LogLevel::kError;
  return std::nullopt;
}

void Logger::log(LogLevel level, std::string_view msg, const nlohmann::json& fields) {
  if (level < min_) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  nlohmann::json line = {{"ts", iso8601(std::chrono::system_clock::now())},
                         {"level", kNames[static_cast<int>(level)]},
                         {"msg", msg}};
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(mu_);
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

}  // namespace alter::server
