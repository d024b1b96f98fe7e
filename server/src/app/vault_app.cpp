#include "app/vault_app.hpp"

#include <sys/resource.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include "app/store_rate_limiter.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "curl_transport.hpp"  // the SDK's libcurl transport (sdk/src)
#include "policy/engine.hpp"
#include "sandbox/sandbox.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace alter::server {

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
  auto admin = vault::Authenticator::new_admin_credential();
  AdminCredential cred{crypto::new_uuid(), "initial", admin.hint, admin.hash, now, std::nullopt};
  // The keyring, the default app and the first credential, with the trail's first row: together.
  std::vector<AuditRecord> first{audit::make_record({{"kind", "admin"}, {"decision", "initialized"}, {"app_id", "default"},
                                                     {"actor", {{"type", "admin"}, {"id", cred.id}}}},
                                                    now)};
  auto committed = (*store)->commit_with_audit(
      [&]() -> StoreResult<void> {
        if (auto r = (*store)->add_key(crypto::Keyring::make_entry(1, *master, now)); !r) return r;
        if (auto r = (*store)->create_app(App{"default", "Default app", {}, now, AppSettings::for_new_app()}); !r && r.error().code != StoreErrc::kConflict) return r;
        return (*store)->create_admin_credential(cred);
      },
      first, audit::chain_hash, true);
  if (!committed) return common::unexpected(make_error(Errc::kInternal, "init", committed.error().message));
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
  return out;
}

namespace {

// The provider calls in flight at once get the descriptors the incoming connections leave (the
// server raises its soft limit to the hard one, up to 65,536, and takes three quarters by
// default), less a margin for the database and files: past it, calls wait for a connection.
std::size_t outgoing_connection_cap(const Config& config) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  const std::size_t fds = lim.rlim_max == RLIM_INFINITY ? 65536 : std::min<std::size_t>(lim.rlim_max, 65536);
  const std::size_t incoming = config.max_connections != 0 ? config.max_connections : std::max<std::size_t>(fds * 3 / 4, 96) - 64;
  return incoming + 192 < fds ? fds - incoming - 128 : 64;
}

}  // namespace

