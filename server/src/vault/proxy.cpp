#include "vault/proxy.hpp"

#include <alter/common/redact.hpp>
#include <alter/common/strings.hpp>

#include <algorithm>
#include <cassert>
#include <thread>
#include <ctime>
#include <iomanip>
#include <set>
#include <sstream>

#include "credentials/static_credential.hpp"
#include "crypto/crypto.hpp"
#include "vault/audit_trail.hpp"

namespace alter::server::vault {
namespace {

using internal::HttpRequest;
using internal::TransportErrorKind;
using internal::TransportResult;

constexpr std::size_t kPreviewBytes = 1024;

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE";
}

// RFC 9110 §10.2.3: delay-seconds or an HTTP-date. std::nullopt when it is neither.
std::optional<std::chrono::seconds> retry_after(const Headers& headers) {
  auto it = headers.find("retry-after");
  if (it == headers.end()) return std::nullopt;
  std::string_view v = it->second;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (!v.empty() && v.size() <= 9 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::chrono::seconds(std::stoll(std::string(v)));
  }
  std::tm tm{};
  std::istringstream in{std::string(v)};
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  const auto left = std::chrono::ceil<std::chrono::seconds>(at - std::chrono::system_clock::now());
  return std::max(left, std::chrono::seconds(0));
}

// Headers as the trail keeps them (the caller's as a list, the provider's as a multimap).
template <class HeaderList>
nlohmann::json headers_json(const HeaderList& headers) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : headers) {
    if (common::is_valid_utf8(v)) out[common::to_lower(k)] = v;
  }
  return out;
}

Error provider_failure(const internal::TransportError& e) {
  switch (e.kind) {
    case TransportErrorKind::kTimeout:
      return make_error(Errc::kGatewayTimeout, "provider_timeout", "the provider did not answer in time");
    case TransportErrorKind::kTooLarge:
      return make_error(Errc::kBadGateway, "provider_response_too_large", "the provider's answer is larger than the proxy passes on");
    case TransportErrorKind::kConnect:
      return make_error(Errc::kBadGateway, "provider_unreachable", "the provider cannot be reached");
    case TransportErrorKind::kProtocol:
    case TransportErrorKind::kOther:
      break;
  }
  return make_error(Errc::kBadGateway, "provider_unreachable", "the exchange with the provider failed");
}

const char* failure_kind(TransportErrorKind k) {
  switch (k) {
    case TransportErrorKind::kConnect: return "connect";
    case TransportErrorKind::kTimeout: return "timeout";
    case TransportErrorKind::kTooLarge: return "too_large";
    case TransportErrorKind::kProtocol: return "protocol";
    case TransportErrorKind::kOther: break;
  }
  return "other";
}

}  // namespace

std::set<std::string> connection_named(const Headers& headers) {
  std::set<std::string> out;
  for (auto [it, end] = headers.equal_range("connection"); it != end; ++it) {
    std::string name;
    for (char c : it->second + ",") {
      if (c == ',') {
        if (!name.empty()) out.insert(common::to_lower(name));
        name.clear();
      } else if (c != ' ' && c != '\t') {
        name.push_back(c);
      }
    }
  }
  return out;
}

bool is_hop_by_hop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" || n == "proxy-authenticate" ||
         n == "proxy-authorization" || n == "te" || n == "trailer" || n == "transfer-encoding" || n == "upgrade";
}

// Per-request tracing ids a front end or a client library sets anew on every send: an approved
// request sent again is the same request whatever they say (they are passed on, not bound).
bool trace_header(std::string_view lower) {
  return lower == "x-request-id" || lower == "x-correlation-id" || lower == "traceparent" || lower == "tracestate" ||
         lower == "x-amzn-trace-id" || lower == "x-b3-traceid" || lower == "x-b3-spanid" || lower == "x-b3-parentspanid" ||
         lower == "x-b3-sampled" || lower == "b3" || lower == "x-cloud-trace-context" || lower == "cf-ray" ||
         lower == "user-agent";
}

std::string proxy_content_digest(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body) {
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    std::string lower = common::to_lower(k);
    if (!trace_header(lower)) sorted.emplace_back(std::move(lower), v);
  }
  std::stable_sort(sorted.begin(), sorted.end());
  // Every part length-prefixed, so that no two requests' parts run together into one text.
  std::string text;
  for (const auto& [k, v] : sorted) {
    text += std::to_string(k.size()) + ":" + k + std::to_string(v.size()) + ":" + v + "\n";
  }
  text += "body:" + std::to_string(body.size()) + ":";
  text.append(body);
  return crypto::sha256_hex(text);
}

