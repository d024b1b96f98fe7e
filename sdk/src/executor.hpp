#pragma once
// A small fixed pool of threads for request_async. Threads start on first use, so programs that
// only call request() pay for none.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace alter::internal {

class Executor {
 public:
  explicit Executor(std::size_t threads) : size_(threads == 0 ? 1 : threads) {}
  ~Executor() { stop(); }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// False once stopped (the task is not run).
  bool post(std::function<void()> task) {
    std::lock_guard lock(mu_);
    if (stopped_) return false;
    tasks_.push_back(std::move(task));
    if (threads_.size() < size_ && tasks_.size() > idle_) threads_.emplace_back([this] { run(); });
    cv_.notify_one();
    return true;
  }

  /// Runs what is queued, then joins the threads.
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
      if (t.joinable()) t.detach();  // stop() called from a pool thread (last owner released there)
    }
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stopped_ || !tasks_.empty(); });
      --idle_;
      if (tasks_.empty()) return;  // stopped and drained
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  const std::size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopped_ = false;
};

}  // namespace alter::internal
