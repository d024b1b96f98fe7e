#include "vault/cache.hpp"

#include <nlohmann/json.hpp>

namespace alter::server::vault {

std::uint64_t VaultCache::keys_generation() const {
  std::shared_lock lock(mu_);
  return keys_gen_;
}

std::uint64_t VaultCache::apps_generation() const {
  std::shared_lock lock(mu_);
  return apps_gen_;
}

std::uint64_t VaultCache::connections_generation() const {
  std::shared_lock lock(mu_);
  return connections_gen_;
}

std::shared_ptr<const ApiKeyRecord> VaultCache::api_key(const std::string& hash) const {
  std::shared_lock lock(mu_);
  auto it = keys_.find(hash);
  return it == keys_.end() || !live(it->second.expires) ? nullptr : it->second.value;
}

void VaultCache::put_api_key(const ApiKeyRecord& record, Generation seen) {
  std::unique_lock lock(mu_);
  if (seen && *seen != keys_gen_) return;  // read before a change: not to be kept
  if (keys_.size() >= options_.max_entries) keys_.clear();
  keys_[record.hash] = {std::make_shared<const ApiKeyRecord>(record), expiry()};
}

std::shared_ptr<const App> VaultCache::app(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = apps_.find(id);
  return it == apps_.end() || !live(it->second.expires) ? nullptr : it->second.value;
}

void VaultCache::put_app(const App& app, Generation seen) {
  std::unique_lock lock(mu_);
  if (seen && *seen != apps_gen_) return;
  if (apps_.size() >= options_.max_entries) apps_.clear();
  apps_[app.id] = {std::make_shared<const App>(app), expiry()};
}

void VaultCache::apps_changed() {
  std::unique_lock lock(mu_);
  ++apps_gen_;
  apps_.clear();
}

std::string VaultCache::lookup_key(const ConnectionFilter& f) {
  std::string key = f.app_id;
  key += '\n';
  key += f.provider_id.value_or("");
  key += '\n';
  key += nlohmann::json(f.attributes).dump();
  key += '\n';
  key += std::to_string(f.limit);
  if (f.status) key += to_string(*f.status);
  return key;
}

std::shared_ptr<const VaultCache::Found> VaultCache::lookup(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = lookups_.find(key);
  if (it == lookups_.end() || !live(it->second.expires)) return nullptr;
  // Rows updated since (a refresh) are swapped in by id.
  bool stale = false;
  for (const auto& c : *it->second.value) {
    auto cur = by_id_.find(c->id);
    if (cur == by_id_.end() || cur->second != c) stale = true;
  }
  if (!stale) return it->second.value;
  auto fresh = std::make_shared<Found>();
  for (const auto& c : *it->second.value) {
    auto cur = by_id_.find(c->id);
    if (cur == by_id_.end()) return nullptr;  // deleted meanwhile
    fresh->push_back(cur->second);
  }
  return fresh;
}

void VaultCache::put_lookup(const std::string& key, const std::vector<Connection>& found, Generation seen) {
  auto list = std::make_shared<Found>();
  std::unique_lock lock(mu_);
  if (seen && *seen != connections_gen_) return;
  if (lookups_.size() >= options_.max_entries || by_id_.size() >= options_.max_entries) {
    lookups_.clear();
    by_id_.clear();
  }
  for (const auto& c : found) {
    auto& slot = by_id_[c.id];
    if (!slot || slot->version <= c.version) slot = std::make_shared<const Connection>(c);
    list->push_back(slot);
  }
  lookups_[key] = {std::move(list), expiry()};
}

void VaultCache::connection_updated(const Connection& connection) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(connection.id);
  if (it != by_id_.end() && it->second->version <= connection.version) {
    it->second = std::make_shared<const Connection>(connection);
  }
}

void VaultCache::connections_changed() {
  std::unique_lock lock(mu_);
  ++connections_gen_;
  lookups_.clear();
  by_id_.clear();
}

void VaultCache::api_keys_changed() {
  std::unique_lock lock(mu_);
  ++keys_gen_;
  keys_.clear();
}

void VaultCache::clear() {
  std::unique_lock lock(mu_);
  ++keys_gen_;
  ++apps_gen_;
  ++connections_gen_;
  keys_.clear();
  apps_.clear();
  lookups_.clear();
  by_id_.clear();
}

}  // namespace alter::server::vault
