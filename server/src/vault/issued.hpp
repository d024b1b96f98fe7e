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
  // ~0.7 KiB an entry: the default keeps the last 32,768 decisions (~23 MiB); call events arrive
  // seconds after their decision, and an older one is found in the trail (indexed by request_id).
  explicit IssuedDecisions(std::size_t max_entries = 32768) : max_(max_entries) {}

  void add(Issued issued) {
    std::lock_guard lock(mu_);
    by_connection_[issued.app_id + "\n" + issued.connection_id] = issued.request_id;
    order_.push_back(issued.request_id);
    by_request_[issued.request_id] = std::move(issued);
    while (order_.size() > max_) {
      auto old = by_request_.find(order_.front());
      if (old != by_request_.end()) {
        auto key = old->second.app_id + "\n" + old->second.connection_id;
        if (auto c = by_connection_.find(key); c != by_connection_.end() && c->second == old->first) by_connection_.erase(c);
        by_request_.erase(old);
      }
      order_.pop_front();
    }
  }
  std::optional<Issued> find(const std::string& request_id) const {
    std::lock_guard lock(mu_);
    auto it = by_request_.find(request_id);
    if (it == by_request_.end()) return std::nullopt;
    return it->second;
  }
  /// The latest decision that issued a token for this connection (alter-sdk 0.1 call events name
  /// no request).
  std::optional<Issued> latest(const std::string& app_id, const std::string& connection_id) const {
    std::lock_guard lock(mu_);
    auto it = by_connection_.find(app_id + "\n" + connection_id);
    if (it == by_connection_.end()) return std::nullopt;
    auto r = by_request_.find(it->second);
    if (r == by_request_.end()) return std::nullopt;
    return r->second;
  }

 private:
  const std::size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Issued> by_request_;
  std::unordered_map<std::string, std::string> by_connection_;
  std::deque<std::string> order_;
};

}  // namespace alter::server::vault
