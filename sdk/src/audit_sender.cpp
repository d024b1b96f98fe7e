#include "audit_sender.hpp"

#include <optional>
#include <utility>

namespace alter::internal {

AuditSender::AuditSender(AuditOptions options, BatchSender sender, const common::Clock& clock, LogHandler logger,
                         std::chrono::milliseconds send_timeout, bool start_thread)
    : options_(options),
      sender_(std::move(sender)),
      clock_(clock),
      logger_(std::move(logger)),
      send_timeout_(send_timeout) {
  if (start_thread) thread_ = std::thread([this] { loop(); });
}

AuditSender::~AuditSender() { shutdown(options_.close_timeout); }

void AuditSender::log(LogLevel level, const std::string& message) const {
  if (logger_) logger_(level, message);
}

void AuditSender::enqueue(const nlohmann::json& event) {
  // Bodies may hold any bytes: invalid UTF-8 is replaced rather than thrown on.
  std::string json = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mu_);
  if (stopped_) {
    ++stats_.dropped_on_close;
    return;
  }
  ++stats_.enqueued;
  queued_bytes_ += json.size();
  queue_.push_back(Pending{std::move(json), clock_.now()});
  while (queue_.size() > std::max<std::size_t>(options_.max_queue, 1)) drop_oldest_locked();
  if (due_locked(clock_.now())) wake_.notify_one();
}

void AuditSender::drop_oldest_locked() {
  queued_bytes_ -= queue_.front().json.size();
  queue_.pop_front();
  ++stats_.dropped_queue_full;
}

bool AuditSender::due_locked(std::chrono::steady_clock::time_point now) const {
  if (queue_.empty() || in_flight_ > 0) return false;
  if (retry_at_ && now < *retry_at_) return false;
  if (flush_requests_ > 0 || stopping_) return true;
  if (queue_.size() >= options_.max_batch_events || queued_bytes_ >= options_.max_batch_bytes) return true;
  return now - queue_.front().enqueued_at >= options_.max_batch_delay;
}

std::optional<std::chrono::steady_clock::time_point> AuditSender::next_due_locked() const {
  if (queue_.empty()) return std::nullopt;
  auto at = queue_.front().enqueued_at + options_.max_batch_delay;
  if (flush_requests_ > 0 || stopping_ || queue_.size() >= options_.max_batch_events ||
      queued_bytes_ >= options_.max_batch_bytes) {
    at = clock_.now();
  }
  if (retry_at_ && *retry_at_ > at) at = *retry_at_;
  return at;
}

std::optional<std::chrono::steady_clock::time_point> AuditSender::next_due() const {
  std::lock_guard lock(mu_);
  return next_due_locked();
}

bool AuditSender::run_once() {
  std::deque<Pending> batch;
  std::string body;
  {
    std::lock_guard lock(mu_);
    if (!due_locked(clock_.now())) return false;
    std::size_t bytes = 0;
    while (!queue_.empty() && batch.size() < std::max<std::size_t>(options_.max_batch_events, 1)) {
      const std::size_t next = queue_.front().json.size();
      if (!batch.empty() && bytes + next > options_.max_batch_bytes) break;
      bytes += next;
      queued_bytes_ -= next;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    in_flight_ = batch.size();
    body.reserve(bytes + batch.size() + 16);
  }
  body = "{\"events\":[";
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i > 0) body += ',';
    body += batch[i].json;
  }
  body += "]}";

  const SendOutcome outcome = sender_(body, send_timeout_);

  // Logged once the lock is released: the logger is the application's code, which may call back
  // into this Vault (audit_stats(), flush()) or, from Python, wait for the GIL.
  std::optional<std::pair<LogLevel, std::string>> note;
  std::unique_lock lock(mu_);
  in_flight_ = 0;
  switch (outcome) {
    case SendOutcome::kSent:
      stats_.sent += batch.size();
      retry_at_.reset();
      backoff_ = std::chrono::milliseconds(0);
      break;
    case SendOutcome::kReject:
      stats_.dropped_rejected += batch.size();
      note.emplace(LogLevel::Error, "the vault rejected an audit batch of " + std::to_string(batch.size()) + " event(s)");
      break;
    case SendOutcome::kRetry: {
      if (stopped_) {  // close() ran out of time while this batch was on the wire
        stats_.dropped_on_close += batch.size();
        break;
      }
      ++stats_.retries;
      backoff_ = backoff_.count() == 0 ? options_.initial_backoff
                                       : std::min(backoff_ * 2, options_.max_backoff);
      retry_at_ = clock_.now() + backoff_;
      // Back at the front, in order; if the queue filled up meanwhile the oldest go first.
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
        queued_bytes_ += it->json.size();
        queue_.push_front(std::move(*it));
      }
      while (queue_.size() > std::max<std::size_t>(options_.max_queue, 1)) drop_oldest_locked();
      note.emplace(LogLevel::Warning, "audit batch not delivered; retrying in " + std::to_string(backoff_.count()) + " ms");
      break;
    }
  }
  drained_.notify_all();
  lock.unlock();
  if (note) log(note->first, note->second);
  return true;
}

void AuditSender::loop() {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    if (due_locked(clock_.now())) {
      lock.unlock();
      run_once();
      lock.lock();
      continue;
    }
    if (auto at = next_due_locked()) {
      wake_.wait_until(lock, *at);
    } else {
      wake_.wait(lock);
    }
  }
}

bool AuditSender::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  if (!thread_.joinable()) {
    // Manual mode: send in the caller's thread until empty or a retry is pending.
    ++flush_requests_;
    while (!queue_.empty() && due_locked(clock_.now()) && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      run_once();
      lock.lock();
    }
    --flush_requests_;
    return queue_.empty() && in_flight_ == 0;
  }
  ++flush_requests_;
  wake_.notify_one();
  const bool emptied = drained_.wait_until(lock, deadline, [&] { return queue_.empty() && in_flight_ == 0; });
  --flush_requests_;
  return emptied;
}

void AuditSender::shutdown(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  flush(deadline);
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stopped_ = true;
    dropped = queue_.size();
    stats_.dropped_on_close += dropped;
    queue_.clear();
    queued_bytes_ = 0;
  }
  if (dropped > 0) log(LogLevel::Warning, std::to_string(dropped) + " audit event(s) dropped on close");
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

AuditStats AuditSender::stats() const {
  std::lock_guard lock(mu_);
  AuditStats s = stats_;
  s.queued = queue_.size() + in_flight_;
  return s;
}

}  // namespace alter::internal
