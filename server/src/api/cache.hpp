#pragma once
// Read-through caches for the token path: API keys by hash, and connection lookups by
// (app, provider, requested attributes). Writes made here update or drop entries at once; writes
// made by another instance reach us through the store's change version (VaultApp clears all).
// A cached connection may hold an older token set than the store after another instance
// refreshed it: refreshes always re-read the row under the connection lock first, so that is safe.
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

namespace alter::server::api {

class VaultCache {
 public:
  explicit VaultCache(std::size_t max_entries = 100000) : max_entries_(max_entries) {}

  std::shared_ptr<const ApiKeyRecord> api_key(const std::string& hash) const;
  void put_api_key(const ApiKeyRecord& record);

  /// Apps by id (their settings are read on the token path).
  std::shared_ptr<const App> app(const std::string& id) const;
  void put_app(const App& app);
  void apps_changed();

  /// The connections a lookup found last time (possibly none), or nullptr when not cached.
  std::shared_ptr<const std::vector<std::shared_ptr<const Connection>>> lookup(const std::string& key) const;
  void put_lookup(const std::string& key, const std::vector<Connection>& found);
  static std::string lookup_key(const ConnectionFilter& filter);

  /// A connection row changed (refresh, re-encryption, status): later lookups see the new row.
  void connection_updated(const Connection& connection);
  /// A connection was created or deleted: lookups may now find more or fewer rows.
  void connections_changed();
  void api_keys_changed();
  void clear();

 private:
  struct Lookup {
    std::vector<std::string> ids;
  };
  const std::size_t max_entries_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ApiKeyRecord>> keys_;
  std::unordered_map<std::string, std::shared_ptr<const App>> apps_;
  std::unordered_map<std::string, std::shared_ptr<const Connection>> by_id_;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<std::shared_ptr<const Connection>>>> lookups_;
};

}  // namespace alter::server::api
