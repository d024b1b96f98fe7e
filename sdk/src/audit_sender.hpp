#pragma once
// Background audit sender, modelled on google-cloud-cpp's Pub/Sub publisher: a bounded queue,
// batches cut by count, bytes or age, retry with backoff, flush, shutdown with a deadline, and
// counters for what was dropped. `enqueue` only takes a mutex briefly: a slow or dead vault never
// slows `Vault::request()` down.
#include <alter/common/clock.hpp>
#include <alter/options.hpp>
#include <alter/vault.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace alter::internal {

enum class SendOutcome { kSent, kRetry, kReject };

/// Sends one batch body (`{"events":[...]}`) with the given timeout.
using BatchSender = std::function<SendOutcome(const std::string& body, std::chrono::milliseconds timeout)>;

class AuditSender {
 public:
  /// With `start_thread` false nothing happens in the background: tests drive the sender with
  /// `run_once()` and an injected clock.
  AuditSender(AuditOptions options, BatchSender sender, const common::Clock& clock, LogHandler logger,
              std::chrono::milliseconds send_timeout, bool start_thread);
  ~AuditSender();
  AuditSender(const AuditSender&) = delete;
  AuditSender& operator=(const AuditSender&) = delete;

  /// Queues one event; drops the oldest (counted) when the queue is full. Never blocks on I/O.
  void enqueue(const nlohmann::json& event);
  /// Sends everything queued, ignoring batch age; waits up to `timeout`. True when emptied.
  bool flush(std::chrono::milliseconds timeout);
  /// Flushes within `deadline`, stops the thread, counts what is left as dropped on close.
  void shutdown(std::chrono::milliseconds deadline);
  AuditStats stats() const;

  /// Does what is due at the clock's current time: sends at most one batch. True if it sent
  /// (successfully or not). Used by the thread, and directly by tests.
  bool run_once();
  /// When the next batch or retry becomes due (nullopt: nothing queued).
  std::optional<std::chrono::steady_clock::time_point> next_due() const;

 private:
  struct Pending {
    std::string json;
    std::chrono::steady_clock::time_point enqueued_at;
  };

  bool due_locked(std::chrono::steady_clock::time_point now) const;
  std::optional<std::chrono::steady_clock::time_point> next_due_locked() const;
  void drop_oldest_locked();
  void loop();
  void log(LogLevel level, const std::string& message) const;

  const AuditOptions options_;
  const BatchSender sender_;
  const common::Clock& clock_;
  const LogHandler logger_;
  const std::chrono::milliseconds send_timeout_;

  mutable std::mutex mu_;
  std::condition_variable wake_;     // the sender thread
  std::condition_variable drained_;  // flush() waiters
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t in_flight_ = 0;  // events being sent right now
  std::optional<std::chrono::steady_clock::time_point> retry_at_;
  std::chrono::milliseconds backoff_{0};
  int flush_requests_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  AuditStats stats_;
  std::thread thread_;
};

}  // namespace alter::internal
