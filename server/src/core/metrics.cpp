#include "core/metrics.hpp"

#include <sstream>

namespace alter::server {

namespace {
std::string key_of(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}
std::string name_of(const std::string& key) { return key.substr(0, key.find('{')); }
std::string labels_of(const std::string& key) {
  auto p = key.find('{');
  return p == std::string::npos ? std::string() : key.substr(p + 1, key.size() - p - 2);
}
}  // namespace

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

Metrics::Metrics() : bounds_{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10} {}

std::atomic<std::uint64_t>& Metrics::counter_slot(const std::string& key) {
  {
    std::shared_lock lock(mu_);
    auto it = counters_.find(key);
    if (it != counters_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = counters_[key];
  if (!slot) slot = std::make_unique<std::atomic<std::uint64_t>>(0);
  return *slot;
}

void Metrics::inc(const std::string& name, const std::string& labels, std::uint64_t n) {
  counter_slot(key_of(name, labels)).fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t Metrics::counter_value(const std::string& name, const std::string& labels) const {
  std::shared_lock lock(mu_);
  auto it = counters_.find(key_of(name, labels));
  return it == counters_.end() ? 0 : it->second->load();
}

void Metrics::set(const std::string& name, const std::string& labels, std::int64_t value) {
  const std::string key = key_of(name, labels);
  {
    std::shared_lock lock(mu_);
    auto it = gauges_.find(key);
    if (it != gauges_.end()) {
      it->second->store(value);
      return;
    }
  }
  std::unique_lock lock(mu_);
  auto& slot = gauges_[key];
  if (!slot) slot = std::make_unique<std::atomic<std::int64_t>>(0);
  slot->store(value);
}

void Metrics::observe(const std::string& name, const std::string& labels, std::chrono::nanoseconds value) {
  const std::string key = key_of(name, labels);
  Histogram* h = nullptr;
  {
    std::shared_lock lock(mu_);
    auto it = histograms_.find(key);
    if (it != histograms_.end()) h = it->second.get();
  }
  if (h == nullptr) {
    std::unique_lock lock(mu_);
    auto& slot = histograms_[key];
    if (!slot) slot = std::make_unique<Histogram>(bounds_.size());
    h = slot.get();
  }
  const double secs = std::chrono::duration<double>(value).count();
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (secs <= bounds_[i]) h->buckets[i].fetch_add(1, std::memory_order_relaxed);
  }
  h->count.fetch_add(1, std::memory_order_relaxed);
  h->sum_ns.fetch_add(static_cast<std::uint64_t>(value.count()), std::memory_order_relaxed);
}

std::string Metrics::render() const {
  std::ostringstream out;
  std::shared_lock lock(mu_);
  std::string last;
  for (const auto& [key, v] : counters_) {
    const std::string name = name_of(key);
    if (name != last) out << "# TYPE " << name << " counter\n";
    last = name;
    out << key << ' ' << v->load() << '\n';
  }
  last.clear();
  for (const auto& [key, v] : gauges_) {
    const std::string name = name_of(key);
    if (name != last) out << "# TYPE " << name << " gauge\n";
    last = name;
    out << key << ' ' << v->load() << '\n';
  }
  last.clear();
  for (const auto& [key, h] : histograms_) {
    const std::string name = name_of(key);
    const std::string labels = labels_of(key);
    const std::string sep = labels.empty() ? "" : ",";
    if (name != last) out << "# TYPE " << name << " histogram\n";
    last = name;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      out << name << "_bucket{" << labels << sep << "le=\"" << bounds_[i] << "\"} " << h->buckets[i].load() << '\n';
    }
    out << name << "_bucket{" << labels << sep << "le=\"+Inf\"} " << h->count.load() << '\n';
    out << name << "_sum" << (labels.empty() ? "" : "{" + labels + "}") << ' ' << static_cast<double>(h->sum_ns.load()) / 1e9
        << '\n';
    out << name << "_count" << (labels.empty() ? "" : "{" + labels + "}") << ' ' << h->count.load() << '\n';
  }
  return out.str();
}

}  // namespace alter::server
