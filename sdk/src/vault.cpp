#include <alter/common/redact.hpp>
#include <alter/common/secret.hpp>
#include <alter/common/strings.hpp>
#include <alter/vault.hpp>
#include <alter/version.hpp>

#include <cstdlib>
#include <ctime>

#include "curl_transport.hpp"
#include "url_builder.hpp"
#include "vault_impl.hpp"
#include "vault_protocol.hpp"

namespace alter {
namespace internal {
namespace {

constexpr std::size_t kAuditBodyCap = 10 * 1024;
constexpr const char* kDefaultBaseUrl = "http://127.0.0.1:8787";
// A proxied call waits this much longer than the provider call may take, so that the vault's own
// provider_timeout answer arrives before the SDK gives up on the vault.
constexpr std::chrono::milliseconds kProxyMargin = std::chrono::seconds(5);

bool is_sensitive_header(std::string_view name) { return common::is_credential_header(name); }

bool valid_provider_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

std::string iso8601(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

std::string capped(const std::string& body) {
  return body.size() <= kAuditBodyCap ? body : body.substr(0, kAuditBodyCap);
}

// The caller's headers and body as they go to the provider: extra_headers (less `skip`, the header
// the token travels in), then a Content-Type for a json or raw body unless the caller set one.
void add_payload(HttpRequest& req, const RequestOptions& ro, std::string_view skip) {
  bool has_content_type = false;
  for (const auto& [name, value] : ro.extra_headers) {
    if (!skip.empty() && common::iequals(name, skip)) continue;
    if (common::iequals(name, "content-type")) has_content_type = true;
    req.headers.emplace_back(name, value);
  }
  if (ro.json) {
    req.body = ro.json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.has_body = true;
    if (!has_content_type) req.headers.emplace_back("Content-Type", "application/json");
  } else if (ro.body) {
    req.body = *ro.body;
    req.has_body = true;
    if (!has_content_type) {
      req.headers.emplace_back("Content-Type", ro.content_type.empty() ? "application/octet-stream" : ro.content_type);
    }
  }
}

SdkError provider_api_error(int status, std::string body, const std::string& method_name, const std::string& host,
                            const std::string& request_id, const std::string& url) {
  SdkError e;
  e.kind = ErrorKind::kProviderApi;
  e.status = status;
  e.message = "the provider answered HTTP " + std::to_string(status) + " for " + method_name + " " + host;
  e.response_body = std::move(body);
  e.details = {{"request_id", request_id}, {"url", url}};
  return e;
}

}  // namespace

VaultOptions validated_options(VaultOptions o) {
  if (o.api_key.empty()) {
    const char* env = std::getenv("ALTER_API_KEY");
    if (env == nullptr || *env == '\0') raise(validation_error("api_key is empty and $ALTER_API_KEY is not set"));
    o.api_key = env;
  }
  if (o.api_key.rfind("alter_key_", 0) != 0 || o.api_key.size() <= std::string_view("alter_key_").size()) {
    raise(validation_error("api_key must start with 'alter_key_'"));
  }
  if (!common::is_safe_header_value(o.api_key)) raise(validation_error("api_key holds CR, LF or NUL"));
  if (!o.actor_type.empty() && o.actor_type != "ai_agent" && o.actor_type != "mcp_server") {
    raise(validation_error("actor_type must be 'ai_agent' or 'mcp_server', got '" + o.actor_type + "'"));
  }
  for (const auto* v : {&o.actor_identifier, &o.actor_name, &o.actor_version, &o.framework, &o.client_type}) {
    if (!common::is_safe_header_value(*v)) raise(validation_error("actor fields must not hold CR, LF or NUL"));
  }
  if (o.base_url.empty()) {
    const char* env = std::getenv("ALTER_VAULT_URL");
    o.base_url = (env != nullptr && *env != '\0') ? env : kDefaultBaseUrl;
  }
  auto base = normalize_base_url(o.base_url);
  if (!base) raise(validation_error(base.error()));
  o.base_url = std::move(base.value());
  if (o.timeout.count() <= 0) raise(validation_error("timeout must be positive"));
  return o;
}

// Counts a request in flight, so close() can wait for it; refuses once closed. A request_async is
// counted from the moment it is accepted, not from when an SDK thread takes it up: close() waits for
// the queued ones too rather than failing them as "after close()".
class VaultImpl::InFlight {
 public:
  explicit InFlight(VaultImpl& v) : v_(v) {
    std::lock_guard lock(v_.state_mu_);
    if (v_.closed_) raise(validation_error("the Vault is closed: request() after close()"));
    ++v_.in_flight_;
  }
  ~InFlight() {
    std::lock_guard lock(v_.state_mu_);
    if (--v_.in_flight_ == 0) v_.idle_.notify_all();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  VaultImpl& v_;
};

VaultImpl::VaultImpl(VaultOptions options, VaultDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)), executor_(options_.async_threads) {
  const auto audit_timeout = std::min(options_.timeout, std::max(options_.audit.close_timeout, std::chrono::milliseconds(1000)));
  audit_ = std::make_unique<AuditSender>(
      options_.audit,
      [this](const std::string& body, std::chrono::milliseconds timeout) { return send_audit_batch(body, timeout); },
      *deps_.clock, options_.logger, audit_timeout, deps_.threaded_audit);
}

VaultImpl::~VaultImpl() { close(); }

void VaultImpl::log(LogLevel level, const std::string& message) const {
  if (options_.logger) options_.logger(level, message);
}

SendOutcome VaultImpl::send_audit_batch(const std::string& body, std::chrono::milliseconds timeout) {
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + "/oauth/audit/batch";
  req.headers = vault_headers(options_);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  req.has_body = true;
  req.timeout = timeout;
  auto res = deps_.vault_transport->send(req);
  if (!res) return SendOutcome::kRetry;
  const int status = res->status;
  if (status >= 200 && status < 300) return SendOutcome::kSent;
  // 408/429/5xx are passing; any other 4xx will fail the same way again.
  if (status == 408 || status == 429 || status >= 500) return SendOutcome::kRetry;
  return SendOutcome::kReject;
}

void VaultImpl::await_approval(const SdkError& pending, std::chrono::milliseconds wait, std::chrono::milliseconds timeout,
                               const std::atomic<bool>* cancelled) {
  const auto was_cancelled = [&] { return cancelled != nullptr && cancelled->load(std::memory_order_relaxed); };
  // Wait for a person's decision: poll with backoff until approved, denied, expired or the deadline.
  const std::string& approval_id = pending.approval_id;
  const auto deadline = deps_.clock->now() + wait;
  auto backoff = std::chrono::milliseconds(250);
  for (;;) {
    const auto now = deps_.clock->now();
    if (now >= deadline || approval_id.empty()) raise(pending);
    auto pause = std::min(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    // A request that can be cancelled waits in slices, so that it stops (and frees its thread) within one.
    const auto slice = cancelled != nullptr ? std::chrono::milliseconds(100) : pause;
    for (; pause.count() > 0 && !was_cancelled(); pause -= std::min(pause, slice)) deps_.sleep(std::min(pause, slice));
    if (was_cancelled()) raise(validation_error("the request was cancelled while waiting for an approval"));
    backoff = std::min(backoff * 3 / 2, std::chrono::milliseconds(5000));
    HttpRequest poll;
    poll.method = "GET";
    poll.url = options_.base_url + "/oauth/approvals/" + encode_path_segment(approval_id);
    poll.headers = vault_headers(options_);
    poll.timeout = timeout;
    auto res = deps_.vault_transport->send(poll);
    if (!res) raise(map_transport_error(res.error(), "the vault at " + options_.base_url));
    auto status = parse_approval_status(res->status, res->body);
    if (!status) raise(status.error());
    if (*status == "pending") continue;
    if (*status == "approved") return;
    SdkError e;
    e.kind = ErrorKind::kPolicy;
    e.status = 403;
    e.code = *status == "denied" ? "approval_denied" : (*status == "used" ? "approval_used" : "approval_expired");
    e.message = *status == "denied" ? "the approver denied this request"
                                    : (*status == "used" ? "the approval was already used" : "the approval expired before a decision");
    e.details = {{"approval_id", approval_id}};
    raise(e);
  }
}

std::optional<TokenGrant> VaultImpl::fetch_token(TokenRequest& token_request, const RequestOptions& ro,
                                                 std::chrono::milliseconds timeout, const std::atomic<bool>* cancelled) {
  auto ask = [&]() {
    HttpRequest vreq;
    vreq.method = "POST";
    vreq.url = options_.base_url + "/oauth/token";
    vreq.headers = vault_headers(options_);
    vreq.headers.emplace_back("Content-Type", "application/json");
    vreq.body = token_request_body(token_request);
    vreq.has_body = true;
    vreq.timeout = timeout;
    auto vres = deps_.vault_transport->send(vreq);
    if (!vres) raise(map_transport_error(vres.error(), "the vault at " + options_.base_url));
    return parse_token_response(vres->status, vres->body);
  };
  // The vault hands out no token for this call but makes it itself: for the whole app (remembered,
  // so later calls skip the question) or for the rule that matched (this call only).
  auto use_proxy = [&](const SdkError& e) {
    if (e.code == "token_handout_disabled") {
      token_handout_disabled_.store(true, std::memory_order_relaxed);
      return true;
    }
    // A credential that never leaves the vault (an API key, Basic, an AWS key): every call to
    // this provider goes through the proxy, so later ones skip the question.
    if (e.code == "proxy_required" && e.details.contains("credential")) remember_proxy_only(token_request.provider_id);
    return e.code == "proxy_required";
  };
  auto grant = ask();
  if (!grant && use_proxy(grant.error())) return std::nullopt;
  if (grant || grant.error().kind != ErrorKind::kApprovalRequired || !ro.wait_for_approval) {
    if (!grant) raise(grant.error());
    return std::move(grant.value());
  }
  await_approval(grant.error(), *ro.wait_for_approval, timeout, cancelled);
  token_request.approval_id = grant.error().approval_id;
  auto approved = ask();
  if (!approved && use_proxy(approved.error())) return std::nullopt;
  if (!approved) raise(approved.error());
  return std::move(approved.value());
}

Response VaultImpl::request(const ProviderId& provider, HttpMethod method, std::string_view url,
                            const RequestOptions& ro, bool force_proxy, const std::atomic<bool>* cancelled,
                            bool admitted) {
  std::optional<InFlight> guard;
  if (!admitted) guard.emplace(*this);

  // ---- validate everything before anything is sent ----
  if (!valid_provider_id(provider.str())) {
    raise(validation_error("invalid provider id '" + provider.str() + "': use a catalog id such as 'google'"));
  }
  auto built = build_url(url, ro.path_params, ro.query_params);
  if (!built) raise(validation_error(built.error()));
  for (const auto& [name, value] : ro.extra_headers) {
    if (!common::is_token(name)) raise(validation_error("extra_headers: invalid header name (CR, LF, NUL, ':' or space)"));
    if (!common::is_safe_header_value(value)) {
      raise(validation_error("extra_headers: the value of '" + name + "' holds CR, LF or NUL"));
    }
    if (common::iequals(name, "authorization") || common::iequals(name, "proxy-authorization")) {
      raise(validation_error("extra_headers must not set '" + name + "': the vault's token is injected by the SDK"));
    }
  }
  if (ro.json && ro.body) raise(validation_error("set either json or body, not both"));
  if (!common::is_safe_header_value(ro.content_type)) raise(validation_error("content_type holds CR, LF or NUL"));
  for (const auto& [key, value] : ro.user) {
    if (key.empty()) raise(validation_error("user attributes must have non-empty names"));
  }
  const auto timeout = ro.timeout.value_or(options_.timeout);
  if (timeout.count() <= 0) raise(validation_error("timeout must be positive"));
  const std::string method_name(to_string(method));

  // ---- the vault makes the call: asked for, configured, or known to hand out no token ----
  if (force_proxy || options_.always_proxy || token_handout_disabled_.load(std::memory_order_relaxed) ||
      proxy_only(provider.str())) {
    return proxy_call(provider, method_name, built->url, built->host, ro, timeout, cancelled);
  }

  // ---- 1. the token, from the vault ----
  TokenRequest token_request{provider.str(), ro.user,   ro.reason,    method_name,
                             built->url,     ro.run_id, ro.thread_id, ro.tool_call_id};
  auto grant = fetch_token(token_request, ro, timeout, cancelled);
  if (!grant) return proxy_call(provider, method_name, built->url, built->host, ro, timeout, cancelled);

  // ---- 2. the provider call; its connections never carry the vault key ----
  // The URL called is the one the vault checked (normalized by its guard), not our own spelling.
  const std::string call_url = grant->url.empty() ? built->url : grant->url;
  HttpRequest preq;
  preq.method = method_name;
  preq.url = call_url;
  preq.timeout = timeout;
  add_payload(preq, ro, grant->token_header);
  if (!grant->token_header.empty()) {
    preq.headers.emplace_back(grant->token_header, std::string(grant->access_token.reveal()));
  } else {
    std::string auth = grant->token_type;
    auth += ' ';
    auth += grant->access_token.reveal();
    preq.headers.emplace_back("Authorization", std::move(auth));
    common::secure_wipe(auth);  // a short token may have stayed in the moved-from small buffer
  }
  grant->access_token.wipe();
  const auto started_wall = deps_.clock->wall();
  auto pres = deps_.provider_transport->send(preq);
  // The last header held the token: wipe it now that the call is done.
  common::secure_wipe(preq.headers.back().second);
  preq.headers.pop_back();

  // ---- 3. the audit event, queued for the background sender ----
  nlohmann::json event = {
      {"connection_id", grant->connection_id},
      {"provider_id", provider.str()},
      {"method", method_name},
      {"url", call_url},
      {"timestamp", iso8601(started_wall)},
      {"request_id", grant->request_id},
  };
  // Send what the vault keeps of the call (its app's setting), nothing more.
  const bool send_headers = grant->audit_capture != "none";
  const bool send_bodies = options_.audit.capture_bodies && (grant->audit_capture.empty() || grant->audit_capture == "bodies");
  if (send_headers) {
    nlohmann::json request_headers = nlohmann::json::object();
    for (const auto& [name, value] : preq.headers) {
      if (!is_sensitive_header(name)) request_headers[common::to_lower(name)] = value;
    }
    event["request_headers"] = std::move(request_headers);
  }
  if (preq.has_body) event["request_bytes"] = static_cast<std::int64_t>(preq.body.size());
  if (send_bodies && preq.has_body) event["request_body"] = capped(preq.body);
  if (!ro.reason.empty()) event["reason"] = ro.reason;
  if (!ro.run_id.empty()) event["run_id"] = ro.run_id;
  if (!ro.thread_id.empty()) event["thread_id"] = ro.thread_id;
  if (!ro.tool_call_id.empty()) event["tool_call_id"] = ro.tool_call_id;

  if (!pres) {
    event["response_status"] = 0;
    event["error"] = pres.error().message;
    event["latency_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(deps_.clock->wall() - started_wall).count();
    audit_->enqueue(event);
    raise(map_transport_error(pres.error(), "the provider at " + built->host));
  }
  event["response_status"] = pres->status;
  event["response_bytes"] = static_cast<std::int64_t>(pres->body.size());
  if (send_headers) {
    nlohmann::json response_headers = nlohmann::json::object();
    for (const auto& [name, value] : pres->headers) {
      if (!is_sensitive_header(name)) response_headers.emplace(common::to_lower(name), value);
    }
    event["response_headers"] = std::move(response_headers);
  }
  if (send_bodies) event["response_body"] = capped(pres->body);
  event["latency_ms"] = pres->elapsed.count();
  audit_->enqueue(event);

  if (pres->status >= 400) {
    raise(provider_api_error(pres->status, std::move(pres->body), method_name, built->host, grant->request_id, call_url));
  }
  return Response(pres->status, std::move(pres->headers), std::move(pres->body), call_url, pres->elapsed,
                  grant->request_id, pres->http_version);
}

Response VaultImpl::proxy_call(const ProviderId& provider, const std::string& method_name, const std::string& url,
                               const std::string& host, const RequestOptions& ro, std::chrono::milliseconds timeout,
                               const std::atomic<bool>* cancelled) {
  // ---- what the proxy adds to the checks: these fields travel in headers to the vault ----
  const std::pair<const char*, const std::string*> header_fields[] = {
      {"reason", &ro.reason}, {"run_id", &ro.run_id}, {"thread_id", &ro.thread_id}, {"tool_call_id", &ro.tool_call_id}};
  for (const auto& [label, field] : header_fields) {
    if (has_control_char(*field)) {
      raise(validation_error(std::string(label) + " holds a control character (CR, LF, tab, ...): it cannot travel to the vault"));
    }
  }
  bool caller_user_agent = false;
  for (const auto& [name, value] : ro.extra_headers) {
    if (common::iequals(name, "x-api-key") ||
        (name.size() >= 8 && common::iequals(std::string_view(name).substr(0, 8), "x-alter-"))) {
      raise(validation_error("extra_headers must not set '" + name + "' on a call through the vault's proxy: the vault reads it"));
    }
    if (common::iequals(name, "user-agent")) caller_user_agent = true;
  }

  // ---- <method> /v1/proxy: the call's fields in x-alter-* headers, the caller's headers and body as they are ----
  HttpRequest req;
  req.method = method_name;
  req.url = options_.base_url + "/v1/proxy";
  req.timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(120)) + kProxyMargin;  // the vault's most
  const ProxyCall call{provider.str(), ro.user, url, ro.reason, ro.run_id, ro.thread_id, ro.tool_call_id, timeout};
  req.headers = proxy_headers(options_, call, !caller_user_agent);
  add_payload(req, ro, {});

  const std::string vault_peer = "the vault at " + options_.base_url;
  auto res = deps_.vault_transport->send(req);
  if (!res) raise(map_transport_error(res.error(), vault_peer));
  if (is_proxy_vault_error(*res)) {
    SdkError e = map_proxy_error(res->status, res->body);
    if (e.kind != ErrorKind::kApprovalRequired || !ro.wait_for_approval || has_control_char(e.approval_id)) raise(e);
    await_approval(e, *ro.wait_for_approval, timeout, cancelled);
    // The vault bound the approval to this exact request: send the same method, URL, headers and
    // body bytes again, naming the approval.
    req.headers.emplace_back("x-alter-approval-id", e.approval_id);
    res = deps_.vault_transport->send(req);
    if (!res) raise(map_transport_error(res.error(), vault_peer));
    if (is_proxy_vault_error(*res)) raise(map_proxy_error(res->status, res->body));
  }

  // ---- the provider's answer, as a direct call would have returned it (the vault audited it) ----
  HttpResponse& pres = *res;
  std::string request_id;
  if (const auto it = pres.headers.find("x-alter-request-id"); it != pres.headers.end()) request_id = it->second;
  pres.headers.erase(std::string("x-alter-source"));
  if (pres.body.size() > options_.max_response_bytes) {
    raise(map_transport_error(TransportError{TransportErrorKind::kTooLarge, "response body too large"}, "the provider at " + host));
  }
  if (pres.status >= 400) raise(provider_api_error(pres.status, std::move(pres.body), method_name, host, request_id, url));
  return Response(pres.status, std::move(pres.headers), std::move(pres.body), url, pres.elapsed, std::move(request_id),
                  pres.http_version);
}

std::future<Response> VaultImpl::request_async(std::shared_ptr<VaultImpl> self, ProviderId provider, HttpMethod method,
                                               std::string url, RequestOptions options, bool force_proxy) {
  auto admitted = std::make_shared<InFlight>(*this);  // throws after close()
  auto task = std::make_shared<std::packaged_task<Response()>>(
      [self, admitted, provider = std::move(provider), method, url = std::move(url), options = std::move(options),
       force_proxy]() mutable {
        struct Release {
          std::shared_ptr<InFlight>& in_flight;
          ~Release() { in_flight.reset(); }  // while `self` still holds the Vault
        } release{admitted};
        return self->request(provider, method, url, options, force_proxy, nullptr, /*admitted=*/true);
      });
  auto future = task->get_future();
  if (!executor_.post([task] { (*task)(); })) {
    raise(validation_error("the Vault is closed: request_async() after close()"));
  }
  return future;
}

void VaultImpl::request_with_callback(std::shared_ptr<VaultImpl> self, ProviderId provider, HttpMethod method,
                                      std::string url, RequestOptions options, bool force_proxy,
                                      std::shared_ptr<std::atomic<bool>> cancelled, ResponseCallback done) {
  auto admitted = std::make_shared<InFlight>(*this);  // throws after close()
  auto task = [self, admitted, provider = std::move(provider), method, url = std::move(url),
               options = std::move(options), force_proxy, cancelled = std::move(cancelled), done]() mutable {
    std::optional<Response> response;
    std::exception_ptr error;
    try {
      if (cancelled->load(std::memory_order_relaxed)) raise(validation_error("the request was cancelled before it started"));
      response.emplace(self->request(provider, method, url, options, force_proxy, cancelled.get(), /*admitted=*/true));
    } catch (...) {
      error = std::current_exception();
    }
    // No longer in flight before `done` runs: it may call close(), which waits for what is.
    admitted.reset();
    done(std::move(response), std::move(error));
  };
  // Closed between the check and the post: the caller learns it as from the check.
  if (!executor_.post(std::move(task))) raise(validation_error("the Vault is closed: request_async() after close()"));
}

void VaultImpl::close() noexcept {
  {
    std::unique_lock lock(state_mu_);
    if (closed_) return;
    closed_ = true;
    idle_.wait(lock, [&] { return in_flight_ == 0; });
  }
  executor_.stop();
  audit_->shutdown(options_.audit.close_timeout);
}

bool VaultImpl::closed() const noexcept {
  std::lock_guard lock(state_mu_);
  return closed_;
}

Vault VaultAccess::make(VaultOptions options, VaultDeps deps) {
  return Vault(nullptr, std::make_shared<VaultImpl>(validated_options(std::move(options)), std::move(deps)));
}

}  // namespace internal

// ---- the public facade ----

Vault::Vault(VaultOptions options) {
  options = internal::validated_options(std::move(options));
  const std::string user_agent = std::string("alter-sdk-cpp/") + kSdkVersion;
  internal::VaultDeps deps;
  // The vault's answers are small, except a proxied provider answer: up to max_response_bytes.
  deps.vault_transport = internal::make_curl_transport(
      {options.ca_file, user_agent, std::max<std::size_t>(16 * 1024 * 1024, options.max_response_bytes), 64});
  deps.provider_transport =
      internal::make_curl_transport({options.ca_file, user_agent, options.max_response_bytes, 64});
  impl_ = std::make_shared<internal::VaultImpl>(std::move(options), std::move(deps));
}

Vault::Vault(internal::VaultAccess*, std::shared_ptr<internal::VaultImpl> impl) : impl_(std::move(impl)) {}

Vault::~Vault() {
  if (impl_) impl_->close();
}

Vault::Vault(Vault&&) noexcept = default;

Vault& Vault::operator=(Vault&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Response Vault::request(const ProviderId& provider, HttpMethod method, std::string_view url, RequestOptions options) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  return impl_->request(provider, method, url, options);
}

std::future<Response> Vault::request_async(ProviderId provider, HttpMethod method, std::string url,
                                           RequestOptions options) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  return impl_->request_async(impl_, std::move(provider), method, std::move(url), std::move(options));
}

AsyncRequest Vault::request_async(ProviderId provider, HttpMethod method, std::string url, RequestOptions options,
                                  ResponseCallback done) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  impl_->request_with_callback(impl_, std::move(provider), method, std::move(url), std::move(options), false, cancelled,
                               std::move(done));
  return AsyncRequest(std::move(cancelled));
}

AsyncRequest Vault::proxy_request_async(ProviderId provider, HttpMethod method, std::string url,
                                        RequestOptions options, ResponseCallback done) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  impl_->request_with_callback(impl_, std::move(provider), method, std::move(url), std::move(options), true, cancelled,
                               std::move(done));
  return AsyncRequest(std::move(cancelled));
}

Response Vault::proxy_request(const ProviderId& provider, HttpMethod method, std::string_view url,
                             RequestOptions options) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  return impl_->request(provider, method, url, options, /*force_proxy=*/true);
}

std::future<Response> Vault::proxy_request_async(ProviderId provider, HttpMethod method, std::string url,
                                                 RequestOptions options) {
  if (!impl_) internal::raise(internal::validation_error("the Vault was moved from"));
  return impl_->request_async(impl_, std::move(provider), method, std::move(url), std::move(options),
                              /*force_proxy=*/true);
}

bool Vault::flush(std::chrono::milliseconds timeout) { return impl_ ? impl_->flush(timeout) : true; }

void Vault::close() noexcept {
  if (impl_) impl_->close();
}

bool Vault::closed() const noexcept { return !impl_ || impl_->closed(); }

AuditStats Vault::audit_stats() const { return impl_ ? impl_->audit_stats() : AuditStats{}; }

const std::string& Vault::base_url() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->base_url() : empty;
}

}  // namespace alter