Result<std::unique_ptr<VaultApp>> VaultApp::open(Config config, Logger& log, const common::Clock& clock) {
  if (auto v = validate(config); !v) return common::unexpected(v.error());
  std::unique_ptr<VaultApp> app(new VaultApp());
  VaultApp& a = *app;
  a.config_ = config;
  a.log_ = &log;
  a.clock_ = &clock;

  // ---- the store, and the sealed store over it ----
  auto store = open_store(config);
  if (!store) return common::unexpected(store.error());
  a.store_ = std::move(store.value());
  auto master = crypto::MasterKey::load(std::getenv("ALTER_VAULT_MASTER_KEY"), config.master_key_path());
  if (!master) return common::unexpected(master.error());
  a.master_ = std::make_unique<crypto::MasterKey>(std::move(master.value()));
  auto entries = a.store_->keyring();
  if (!entries) return common::unexpected(make_error(Errc::kInternal, "store", entries.error().message));
  if (entries->empty()) {
    return common::unexpected(make_error(Errc::kInternal, "not_initialized", "the vault in " + config.data_dir.string() +
                                                                                 " is not initialized: run alter-vault init first"));
  }
  auto ring = crypto::Keyring::open(*entries, *a.master_);
  if (!ring) return common::unexpected(ring.error());
  a.sealed_ = std::make_unique<sealed::SealedStore>(std::move(ring.value()), *a.master_);

  // ---- the engines: catalog and OAuth client, policies, the audit chain ----
  auto catalog = config.providers_dir.empty() ? oauth::Catalog::builtin() : oauth::Catalog::from_dir(config.providers_dir);
  if (!catalog) return common::unexpected(catalog.error());
  a.catalog_ = std::move(catalog.value());
  // Provider endpoints are https outside dev mode: a catalog that says otherwise does not load.
  for (const auto& d : a.catalog_->all()) {
    if (auto ok = vault::check_provider_endpoints(*d, config.dev_mode); !ok) return common::unexpected(ok.error());
  }
  a.metrics_ = std::make_unique<Metrics>();
  a.audit_writer_ = std::make_unique<audit::AuditWriter>(*a.store_, *a.metrics_, config.audit_max_batch, &log);
  a.audit_log_ = std::make_unique<audit::AuditLog>(*a.store_, *a.audit_writer_, clock, *a.metrics_, log);
  a.transport_ = alter::internal::make_curl_transport(
      {"", "alter-vault/" + std::string(ALTER_VAULT_VERSION), 1024 * 1024, 64, outgoing_connection_cap(config)});
  a.oauth_ = std::make_unique<oauth::OAuthClient>(a.transport_, clock, config.token_endpoint_timeout, config.dev_mode);
  // Counted in the store: with PostgreSQL, every instance shares the counts.
  a.limiter_ = std::make_unique<StoreRateLimiter>(*a.store_);
  Store* st = a.store_.get();
  a.engine_ = std::make_unique<policy::PolicyEngine>(
      [st](const std::string& app_id) -> Result<std::optional<PolicyVersion>> {
        auto v = st->get_policy(app_id, 0);
        if (v) return std::optional<PolicyVersion>(std::move(v.value()));
        if (v.error().code == StoreErrc::kNotFound) return std::optional<PolicyVersion>();
        return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the policy cannot be read: " + v.error().message));
      },
      *a.limiter_);

  // ---- the domain ----
  a.cache_ = std::make_unique<vault::VaultCache>(vault::CacheOptions{.ttl = config.cache_ttl});
  a.issued_ = std::make_unique<vault::IssuedDecisions>();
  a.authenticator_ = std::make_unique<vault::Authenticator>(*a.store_, *a.cache_);
  a.tokens_ = std::make_unique<vault::TokenManager>(*a.store_, *a.sealed_, *a.oauth_, *a.audit_log_, *a.metrics_, log, clock,
                                                    vault::TokenManagerOptions{.skew = config.refresh_skew});
  vault::VaultCache* cache = a.cache_.get();
  a.tokens_->set_on_update([cache](const Connection& c) { cache->connection_updated(c); });
  auto public_url = [raw = app.get()] { return raw->public_url_; };
  a.approvals_ = std::make_unique<vault::ApprovalService>(*a.store_, *a.audit_log_, clock, public_url);
  a.broker_ = std::make_unique<vault::TokenBroker>(vault::TokenBroker::Options{config.dev_mode}, a.catalog_, *a.store_, *a.cache_,
                                                   *a.engine_, *a.approvals_, *a.tokens_, *a.audit_log_, *a.issued_, *a.metrics_,
                                                   log, clock);
  a.proxy_ = std::make_unique<vault::ProxyService>(
      vault::ProxyOptions{.default_timeout = config.proxy_timeout, .max_timeout = std::chrono::seconds(120),
                          .max_response_bytes = config.proxy_max_response_bytes},
      a.catalog_, *a.broker_, *a.tokens_, a.transport_, *a.audit_log_, *a.metrics_, log);
  a.connections_ = std::make_unique<vault::ConnectionService>(vault::ConnectionService::Options{.dev_mode = config.dev_mode},
                                                              a.catalog_, *a.store_, *a.sealed_, *a.oauth_, *a.tokens_,
                                                              *a.audit_log_, *a.cache_, log, clock, public_url);
  a.admin_ = std::make_unique<vault::AdminService>(vault::AdminService::Options{config.dev_mode}, a.catalog_, *a.store_,
                                                   *a.sealed_, *a.audit_log_, *a.cache_, clock);
  a.policies_ = std::make_unique<vault::PolicyService>(*a.store_, *a.engine_, *a.audit_log_, clock);
  a.trail_ = std::make_unique<vault::AuditTrail>(a.catalog_, *a.store_, *a.audit_log_, *a.issued_, *a.cache_, clock);
  a.shared_state_ = std::make_unique<vault::SharedState>(*a.store_, *a.sealed_, *a.engine_, *a.cache_, a.catalog_,
                                                         config.dev_mode, log);
  a.shared_state_->load_custom_providers();
  a.rotation_ = std::make_unique<vault::KeyRotation>(*a.store_, *a.sealed_, *a.admin_, *a.audit_log_, *a.cache_, log);
  a.refresher_ = std::make_unique<vault::Refresher>(*a.store_, a.catalog_, *a.tokens_, clock, config.refresh_skew, log);

  a.console_sessions_ = std::make_unique<vault::ConsoleSessions>(*a.authenticator_, clock, config.console_session_ttl);

  // ---- the routes, each declaring who may call it ----
  a.api_ = std::make_unique<api::Api>(api::Api{a.config_, *a.metrics_, log, a.catalog_,
                                               *a.authenticator_, *a.broker_, *a.proxy_, *a.trail_, *a.connections_, *a.approvals_,
                                               *a.admin_, *a.policies_, *a.rotation_, *a.console_sessions_,
                                               [raw = app.get()] { return raw->draining_.load(); }});
  a.router_ = std::make_unique<http::Router>(api::router_hooks(*a.api_));
  api::add_sdk_routes(*a.router_, *a.api_);
  api::add_admin_routes(*a.router_, *a.api_);
  api::add_policy_routes(*a.router_, *a.api_);
  api::add_connect_routes(*a.router_, *a.api_);
  api::add_web_routes(*a.router_, *a.api_);
  api::add_console_routes(*a.router_, *a.api_);

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
    a.sandbox_ = std::make_unique<sandbox::Sandbox>(so, clock);
    a.sandbox_->add_routes(*a.router_);
  }
  // Deny by default: a route that declared no authentication stops the vault here.
  if (auto ok = a.router_->validate(); !ok) return common::unexpected(ok.error());
  return app;
}

