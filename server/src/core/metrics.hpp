#pragma once
// Counters and histograms rendered as Prometheus text. Label sets are created on first use;
// updates are lock-free atomics after that.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace alter::server {

class Metrics {
 public:
  Metrics();
  /// Adds `n` to counter `name` with `labels` (already formatted: `route="/x",status="200"`).
  void inc(const std::string& name, const std::string& labels = {}, std::uint64_t n = 1);
  /// Records one observation (seconds) in histogram `name`.
  void observe(const std::string& name, const std::string& labels, std::chrono::nanoseconds value);
  /// Sets a gauge.
  void set(const std::string& name, const std::string& labels, std::int64_t value);
  std::uint64_t counter_value(const std::string& name, const std::string& labels = {}) const;
  /// The exposition text for /metrics.
  std::string render() const;

 private:
  struct Histogram {
    std::vector<std::atomic<std::uint64_t>> buckets;
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
    explicit Histogram(std::size_t n) : buckets(n) {}
  };
  std::atomic<std::uint64_t>& counter_slot(const std::string& key);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<std::atomic<std::uint64_t>>> counters_;  // "name{labels}"
  std::map<std::string, std::unique_ptr<std::atomic<std::int64_t>>> gauges_;
  std::map<std::string, std::unique_ptr<Histogram>> histograms_;
  std::map<std::string, std::string> help_;
  const std::vector<double> bounds_;
};

/// Escapes a label value for the exposition format.
std::string label_value(std::string_view v);

}  // namespace alter::server
