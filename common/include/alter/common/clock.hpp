#pragma once
// An injectable clock, so that expiry, refresh, batching and rate limits are tested without sleeping.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace alter::common {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time, for durations and deadlines.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  /// Wall-clock time, for timestamps and token expiry.
  virtual std::chrono::system_clock::time_point wall() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall() const override { return std::chrono::system_clock::now(); }
  /// A stateless shared instance: no state, so sharing it is not a hidden global.
  static const SystemClock& instance() {
    static const SystemClock clock;
    return clock;
  }
};

/// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  FakeClock()
      : steady_(std::chrono::steady_clock::time_point{} + std::chrono::hours(1)),
        wall_(std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}) {}
  std::chrono::steady_clock::time_point now() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  std::chrono::system_clock::time_point wall() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    steady_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }
  void set_wall(std::chrono::system_clock::time_point t) {
    std::lock_guard lock(mu_);
    wall_ = t;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point steady_;
  std::chrono::system_clock::time_point wall_;
};

}  // namespace alter::common
