#include "vault/background.hpp"

#include <set>

#include "vault/authenticator.hpp"

namespace alter::server::vault {

// ---- key rotation ----

KeyRotation::KeyRotation(Store& store, sealed::SealedStore& sealed, AdminService& admin, audit::AuditLog& audit,
                         VaultCache& cache, Logger& log)
    : store_(store), sealed_(sealed), admin_(admin), audit_(audit), cache_(cache), log_(log) {}

KeyRotation::~KeyRotation() { stop(); }

void KeyRotation::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // Only start() and resume_if_needed() (which run before stop) touch thread_ otherwise.
  if (thread_.joinable()) thread_.join();
}

void KeyRotation::launch() {
  if (running_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  thread_ = std::thread([this] { run(); });
}

Result<nlohmann::json> KeyRotation::start(const AdminCaller& by) {
  std::lock_guard lock(mu_);
  auto next = admin_.rotate_key(by);
  if (!next) return common::unexpected(next.error());
  log_.info("key rotated: re-encrypting secrets in the background", {{"active_version", *next}});
  launch();
  return nlohmann::json{{"active_version", *next}, {"rekey_running", true}};
}

void KeyRotation::resume_if_needed() {
  std::lock_guard lock(mu_);
  if (auto pending = store_.connections_needing_rekey(sealed_.active_version(), 1); pending && !pending->empty()) launch();
}

nlohmann::json KeyRotation::status() const {
  nlohmann::json versions = nlohmann::json::array();
  for (auto v : sealed_.versions()) versions.push_back(v);
  const auto active = sealed_.active_version();
  auto conns = store_.connections_needing_rekey(active, 100000);
  auto creds = store_.provider_credentials_needing_rekey(active, 100000);
  return {{"active_version", active},
          {"versions", versions},
          {"rekey_running", running_.load()},
          {"connections_pending", conns ? static_cast<std::int64_t>(conns->size()) : -1},
          {"provider_credentials_pending", creds ? static_cast<std::int64_t>(creds->size()) : -1}};
}

void KeyRotation::run() {
  std::int64_t done = 0;
  while (!stopping_) {
    const auto active = sealed_.active_version();
    auto batch = store_.connections_needing_rekey(active, 100);
    auto creds = store_.provider_credentials_needing_rekey(active, 100);
    if (!batch || !creds) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
      continue;
    }
    if (batch->empty() && creds->empty()) break;
    for (const auto& c : *batch) {
      auto blob = sealed_.reseal_tokens(c);
      if (!blob) {
        log_.error("a connection's tokens do not open during re-encryption", {{"connection_id", c.id}});
        continue;
      }
      Connection next = c;
      next.tokens = std::move(blob.value());
      // Compare-and-set: a refresh that raced us re-sealed with the new key already.
      if (auto saved = store_.update_connection(next, c.version)) {
        cache_.connection_updated(*saved);
        ++done;
      }
    }
    for (const auto& pc : *creds) {
      auto blob = sealed_.reseal_client_secret(pc);
      if (!blob) continue;
      ProviderCredential next = pc;
      next.client_secret = std::move(blob.value());
      if (store_.put_provider_credential(next)) ++done;
    }
  }
  if (!stopping_) {
    // The rotation's end is on record too (the rotation itself was, with the new key).
    (void)audit_.record(audit::AuditEvent{{{"kind", "admin"}, {"decision", "key_rotation_finished"},
                                           {"details", {{"rows", done}, {"active_version", sealed_.active_version()}}}}});
  }
  log_.info("re-encryption finished", {{"rows", done}, {"active_version", sealed_.active_version()}});
  running_ = false;
}

// ---- refresh ahead of expiry ----

Refresher::Refresher(Store& store, std::shared_ptr<oauth::Catalog> catalog, TokenManager& tokens, const common::Clock& clock,
                     std::chrono::milliseconds skew, Logger& log)
    : store_(store), catalog_(std::move(catalog)), tokens_(tokens), clock_(clock), skew_(skew), log_(log) {}

Refresher::~Refresher() { stop(); }

void Refresher::start() { thread_ = std::thread([this] { run(); }); }

void Refresher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Refresher::run() {
  // Refreshes tokens shortly before they expire, so requests rarely wait for a refresh.
  const auto interval = std::max<std::chrono::milliseconds>(skew_ / 2, std::chrono::seconds(5));
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, interval, [&] { return stopping_; });
      if (stopping_) return;
    }
    auto due = store_.connections_expiring_before(clock_.wall() + skew_, 100);
    if (!due) continue;
    for (const auto& c : *due) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      auto provider = catalog_->get(c.provider_id);
      // A connection backing off after failures waits its turn (no refresh storm).
      if (!provider || !tokens_.needs_refresh(c, *provider) || !tokens_.may_refresh_now(c.id)) continue;
      (void)tokens_.refresh(c, *provider, false);
    }
  }
}

// ---- what other instances changed ----

void SharedState::load_custom_providers() {
  auto custom = store_.list_custom_providers();
  if (!custom) return;
  std::set<std::string> present;
  for (const auto& cp : *custom) {
    auto def = oauth::parse_provider_text(cp.definition, cp.id);
    if (!def) {
      log_.warn("a custom provider could not be loaded", {{"provider", cp.id}, {"error", def.error().message}});
      continue;
    }
    if (auto ok = check_provider_endpoints(*def, dev_mode_); !ok) {
      log_.warn("a custom provider was not loaded: its endpoints must be https", {{"provider", cp.id}, {"error", ok.error().message}});
      continue;
    }
    def->custom = true;
    present.insert(def->id);
    catalog_->put(std::move(def.value()));
  }
  for (const auto& d : catalog_->all()) {
    if (d->custom && !present.count(d->id)) catalog_->remove_custom(d->id);
  }
}

bool SharedState::in_sync_without_blocking() const {
  if (!store_.change_version_in_memory()) return false;
  auto v = store_.change_version();
  return v && *v == seen_.load();
}

void SharedState::sync() {
  auto v = store_.change_version();
  if (!v || *v == seen_.load()) return;
  std::lock_guard lock(mu_);
  if (*v == seen_.load()) return;
  engine_.invalidate_all();
  cache_.clear();
  if (auto entries = store_.keyring()) {
    const auto known = sealed_.versions();
    for (const auto& e : *entries) {
      if (std::find(known.begin(), known.end(), e.version) == known.end()) (void)sealed_.install(e);
    }
  }
  load_custom_providers();
  seen_ = *v;
}

}  // namespace alter::server::vault
