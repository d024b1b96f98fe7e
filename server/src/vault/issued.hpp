#pragma once
// The token decisions that issued a token, recently: a call event must name one of them (its
// request_id), for the same app and connection, or it is refused. Kept in memory (bounded, oldest
// first out); the audit trail answers for older ones.
#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace alter::server::vault {

class IssuedDecisions {
 public:
  struct Issued {
    std::string app_id;
    std::string connection_id;
    std::string provider_id;
    std::string request_id;
    nlohmann::json user = nlohmann::json::object();  // the connection's attributes
  };
  // Bounded twice: by count and by an estimate of the memory the entries hold (their strings and
  // the connection's attributes, which a connect link may make large). A typical entry is ~0.7 KiB;
  // the defaults keep the last 32,768 decisions in at most 32 MiB. Call events arrive seconds after
  // their decision; an older one is found in the trail (indexed by request_id).
  explicit IssuedDecisions(std::size_t max_entries = 32768, std::size_t max_bytes = 32u << 20)
      : max_(max_entries), max_bytes_(max_bytes) {}

  void add(Issued issued) {
    const std::size_t cost = cost_of(issued);
    std::lock_guard lock(mu_);
    if (by_request_.count(issued.request_id)) return;  // request ids are unique; a repeat adds nothing
    by_connection_[issued.app_id + "\n" + issued.connection_id] = issued.request_id;
    order_.push_back(issued.request_id);
    bytes_ += cost;
    auto id = issued.request_id;
    by_request_.emplace(std::move(id), Entry{std::move(issued), cost});
    while (!order_.empty() && (by_request_.size() > max_ || bytes_ > max_bytes_)) {
      auto old = by_request_.find(order_.front());
      if (old != by_request_.end()) {
        auto key = old->second.issued.app_id + "\n" + old->second.issued.connection_id;
        if (auto c = by_connection_.find(key); c != by_connection_.end() && c->second == old->first) by_connection_.erase(c);
        bytes_ -= old->second.cost;
        by_request_.erase(old);
      }
      order_.pop_front();
    }
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return by_request_.size();
  }
  std::size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  std::optional<Issued> find(const std::string& request_id) const {
    std::lock_guard lock(mu_);
    auto it = by_request_.find(request_id);
    if (it == by_request_.end()) return std::nullopt;
    return it->second.issued;
  }
  /// The latest decision that issued a token for this connection (alter-sdk 0.1 call events name
  /// no request).
  std::optional<Issued> latest(const std::string& app_id, const std::string& connection_id) const {
    std::lock_guard lock(mu_);
    auto it = by_connection_.find(app_id + "\n" + connection_id);
    if (it == by_connection_.end()) return std::nullopt;
    auto r = by_request_.find(it->second);
    if (r == by_request_.end()) return std::nullopt;
    return r->second.issued;
  }

 private:
  // What an entry holds, roughly: its strings, the keys of both maps and the order queue, and the
  // attributes (a JSON object costs a few times its text in nodes and allocations).
  static std::size_t cost_of(const Issued& i) {
    return 256 + 3 * i.request_id.size() + 2 * (i.app_id.size() + i.connection_id.size()) + i.provider_id.size() +
           4 * i.user.dump().size();
  }

  const std::size_t max_;
  const std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  mutable std::mutex mu_;
  struct Entry {
    Issued issued;
    std::size_t cost;  // what it counts against max_bytes_
  };
  std::unordered_map<std::string, Entry> by_request_;
  std::unordered_map<std::string, std::string> by_connection_;
  std::deque<std::string> order_;
};

}  // namespace alter::server::vault