Result<void> VaultApp::register_sandbox() {
  // The sandbox's catalog entry points at this vault's own address, known once it listens.
  catalog_->put(sandbox_->provider(public_url_));
  const std::string secret = [&] {
    std::ifstream in(config_.data_dir / "sandbox.json");
    auto j = nlohmann::json::parse(in, nullptr, false);
    return j.is_object() ? j.value("client_secret", "") : std::string();
  }();
  auto current = store_->get_provider_credential("default", "sandbox");
  if (current && current->client_id == "sandbox-client") {
    if (auto open = sealed_->open_client_secret(*current); open && open->reveal() == secret) return {};  // set already
  }
  auto set = admin_->put_credential("default", "sandbox",
                                    vault::CredentialSpec{"sandbox-client", common::SecretString(secret), {}},
                                    vault::AdminCaller{"alter-vault dev"});
  if (!set) return common::unexpected(set.error());
  return {};
}

VaultApp::~VaultApp() {
  if (refresher_) refresher_->stop();
  if (rotation_) rotation_->stop();
  // Provider calls still in flight end now, with an error, while what they report to is alive;
  // the answers they owe are sent before the server goes.
  if (transport_) transport_->close_async();
  server_.reset();
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

void VaultApp::serve(http::Request& request, http::Reply reply) {
  const std::string_view method = method_label(request.method);
  // What another instance changed must be seen before a request is decided: only when that is
  // known from memory can the request be decided here.
  if (method != "other" && shared_state_->in_sync_without_blocking()) {
    // The answer, accounted for where it is made: the first one only, as the Reply sends it; a
    // Reply dropped unanswered is the 500 the server sends for it.
    struct Accounted final : http::Reply::Target {
      VaultApp* app;
      std::string_view method;
      std::chrono::steady_clock::time_point received_at;
      http::Reply inner;
      std::string route = "unmatched";
      std::atomic<bool> sent{false};
      Accounted(VaultApp* a, std::string_view m, std::chrono::steady_clock::time_point t, http::Reply r)
          : app(a), method(m), received_at(t), inner(std::move(r)) {}
      ~Accounted() override {
        if (!sent.load()) app->account(method, route, http::Response::error(500, "internal", "internal error"), received_at);
      }
      void send(http::Response response) override {
        if (sent.exchange(true)) return;
        app->account(method, route, response, received_at);
        inner(std::move(response));
      }
      void send_from(std::function<http::Response()> make) override {
        if (sent.exchange(true)) return;
        inner.from([app = app, method = method, route = route, received_at = received_at, make = std::move(make)] {
          http::Response response = make();
          app->account(method, route, response, received_at);
          return response;
        });
      }
    };
    auto target = std::make_shared<Accounted>(this, method, request.received_at, reply);
    if (router_->dispatch_without_blocking(request, http::Reply(target), &target->route)) return;
    target->sent = true;  // not taken: handle() accounts for it
  }
  server_->post_work([this, &request, reply = std::move(reply)] { reply(handle(request)); });
}

http::Response VaultApp::handle(http::Request& request) {
  std::string route;
  http::Response response;
  const std::string_view method = method_label(request.method);
  if (method == "other") {
    // Methods the vault never serves: refused before routing, under one fixed label.
    route = "unmatched";
    response = http::Response::error(501, "method_not_implemented", "the vault does not implement this HTTP method");
  } else {
    // What another instance changed is seen before the request is decided.
    if (request.path.rfind("/healthz", 0) != 0 && request.path.rfind("/metrics", 0) != 0) shared_state_->sync();
    response = router_->dispatch(request, &route);
  }
  account(method, route, response, request.received_at);
  return response;
}

void VaultApp::account(std::string_view method, const std::string& route, const http::Response& response,
                       std::chrono::steady_clock::time_point received_at) {
  const auto elapsed = std::chrono::steady_clock::now() - received_at;
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
      o, [this](http::Request& r, http::Reply reply) { serve(r, std::move(reply)); },
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
  // Steps that read or write the store run on the server's bounded worker pool; a refresh holds no
  // thread while the provider answers. (The raw pointer stays valid while ~HttpServer joins the pool.)
  http::HttpServer* server = server_.get();
  auto blocking = [server](std::function<void()> task) { server->post_work(std::move(task)); };
  tokens_->set_blocking_executor(blocking);
  broker_->set_blocking_executor(blocking);
  log_->info("connection limits", {{"max_connections", server_->max_connections()},
                                   {"max_connections_per_ip", server_->max_connections_per_ip()}});
  {
    const std::string host = ep->first == "0.0.0.0" || ep->first == "::" ? "127.0.0.1" : ep->first;
    listen_url_ = std::string(config_.tls_cert.empty() ? "http" : "https") + "://" +
                  (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(server_->port());
  }
  std::string pub = config_.public_url.empty() ? listen_url_ : config_.public_url;
  while (!pub.empty() && pub.back() == '/') pub.pop_back();
  public_url_ = pub;
  if (sandbox_) {
    if (auto r = register_sandbox(); !r) return r;
  }
  refresher_->start();
  // Finish a re-encryption a previous run left half done.
  rotation_->resume_if_needed();
  return {};
}

unsigned short VaultApp::port() const { return server_ ? server_->port() : 0; }

void VaultApp::run() {
  server_->run();
  draining_ = true;
  refresher_->stop();
  rotation_->stop();
}

void VaultApp::stop() {
  draining_ = true;
  if (server_) server_->stop();
}

}  // namespace alter::server
