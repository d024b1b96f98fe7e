#pragma once
// Read-through caches for the token path: API keys by hash, apps by id, and connection lookups by
// (app, provider, requested attributes). Writes made here update or drop entries at once; writes
// made by another instance reach us through the store's change version (VaultApp clears all),
// bumped in the same transaction as the change. As a backstop, every entry also expires after
// `ttl` (default 30 s): even if a change version were missed, a revoked key stops working here
// within that time. A read that started before a change on this instance cannot put what it read
// back after the change: callers take a generation before reading the store and hand it to put_*,
// which drops the entry if an invalidation came in between. A cached connection may hold an older token set than the store after another
// instance refreshed it: refreshes always re-read the row under the connection lock first.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

namespace alter::server::vault {

struct CacheOptions {
  std::size_t max_entries = 100000;
  std::chrono::milliseconds ttl{30000};
  /// Tests advance time without sleeping.
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

class VaultCache {
 public:
  explicit VaultCache(CacheOptions options = {}) : options_(std::move(options)) {}

  /// Taken before reading the store; put_* drop what was read if an invalidation of its kind came
  /// in between (nullopt: put unconditionally).
  using Generation = std::optional<std::uint64_t>;
  std::uint64_t keys_generation() const;
  std::uint64_t apps_generation() const;
  std::uint64_t connections_generation() const;

  std::shared_ptr<const ApiKeyRecord> api_key(const std::string& hash) const;
  void put_api_key(const ApiKeyRecord& record, Generation seen = std::nullopt);

  /// Apps by id (their settings are read on the token path).
  std::shared_ptr<const App> app(const std::string& id) const;
  void put_app(const App& app, Generation seen = std::nullopt);
  void apps_changed();

  using Found = std::vector<std::shared_ptr<const Connection>>;
  /// The connections a lookup found last time (possibly none), or nullptr when not cached.
  std::shared_ptr<const Found> lookup(const std::string& key) const;
  void put_lookup(const std::string& key, const std::vector<Connection>& found, Generation seen = std::nullopt);
  static std::string lookup_key(const ConnectionFilter& filter);

  /// A connection row changed (refresh, re-encryption, status): later lookups see the new row.
  void connection_updated(const Connection& connection);
  /// A connection was created or deleted: lookups may now find more or fewer rows.
  void connections_changed();
  void api_keys_changed();
  void clear();

 private:
  using Time = std::chrono::steady_clock::time_point;
  template <class T>
  struct Entry {
    std::shared_ptr<const T> value;
    Time expires;
  };
  bool live(Time expires) const { return options_.now() < expires; }
  Time expiry() const { return options_.now() + options_.ttl; }

  const CacheOptions options_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry<ApiKeyRecord>> keys_;
  std::unordered_map<std::string, Entry<App>> apps_;
  std::unordered_map<std::string, std::shared_ptr<const Connection>> by_id_;
  std::unordered_map<std::string, Entry<Found>> lookups_;
  std::uint64_t keys_gen_ = 0, apps_gen_ = 0, connections_gen_ = 0;  // bumped by each invalidation
};

}  // namespace alter::server::vault