nlohmann::json proxy_shown(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body) {
  nlohmann::json shown_headers = nlohmann::json::object();
  for (const auto& [k, v] : headers) {
    const std::string name = common::to_lower(k);
    if (common::is_credential_header(name)) {
      shown_headers[name] = "(redacted)";
    } else {
      shown_headers[name] = common::is_valid_utf8(v) ? std::string(common::utf8_prefix(v, 512)) : std::string("(binary)");
    }
  }
  nlohmann::json out = {{"headers", shown_headers}, {"body_bytes", static_cast<std::int64_t>(body.size())},
                        {"body_sha256", crypto::sha256_hex(body)}};
  if (!body.empty()) {
    out["body_preview"] = body_for_audit(body, kPreviewBytes);
  }
  return out;
}

struct ProxyService::Flight {
  ProxyAsk ask;
  std::function<void(ProxyOutcome)> done;
  TokenGrant grant;
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds timeout{0};
  int attempts = 0;
  int retries_left = 0;
  bool refreshed = false;
  bool blocking = false;  // call_blocking(): every step on the calling thread
  std::optional<TransportResult> before_refresh;  // the 401 a refresh may not get past
};

ProxyService::ProxyService(ProxyOptions options, std::shared_ptr<oauth::Catalog> catalog, TokenBroker& broker,
                           TokenManager& tokens, std::shared_ptr<internal::Transport> transport, audit::AuditLog& audit,
                           Metrics& metrics, Logger& log)
    : options_(options),
      catalog_(std::move(catalog)),
      broker_(broker),
      tokens_(tokens),
      transport_(std::move(transport)),
      audit_(audit),
      metrics_(metrics),
      log_(log) {}

std::shared_ptr<ProxyService::Flight> ProxyService::start(ProxyAsk ask, std::function<void(ProxyOutcome)> done, bool blocking) {
  auto flight = std::make_shared<Flight>();
  flight->started = std::chrono::steady_clock::now();
  flight->blocking = blocking;
  flight->ask = std::move(ask);
  flight->ask.token.proxied = true;
  flight->done = std::move(done);
  flight->timeout = flight->ask.timeout.count() > 0 ? std::min(flight->ask.timeout, options_.max_timeout) : options_.default_timeout;
  auto provider = catalog_->get(flight->ask.token.provider_id);
  // The vault injects the credential: a caller's own would be sent beside it, or instead of it.
  if (provider != nullptr && !provider->token_header.empty()) {
    for (const auto& [k, v] : flight->ask.headers) {
      if (common::iequals(k, provider->token_header)) {
        flight->done(refuse(make_error(Errc::kInvalidArgument, "invalid_request",
                                       "header " + provider->token_header + " is the provider's credential: the vault sets it")));
        return nullptr;
      }
    }
  }
  if (provider != nullptr && provider->credential.is_static()) {
    if (auto clash = credentials::clash(*provider, flight->ask.headers, flight->ask.token.url)) {
      flight->done(refuse(make_error(Errc::kInvalidArgument, "invalid_request", *clash)));
      return nullptr;
    }
  }
  flight->retries_left = provider != nullptr ? provider->proxy.retries : 0;
  return flight;
}

void ProxyService::decided(const std::shared_ptr<Flight>& flight, Decided<TokenGrant> grant) {
  if (!grant) {
    metrics_.inc("alter_proxy_calls_total", "outcome=\"refused\"");
    flight->done(common::unexpected(std::move(grant.error())));
    return;
  }
  flight->grant = std::move(grant.value());
  send(flight);
}

void ProxyService::call(ProxyAsk ask, std::function<void(ProxyOutcome)> done) {
  auto flight = start(std::move(ask), std::move(done), false);
  if (!flight) return;
  if (!broker_.decide_without_blocking(flight->ask.token,
                                       [this, flight](TokenBroker::Decision decision) { decided(flight, decision()); })) {
    // Only a broker without its pool of blocking threads declines (a test's): decide right here.
    decided(flight, broker_.decide(flight->ask.token));
  }
}

ProxyOutcome ProxyService::call_blocking(ProxyAsk ask) {
  std::optional<ProxyOutcome> out;
  auto flight = start(std::move(ask), [&out](ProxyOutcome o) { out = std::move(o); }, true);
  if (flight) decided(flight, broker_.decide(flight->ask.token));
  assert(out.has_value());  // every step ran on this thread
  return std::move(*out);
}

