#include "app/vault_app.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>

#include "api/admin_endpoints.hpp"
#include "api/approvals.hpp"
#include "api/connect_endpoints.hpp"
#include "api/policy_endpoints.hpp"
#include "api/sdk_endpoints.hpp"
#include "api/web_endpoints.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "curl_transport.hpp"  // the SDK's libcurl transport (sdk/src)
#include "policy/engine.hpp"
#include "app/store_rate_limiter.hpp"
#include "sandbox/sandbox.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace alter::server {

struct VaultApp::PolicyParts {
  std::unique_ptr<policy::RateLimiter> limiter;
  std::unique_ptr<policy::PolicyEngine> engine;
};

Result<std::unique_ptr<Store>> open_store(const Config& config) {
  const std::string url = config.database_url();
  if (url.rfind("sqlite:", 0) == 0) {
    const std::filesystem::path file = url.substr(7);
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    auto store = open_sqlite_store(file, {.pool_size = std::max<std::size_t>(config.worker_threads / 2, 4)});
    if (!store) return common::unexpected(make_error(Errc::kInternal, "store", "cannot open " + file.string() + ": " + store.error().message));
    if (auto m = (*store)->migrate(); !m) {
      return common::unexpected(make_error(Errc::kInternal, "store", "cannot migrate " + file.string() + ": " + m.error().message));
    }
    return std::move(store.value());
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    auto store = open_postgres_store(url, {.pool_size = std::max<std::size_t>(config.worker_threads / 2, 4)});
    // The URL may hold a password: the error names the database kind only.
    if (!store) return common::unexpected(make_error(Errc::kUnavailable, "store", "cannot open the PostgreSQL database: " + store.error().message));
    if (auto m = (*store)->migrate(); !m) {
      return common::unexpected(make_error(Errc::kUnavailable, "store", "cannot migrate the PostgreSQL database: " + m.error().message));
    }
    return std::move(store.value());
  }
  return common::unexpected(make_error(Errc::kInternal, "store", "this build has no driver for " + url.substr(0, url.find(':'))));
}

