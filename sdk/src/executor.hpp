#pragma once
// A small fixed pool of threads for request_async. Threads start on first use, so programs that
// only call request() pay for none.
//
// A task may hold the last reference to what owns the Executor (a callback that lets go of the
// Vault): the queue lives in a State the threads share, and each task is destroyed with no lock
// held, so the Executor may be destroyed from one of its own threads, inside a task.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
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

  /// False once stopped (the task is not run). Throws (std::system_error) when no thread can be
  /// started and none is running; the task is then not queued.
  bool post(std::function<void()> task) {
    std::lock_guard lock(s_->mu);
    if (s_->stopped) return false;
    s_->tasks.push_back(std::move(task));
    if (threads_.size() < size_ && s_->tasks.size() > s_->idle) {
      try {
        threads_.emplace_back([s = s_] { run(*s); });
      } catch (...) {
        if (threads_.empty()) {
          s_->tasks.pop_back();
          throw;
        }
      }
    }
    s_->cv.notify_one();
    return true;
  }

  /// Runs what is queued, then joins the threads (all but the calling one, when it is one of them).
  void stop() {
    {
      std::lock_guard lock(s_->mu);
      if (s_->stopped) return;
      s_->stopped = true;
    }
    s_->cv.notify_all();
    for (auto& t : threads_) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
      if (t.joinable()) t.detach();  // stop() called from a pool thread (last owner released there)
    }
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;
    std::size_t idle = 0;
    bool stopped = false;
  };

  static void run(State& s) {
    std::unique_lock lock(s.mu);
    for (;;) {
      ++s.idle;
      s.cv.wait(lock, [&] { return s.stopped || !s.tasks.empty(); });
      --s.idle;
      if (s.tasks.empty()) return;  // stopped and drained
      auto task = std::move(s.tasks.front());
      s.tasks.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // what it held goes now, unlocked (it may be the Executor's owner)
      lock.lock();
    }
  }

  const std::size_t size_;
  std::shared_ptr<State> s_ = std::make_shared<State>();
  std::vector<std::thread> threads_;  // changed under s_->mu until stopped
};

}  // namespace alter::internal