void ProxyService::send(std::shared_ptr<Flight> flight) {
  // The caller's timeout is the whole call's: a retry or a re-send after a refresh gets what is left.
  const auto left = flight->timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - flight->started);
  if (left <= std::chrono::milliseconds(0)) {
    finish(flight, common::unexpected(internal::TransportError{TransportErrorKind::kTimeout, "the call's time ran out"}));
    return;
  }
  ++flight->attempts;
  const TokenGrant& g = flight->grant;
  HttpRequest req;
  req.method = flight->ask.token.method;
  req.url = g.url;
  req.headers.reserve(flight->ask.headers.size() + 1);
  for (const auto& h : flight->ask.headers) req.headers.push_back(h);
  if (g.provider && g.provider->credential.is_static()) {
    // An API key, Basic or an AWS signature, made here: the secret never leaves the vault.
    req.shared_body = flight->ask.body;
    auto fields = credentials::unpack(g.access_token.reveal());
    auto applied = fields ? credentials::apply(*g.provider, *fields, provider_variables(*g.provider, nlohmann::json::object(), g.connection->metadata),
                                               req, std::chrono::system_clock::now())
                          : Result<void>(common::unexpected(fields.error()));
    if (!applied) {
      for (auto& [name, value] : req.headers) common::secure_wipe(value);
      common::secure_wipe(req.url);
      finish(flight, common::unexpected(internal::TransportError{TransportErrorKind::kOther,
                                                                 "the credential could not be applied: " + applied.error().message}));
      return;
    }
  } else if (!g.token_header.empty()) {
    req.headers.emplace_back(g.token_header, std::string(g.access_token.reveal()));
  } else {
    std::string auth = g.token_type;
    auth += ' ';
    auth += g.access_token.reveal();
    req.headers.emplace_back("Authorization", std::move(auth));
    common::secure_wipe(auth);
  }
  req.shared_body = flight->ask.body;
  req.has_body = flight->ask.has_body;
  req.timeout = left;
  req.max_response_bytes = options_.max_response_bytes;
  if (flight->blocking) {
    TransportResult result = transport_->send(req);
    for (auto& [name, value] : req.headers) common::secure_wipe(value);
    common::secure_wipe(req.url);  // a key sent as a query parameter is in it
    on_answer(flight, std::move(result));
    return;
  }
  // The transport wipes its copies of the headers and the URL once the exchange ends.
  transport_->send_async(std::move(req), [this, flight](TransportResult result) { on_answer(flight, std::move(result)); });
}

bool ProxyService::may_force_refresh(const std::string& connection_id) {
  // A provider answering 401 for other reasons than the token must not turn every call into a
  // refresh-token exchange: one forced refresh per connection per window, then the 401 stands.
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(forced_mu_);
  if (forced_at_.size() > 10000) {
    std::erase_if(forced_at_, [&](const auto& kv) { return now - kv.second >= kForcedRefreshWindow; });
  }
  auto [it, fresh] = forced_at_.try_emplace(connection_id, now);
  if (fresh) return true;
  if (now - it->second < kForcedRefreshWindow) return false;
  it->second = now;
  return true;
}

void ProxyService::on_answer(std::shared_ptr<Flight> flight, TransportResult result) {
  // On the HTTP client's thread: only hand over from here.
  if (result && result->status == 401 && !flight->refreshed && flight->grant.connection &&
      !(flight->grant.provider && flight->grant.provider->credential.is_static()) &&
      may_force_refresh(flight->grant.connection->id)) {
    // The provider refused the token (revoked, rotated elsewhere, expired early): refresh once,
    // send once more.
    flight->refreshed = true;
    metrics_.inc("alter_proxy_refresh_retries_total");
    flight->before_refresh = std::move(result);
    refresh_then_send(flight, *flight->grant.connection, true);
    return;
  }
  if (result && (result->status == 429 || result->status == 503) && flight->retries_left > 0 &&
      idempotent(flight->ask.token.method) && flight->grant.provider) {
    const auto wait = retry_after(result->headers);
    const auto elapsed = std::chrono::steady_clock::now() - flight->started;
    if (wait && *wait <= flight->grant.provider->proxy.max_retry_after && elapsed + *wait < flight->timeout) {
      --flight->retries_left;
      metrics_.inc("alter_proxy_retries_total", "status=\"" + std::to_string(result->status) + "\"");
      const auto delay = std::max<std::chrono::milliseconds>(*wait, std::chrono::milliseconds(1));
      if (flight->blocking) {
        std::this_thread::sleep_for(delay);
        send(flight);
      } else {
        transport_->post_after(delay, [this, flight] { send(flight); });
      }
      return;
    }
  }
  finish(flight, std::move(result));
}

void ProxyService::refresh_then_send(std::shared_ptr<Flight> flight, Connection snapshot, bool first) {
  auto then = [this, flight, snapshot, first](const Result<Connection>& refreshed) {
        auto issued = tokens_.token_after_refresh(snapshot, refreshed);
        if (issued && issued->access_token.reveal() != flight->grant.access_token.reveal()) {
          flight->grant.access_token = std::move(issued->access_token);
          flight->grant.connection = std::make_shared<const Connection>(issued->connection);
          send(flight);
          return;
        }
        if (issued && first && issued->connection.version != snapshot.version) {
          // The stored connection had moved on (a newer version read by the refresh) holding the
          // same token: refresh that one.
          refresh_then_send(flight, issued->connection, false);
          return;
        }
        // No new token (the grant is gone, the provider cannot refresh now): the 401 stands.
        finish(flight, std::move(*flight->before_refresh));
  };
  if (flight->blocking) {
    then(tokens_.refresh(snapshot, *flight->grant.provider, true));
  } else {
    tokens_.refresh_async(snapshot, flight->grant.provider, std::move(then), false, true);
  }
}