Result<InitResult> init_vault(const Config& config, const common::Clock& clock) {
  InitResult out;
  out.data_dir = config.data_dir;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return common::unexpected(make_error(Errc::kInternal, "init", "cannot create " + config.data_dir.string() + ": " + ec.message()));
  ::chmod(config.data_dir.c_str(), 0700);

  auto store = open_store(config);
  if (!store) return common::unexpected(store.error());
  auto ring = (*store)->keyring();
  if (!ring) return common::unexpected(make_error(Errc::kInternal, "init", ring.error().message));
  if (!ring->empty()) {
    return common::unexpected(make_error(Errc::kConflict, "already_initialized",
                                         "the vault in " + config.data_dir.string() + " is already initialized"));
  }
  const char* env_key = std::getenv("ALTER_VAULT_MASTER_KEY");
  std::optional<crypto::MasterKey> master;
  if (env_key != nullptr && *env_key != '\0') {
    auto m = crypto::MasterKey::from_base64(env_key);
    if (!m) return common::unexpected(m.error());
    master.emplace(std::move(m.value()));
  } else {
    out.key_file = config.master_key_path();
    auto m = std::filesystem::exists(out.key_file) ? crypto::MasterKey::load(nullptr, out.key_file)
                                                   : crypto::MasterKey::create_file(out.key_file);
    if (!m) return common::unexpected(m.error());
    master.emplace(std::move(m.value()));
  }
  const TimePoint now = clock.wall();
  if (auto r = (*store)->add_key(crypto::Keyring::make_entry(1, *master, now)); !r) {
    return common::unexpected(make_error(Errc::kInternal, "init", r.error().message));
  }
  App app{"default", "Default app", {}, now};
  if (auto r = (*store)->create_app(app); !r && r.error().code != StoreErrc::kConflict) {
    return common::unexpected(make_error(Errc::kInternal, "init", r.error().message));
  }
  api::NewSecret admin = api::new_admin_token();
  AdminCredential cred{crypto::new_uuid(), "initial", admin.hint, admin.hash, now, std::nullopt};
  if (auto r = (*store)->create_admin_credential(cred); !r) return common::unexpected(make_error(Errc::kInternal, "init", r.error().message));
  out.admin_token = admin.value;
  out.admin_token_file = config.data_dir / "admin.token";
  {
    const int fd = ::open(out.admin_token_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      const std::string line = admin.value + "\n";
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  std::vector<AuditRecord> first{audit::make_record({{"kind", "admin"}, {"decision", "initialized"}, {"app_id", "default"},
                                                     {"actor", {{"type", "admin"}, {"id", cred.id}}}},
                                                    now)};
  (void)(*store)->append_audit(first, audit::chain_hash);
  return out;
}

Result<std::unique_ptr<VaultApp>> VaultApp::open(Config config, Logger& log, const common::Clock& clock) {
  if (auto v = validate(config); !v) return common::unexpected(v.error());
  std::unique_ptr<VaultApp> app(new VaultApp());
  app->config_ = config;
  app->log_ = &log;
  app->clock_ = &clock;
  auto store = open_store(config);
  if (!store) return common::unexpected(store.error());
  app->store_ = std::move(store.value());

  auto master = crypto::MasterKey::load(std::getenv("ALTER_VAULT_MASTER_KEY"), config.master_key_path());
  if (!master) return common::unexpected(master.error());
  app->master_ = std::make_unique<crypto::MasterKey>(std::move(master.value()));
  auto entries = app->store_->keyring();
  if (!entries) return common::unexpected(make_error(Errc::kInternal, "store", entries.error().message));
  if (entries->empty()) {
    return common::unexpected(make_error(Errc::kInternal, "not_initialized", "the vault in " + config.data_dir.string() +
                                                                     " is not initialized: run alter-vault init first"));
  }
  auto ring = crypto::Keyring::open(*entries, *app->master_);
  if (!ring) return common::unexpected(ring.error());
  app->keyring_ = std::move(ring.value());

  auto catalog = config.providers_dir.empty() ? oauth::Catalog::builtin() : oauth::Catalog::from_dir(config.providers_dir);
  if (!catalog) return common::unexpected(catalog.error());
  app->catalog_ = std::move(catalog.value());
  if (auto custom = app->store_->list_custom_providers()) {
    for (const auto& cp : *custom) {
      auto def = oauth::parse_provider_text(cp.definition, cp.id);
      if (!def) {
        log.warn("a custom provider could not be loaded", {{"provider", cp.id}, {"error", def.error().message}});
        continue;
      }
      def->custom = true;
      app->catalog_->put(std::move(def.value()));
    }
  }

  app->metrics_ = std::make_unique<Metrics>();
  app->audit_ = std::make_unique<audit::AuditWriter>(*app->store_, *app->metrics_, config.audit_max_batch);
  auto transport = alter::internal::make_curl_transport({"", "alter-vault/" + std::string(ALTER_VAULT_VERSION), 1024 * 1024, 64});
  app->oauth_ = std::make_unique<oauth::OAuthClient>(transport, clock, std::chrono::seconds(15));
  auto* audit_writer = app->audit_.get();
  auto* clk = &clock;
  app->tokens_ = std::make_unique<oauth::TokenManager>(
      *app->store_, app->keyring_, *app->oauth_, *app->metrics_, log, clock,
      oauth::TokenManagerOptions{config.refresh_skew, 3, std::chrono::milliseconds(200)},
      [audit_writer, clk](nlohmann::json event) { (void)audit_writer->write(audit::make_record(std::move(event), clk->wall())); });

  app->policy_ = std::make_unique<PolicyParts>();
  // Counted in the store: with PostgreSQL, every instance shares the counts.
  app->policy_->limiter = std::make_unique<StoreRateLimiter>(*app->store_);
  Store* st = app->store_.get();
  app->policy_->engine = std::make_unique<policy::PolicyEngine>(
      [st](const std::string& app_id) -> Result<std::optional<PolicyVersion>> {
        auto v = st->get_policy(app_id, 0);
        if (v) return std::optional<PolicyVersion>(std::move(v.value()));
        if (v.error().code == StoreErrc::kNotFound) return std::optional<PolicyVersion>();
        return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the policy cannot be read: " + v.error().message));
      },
      *app->policy_->limiter);

  auto* engine = app->policy_->engine.get();
  auto* raw = app.get();
  app->services_ = std::make_unique<api::Services>(api::Services{
      config, log, *app->metrics_, clock, *app->store_, app->keyring_, *app->master_, *app->audit_, app->catalog_,
      *app->oauth_, *app->tokens_,
      [engine](const policy::PolicyRequest& r) { return engine->decide(r); },
      [engine](const policy::PolicyRequest& r) { return engine->explain(r); },
      [engine, st](const std::string& app_id) {
        engine->invalidate(app_id);
        (void)st->bump_change_version();  // other instances reload at their next request
      },
      [raw]() { return raw->start_rekey(); }, [raw]() { return raw->rekey_status(); }, nullptr, ""});
  app->cache_ = std::make_unique<api::VaultCache>();
  app->services_->cache = app->cache_.get();
  auto* cache = app->cache_.get();
  app->tokens_->set_on_update([cache](const Connection& c) { cache->connection_updated(c); });
  app->approvals_ = std::make_unique<api::ApprovalService>(*app->services_);
  app->services_->approvals = app->approvals_.get();

  api::add_sdk_routes(app->router_, *app->services_);
  api::add_admin_routes(app->router_, *app->services_);
  api::add_policy_routes(app->router_, *app->services_);
  api::add_connect_routes(app->router_, *app->services_);
  api::add_web_routes(app->router_, *app->services_, [raw] { return raw->draining_.load(); });

  if (config.dev_mode) {
    // The sandbox's secrets live in the data dir, so its tokens survive a restart of the dev vault.
    const auto file = config.data_dir / "sandbox.json";
    nlohmann::json secrets;
    if (std::ifstream in(file); in) secrets = nlohmann::json::parse(in, nullptr, false);
    if (!secrets.is_object() || !secrets.contains("client_secret") || !secrets.contains("signing_key")) {
      secrets = {{"client_secret", crypto::random_token(32)}, {"signing_key", crypto::base64_encode(crypto::random_bytes(32))}};
      const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        const std::string text = secrets.dump();
        (void)!::write(fd, text.data(), text.size());
        ::close(fd);
      }
    }
    sandbox::SandboxOptions so;
    so.client_secret = secrets["client_secret"].get<std::string>();
    so.signing_key = crypto::base64_decode(secrets["signing_key"].get<std::string>()).value_or(std::string(32, 'x'));
    so.auto_consent = config.sandbox_auto_consent;
    app->sandbox_ = std::make_unique<sandbox::Sandbox>(so, clock);
    app->sandbox_->add_routes(app->router_);
  }
  return app;
}

Result<void> VaultApp::register_sandbox() {
  // The sandbox's catalog entry points at this vault's own address, known once it listens.
  catalog_->put(sandbox_->provider(services_->public_url));
  const std::string secret = [&] {
    std::ifstream in(config_.data_dir / "sandbox.json");
    auto j = nlohmann::json::parse(in, nullptr, false);
    return j.is_object() ? j.value("client_secret", "") : std::string();
  }();
  ProviderCredential cred;
  cred.app_id = "default";
  cred.provider_id = "sandbox";
  cred.client_id = "sandbox-client";
  cred.client_secret = keyring_->seal(secret, oauth::provider_secret_aad("default", "sandbox"));
  cred.updated_at = clock_->wall();
  if (auto r = store_->put_provider_credential(cred); !r) return common::unexpected(api::store_error(r.error()));
  return {};
}

VaultApp::~VaultApp() {
  stopping_ = true;
  jobs_cv_.notify_all();
  if (rekey_thread_.joinable()) rekey_thread_.join();
  if (refresh_thread_.joinable()) refresh_thread_.join();
  server_.reset();
}

void VaultApp::sync_shared_state() {
  // Another instance changed a policy, the keyring or the custom providers: reload what we cache.
  auto v = store_->change_version();
  if (!v || *v == seen_change_version_.load()) return;
  std::lock_guard lock(sync_mu_);
  if (*v == seen_change_version_.load()) return;
  policy_->engine->invalidate_all();
  cache_->clear();
  if (auto entries = store_->keyring()) {
    const auto known = keyring_->versions();
    for (const auto& e : *entries) {
      if (std::find(known.begin(), known.end(), e.version) == known.end()) (void)keyring_->install(e, *master_);
    }
  }
  if (auto custom = store_->list_custom_providers()) {
    std::set<std::string> present;
    for (const auto& cp : *custom) {
      auto def = oauth::parse_provider_text(cp.definition, cp.id);
      if (!def) continue;
      def->custom = true;
      present.insert(def->id);
      catalog_->put(std::move(def.value()));
    }
    for (const auto& d : catalog_->all()) {
      if (d->custom && !present.count(d->id)) catalog_->remove_custom(d->id);
    }
  }
  seen_change_version_ = *v;
}

namespace {

// Metric labels come from closed sets only: a client cannot grow /metrics by inventing methods,
// paths or statuses.
std::string_view method_label(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

std::string_view status_class(int status) {
  static constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  return status >= 100 && status < 600 ? kClasses[status / 100 - 1] : std::string_view("5xx");
}

}  // namespace

http::Response VaultApp::handle(http::Request& request) {
  std::string route;
  http::Response response;
  const std::string_view method = method_label(request.method);
  if (method == "other") {
    // Methods the vault never serves: refused before routing, under one fixed label.
    route = "unmatched";
    response = http::Response::error(501, "method_not_implemented", "the vault does not implement this HTTP method");
  } else {
    if (request.path.rfind("/healthz", 0) != 0 && request.path.rfind("/metrics", 0) != 0) sync_shared_state();
    response = router_.dispatch(request, &route);
  }
  const auto elapsed = std::chrono::steady_clock::now() - request.received_at;
  metrics_->inc("alter_http_requests_total", "route=\"" + label_value(route) + "\",method=\"" + std::string(method) +
                                                 "\",status=\"" + std::string(status_class(response.status)) + "\"");
  metrics_->observe("alter_http_request_seconds", "route=\"" + label_value(route) + "\"", elapsed);
  const auto ms = std::chrono::duration<double, std::milli>(elapsed).count();
  if (response.status >= 500 && response.status != 501) {
    log_->warn("request failed", {{"method", method}, {"route", route}, {"status", response.status}, {"ms", ms}});
  } else if (log_->enabled(LogLevel::kDebug) || response.status >= 400) {
    log_->log(response.status >= 400 ? LogLevel::kInfo : LogLevel::kDebug, "request",
              {{"method", method}, {"route", route}, {"status", response.status}, {"ms", ms}});
  }
  return response;
}

Result<void> VaultApp::start() {
  // A file that reaches its size limit (RLIMIT_FSIZE, a quota) fails the write with EFBIG: the
  // vault answers 503 and stays up, instead of being killed by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  auto ep = config_.listen_endpoint();
  if (!ep) return common::unexpected(ep.error());
  http::ServerOptions o;
  o.host = ep->first;
  o.port = ep->second;
  o.tls_cert = config_.tls_cert;
  o.tls_key = config_.tls_key;
  o.io_threads = config_.io_threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : config_.io_threads;
  o.worker_threads = config_.worker_threads;
  o.body_limit = config_.body_limit;
  o.read_timeout = config_.read_timeout;
  o.idle_timeout = config_.idle_timeout;
  o.shutdown_timeout = config_.shutdown_timeout;
  o.max_connections = config_.max_connections;
  o.max_connections_per_ip = config_.max_connections_per_ip;
  server_ = std::make_unique<http::HttpServer>(
      o, [this](http::Request& r) { return handle(r); },
      [this](const std::string& what, int status) {
        if (status == 429 || status == 503) {
          // A connection refused at a cap (or accept out of descriptors): counted, logged at most
          // once a second so a flood does not become a flood of log lines.
          metrics_->inc("alter_connections_refused_total", "status=\"" + std::string(status_class(status)) + "\"");
          const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
          auto last = last_refusal_log_.load();
          if (now - last > std::chrono::nanoseconds(std::chrono::seconds(1)).count() &&
              last_refusal_log_.compare_exchange_strong(last, now)) {
            log_->warn("connection refused", {{"reason", what}, {"status", status}});
          }
          return;
        }
        metrics_->inc("alter_http_requests_total", "route=\"malformed\",method=\"other\",status=\"" +
                                                       std::string(status_class(status)) + "\"");
        log_->info("malformed request", {{"error", what}, {"status", status}});
      });
  if (auto r = server_->start(); !r) return r;
  log_->info("connection limits", {{"max_connections", server_->max_connections()},
                                   {"max_connections_per_ip", server_->max_connections_per_ip()}});
  std::string pub = config_.public_url;
  if (pub.empty()) {
    const std::string host = ep->first == "0.0.0.0" || ep->first == "::" ? "127.0.0.1" : ep->first;
    pub = std::string(config_.tls_cert.empty() ? "http" : "https") + "://" +
          (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(server_->port());
  }
  while (!pub.empty() && pub.back() == '/') pub.pop_back();
  services_->public_url = pub;
  if (sandbox_) {
    if (auto r = register_sandbox(); !r) return r;
  }
  refresh_thread_ = std::thread([this] { refresh_loop(); });
  // Finish a re-encryption a previous run left half done.
  if (auto pending = store_->connections_needing_rekey(keyring_->active_version(), 1); pending && !pending->empty()) {
    std::lock_guard lock(jobs_mu_);
    rekey_running_ = true;
    rekey_thread_ = std::thread([this] { rekey_loop(); });
  }
  return {};
}

unsigned short VaultApp::port() const { return server_ ? server_->port() : 0; }

void VaultApp::run() {
  server_->run();
  draining_ = true;
  stopping_ = true;
  jobs_cv_.notify_all();
}

void VaultApp::stop() {
  draining_ = true;
  if (server_) server_->stop();
}

Result<nlohmann::json> VaultApp::start_rekey() {
  std::lock_guard lock(jobs_mu_);
  auto entries = store_->keyring();
  if (!entries) return common::unexpected(api::store_error(entries.error()));
  std::uint32_t next = 1;
  for (const auto& e : *entries) next = std::max(next, e.version + 1);
  auto entry = crypto::Keyring::make_entry(next, *master_, clock_->wall());
  if (auto r = store_->add_key(entry); !r) return common::unexpected(api::store_error(r.error()));
  if (auto r = keyring_->install(entry, *master_); !r) return common::unexpected(r.error());
  (void)store_->bump_change_version();
  log_->info("key rotated: re-encrypting secrets in the background", {{"active_version", next}});
  if (!rekey_running_.exchange(true)) {
    if (rekey_thread_.joinable()) rekey_thread_.join();
    rekey_thread_ = std::thread([this] { rekey_loop(); });
  }
  return nlohmann::json{{"active_version", next}, {"rekey_running", true}};
}

nlohmann::json VaultApp::rekey_status() {
  nlohmann::json versions = nlohmann::json::array();
  for (auto v : keyring_->versions()) versions.push_back(v);
  const auto active = keyring_->active_version();
  auto conns = store_->connections_needing_rekey(active, 100000);
  auto creds = store_->provider_credentials_needing_rekey(active, 100000);
  return {{"active_version", active},
          {"versions", versions},
          {"rekey_running", rekey_running_.load()},
          {"connections_pending", conns ? static_cast<std::int64_t>(conns->size()) : -1},
          {"provider_credentials_pending", creds ? static_cast<std::int64_t>(creds->size()) : -1}};
}

void VaultApp::rekey_loop() {
  std::size_t done = 0;
  for (;;) {
    if (stopping_) break;
    const auto active = keyring_->active_version();
    auto batch = store_->connections_needing_rekey(active, 100);
    auto creds = store_->provider_credentials_needing_rekey(active, 100);
    if (!batch || !creds) {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
      continue;
    }
    if (batch->empty() && creds->empty()) break;
    for (const auto& c : *batch) {
      auto tokens = oauth::open_tokens(*keyring_, c);
      if (!tokens) {
        log_->error("a connection's tokens do not open during re-encryption", {{"connection_id", c.id}});
        continue;
      }
      Connection next = c;
      next.tokens = oauth::seal_tokens(*keyring_, c, tokens->access_token.reveal(), tokens->refresh_token.reveal(),
                                       tokens->id_token.reveal());
      // Compare-and-set: a refresh that raced us re-sealed with the new key already.
      if (auto saved = store_->update_connection(next, c.version)) {
        cache_->connection_updated(*saved);
        ++done;
      }
    }
    for (const auto& pc : *creds) {
      auto secret = keyring_->open(pc.client_secret, oauth::provider_secret_aad(pc.app_id, pc.provider_id));
      if (!secret) continue;
      ProviderCredential next = pc;
      next.client_secret = keyring_->seal(secret->reveal(), oauth::provider_secret_aad(pc.app_id, pc.provider_id));
      if (store_->put_provider_credential(next)) ++done;
    }
  }
  log_->info("re-encryption finished", {{"rows", done}, {"active_version", keyring_->active_version()}});
  rekey_running_ = false;
}

void VaultApp::refresh_loop() {
  // Refreshes tokens shortly before they expire, so requests rarely wait for a refresh.
  const auto interval = std::max<std::chrono::milliseconds>(config_.refresh_skew / 2, std::chrono::seconds(5));
  while (!stopping_) {
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait_for(lock, interval, [&] { return stopping_.load(); });
    }
    if (stopping_) break;
    auto due = store_->connections_expiring_before(clock_->wall() + config_.refresh_skew, 100);
    if (!due) continue;
    for (const auto& c : *due) {
      if (stopping_) break;
      auto provider = catalog_->get(c.provider_id);
      if (!provider || !tokens_->needs_refresh(c, *provider)) continue;
      (void)tokens_->refresh(c, *provider, false);
    }
  }
}

}  // namespace alter::server
