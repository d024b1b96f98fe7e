#pragma once
// Rate limits counted in the store, so several vault instances on one database share them.
#include <chrono>

#include "policy/policy.hpp"
#include "store/store.hpp"

namespace alter::server {

class StoreRateLimiter final : public policy::RateLimiter {
 public:
  explicit StoreRateLimiter(Store& store) : store_(store) {}

  bool hit(const std::string& key, std::int64_t limit, std::chrono::seconds window, TimePoint now) override {
    auto count = store_.rate_limit_hit(key, window_start(window, now), window);
    // Fail closed: when the count cannot be recorded, the limit is treated as reached.
    return count && *count <= limit;
  }

  std::optional<std::int64_t> peek(const std::string& key, std::chrono::seconds window, TimePoint now) const override {
    auto count = store_.rate_limit_peek(key, window_start(window, now));
    if (!count) return std::nullopt;
    return *count;
  }

 private:
  // Fixed windows aligned on the epoch, so every instance computes the same window.
  static TimePoint window_start(std::chrono::seconds window, TimePoint now) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto w = std::max<std::int64_t>(window.count(), 1);
    return TimePoint(std::chrono::seconds(secs - secs % w));
  }

  Store& store_;
};

}  // namespace alter::server