void ProxyService::finish(std::shared_ptr<Flight> flight, TransportResult result) {
  flight->grant.access_token.wipe();
  const TokenAsk& t = flight->ask.token;
  const TokenGrant& g = flight->grant;
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - flight->started);
  nlohmann::json content = {{"kind", "api_call"},
                            {"decision", "called"},
                            {"via", "proxy"},
                            {"app_id", t.caller.app_id},
                            {"key_id", t.caller.key_id},
                            {"actor", t.actor_record},
                            {"connection_id", g.connection_id},
                            {"provider_id", t.provider_id},
                            {"user", g.connection ? nlohmann::json(g.connection->attributes) : nlohmann::json(t.attributes)},
                            {"method", t.method},
                            {"url", g.url},
                            {"reason", t.reason},
                            {"request_id", g.request_id},
                            {"run_id", t.run_id},
                            {"thread_id", t.thread_id},
                            {"tool_call_id", t.tool_call_id},
                            {"latency_ms", latency.count()},
                            {"request_bytes", static_cast<std::int64_t>(flight->ask.body->size())},
                            {"attempts", flight->attempts}};
  if (flight->refreshed) content["refreshed"] = true;
  std::optional<nlohmann::json> response_headers_json;
  std::optional<nlohmann::json> response_body;
  if (result) {
    content["response_status"] = result->status;
    content["response_bytes"] = static_cast<std::int64_t>(result->body.size());
    response_headers_json = headers_json(result->headers);
    response_body = body_for_audit(result->body);
  } else {
    content["error"] = failure_kind(result.error().kind);
  }
  const AuditCapture capture = g.audit_capture;
  nlohmann::json payload = call_payload(capture, g.provider.get(), headers_json(flight->ask.headers),
                                        response_headers_json.value_or(nlohmann::json::object()),
                                        std::optional<nlohmann::json>(body_for_audit(*flight->ask.body)), response_body);

  // The answer as the caller gets it, made before the row is written (the row takes no body).
  ProxyOutcome outcome = refuse(make_error(Errc::kInternal, "internal", "internal error"));
  const nlohmann::json ids = {{"request_id", g.request_id}};
  if (result) {
    ProxiedAnswer a;
    a.status = result->status;
    const std::set<std::string> connection_listed = connection_named(result->headers);
    for (auto& [k, v] : result->headers) {
      const std::string name = common::to_lower(k);
      if (connection_listed.count(name) > 0) continue;
      // The body is passed on decoded and whole: its length and encoding are the vault's to say.
      if (is_hop_by_hop(name) || name == "set-cookie" || name == "set-cookie2" || name == "content-length" ||
          name == "content-encoding" || name.rfind("x-alter-", 0) == 0) {
        continue;
      }
      a.headers.emplace_back(k, v);
    }
    a.body = std::move(result->body);
    a.request_id = g.request_id;
    a.connection_id = g.connection_id;
    a.attempts = flight->attempts;
    a.refreshed = flight->refreshed;
    outcome = std::move(a);
    metrics_.inc("alter_proxy_calls_total", "outcome=\"answered\"");
  } else {
    outcome = refuse(provider_failure(result.error()), ids, ids);
    metrics_.inc("alter_proxy_calls_total", "outcome=\"" + std::string(failure_kind(result.error().kind)) + "\"");
  }
  metrics_.observe("alter_proxy_call_seconds", "", std::chrono::steady_clock::now() - flight->started);

  std::vector<audit::AuditEvent> rows;
  rows.push_back(audit::AuditEvent{std::move(content), std::move(payload)});
  auto held = std::make_shared<ProxyOutcome>(std::move(outcome));
  auto recorded = [this, flight, held](Result<void> written) {
    if (!written) {
      // The call was made; its row could not be written. The answer says so (and the decision's
      // row, written before the call, names it).
      metrics_.inc("alter_proxy_calls_unrecorded_total");
      if (unrecorded_log_.allow()) {
        log_.error("proxied call made but not recorded: the audit trail cannot be written",
                   {{"request_id", flight->grant.request_id}});
      }
      if (*held) {
        (*held)->recorded = false;
      } else {
        held->error().details["recorded"] = false;
      }
    }
    flight->done(std::move(*held));
  };
  if (flight->blocking) {
    recorded(audit_.record(std::move(rows)));
  } else {
    audit_.record_async(std::move(rows), std::move(recorded));
  }
}

}  // namespace alter::server::vault
