// The in-memory rate limiter: fixed windows aligned on the epoch (a minute window starts at
// :00), sharded to keep contention low, with ended windows pruned as hits arrive.
#include <array>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "policy/policy.hpp"

namespace alter::server::policy {

std::string_view to_string(Effect effect) {
  switch (effect) {
    case Effect::kAllow: return "allow";
    case Effect::kDeny: return "deny";
    case Effect::kRequireApproval: return "require_approval";
  }
  return "deny";
}

namespace {

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(MemoryRateLimiterOptions options)
      : max_keys_per_shard_(std::max<std::size_t>(1, options.max_keys / kShards)) {}

  bool hit(const std::string& key, std::int64_t limit, std::chrono::seconds window, TimePoint now) override {
    if (limit <= 0 || window.count() <= 0) return false;
    const std::int64_t start = window_start(window, now);
    const std::int64_t end = start + window.count();
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mu);
    maybe_prune(shard, now);
    auto it = shard.counters.find(key);
    if (it == shard.counters.end()) {
      if (shard.counters.size() >= max_keys_per_shard_) {
        prune(shard, now);
        if (shard.counters.size() >= max_keys_per_shard_) return false;
      }
      it = shard.counters.emplace(key, Counter{}).first;
    }
    Counter& c = it->second;
    if (c.window_length != window.count() || start > c.window_start) {
      c = Counter{start, end, window.count(), 0};
    }
    // A hit stamped in an earlier window than the current one (requests' clocks race a little)
    // counts against the current window rather than resetting it.
    if (c.count < limit) {
      ++c.count;
      return true;
    }
    // Over the limit: the count stays at the limit (refused hits are not counted twice).
    return false;
  }

  std::optional<std::int64_t> peek(const std::string& key, std::chrono::seconds window, TimePoint now) const override {
    if (window.count() <= 0) return 0;
    const std::int64_t start = window_start(window, now);
    const Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mu);
    const auto it = shard.counters.find(key);
    if (it == shard.counters.end() || it->second.window_start != start || it->second.window_length != window.count()) {
      return 0;
    }
    return it->second.count;
  }

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kPruneEvery = 1024;

  struct Counter {
    std::int64_t window_start = 0;
    std::int64_t window_end = 0;
    std::int64_t window_length = 0;
    std::int64_t count = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Counter> counters;
    std::size_t hits_since_prune = 0;
  };

  static std::int64_t seconds_of(TimePoint now) {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  }
  static std::int64_t window_start(std::chrono::seconds window, TimePoint now) {
    const std::int64_t s = seconds_of(now);
    const std::int64_t w = window.count();
    // Floor division, for instants before the epoch too.
    std::int64_t q = s / w;
    if (s % w != 0 && s < 0) --q;
    return q * w;
  }

  Shard& shard_for(const std::string& key) { return shards_[std::hash<std::string>{}(key) % kShards]; }
  const Shard& shard_for(const std::string& key) const { return shards_[std::hash<std::string>{}(key) % kShards]; }

  static void prune(Shard& shard, TimePoint now) {
    const std::int64_t s = seconds_of(now);
    std::erase_if(shard.counters, [s](const auto& kv) { return kv.second.window_end <= s; });
    shard.hits_since_prune = 0;
  }
  // Amortized: a sweep every kPruneEvery hits, so memory follows the keys live in current windows.
  static void maybe_prune(Shard& shard, TimePoint now) {
    if (++shard.hits_since_prune >= kPruneEvery) prune(shard, now);
  }

  std::size_t max_keys_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace

std::unique_ptr<RateLimiter> make_memory_rate_limiter() { return make_memory_rate_limiter(MemoryRateLimiterOptions{}); }

std::unique_ptr<RateLimiter> make_memory_rate_limiter(MemoryRateLimiterOptions options) {
  return std::make_unique<MemoryRateLimiter>(options);
}

}  // namespace alter::server::policy
