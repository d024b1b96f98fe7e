#include "api/sdk_endpoints.hpp"

#include <alter/common/redact.hpp>
#include <alter/common/strings.hpp>

#include "api/approvals.hpp"
#include "api/cache.hpp"
#include "api/input.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "vault/url_guard.hpp"

namespace alter::server::api {
namespace {

using http::Request;
using http::Response;

constexpr std::size_t kAuditBodyCap = 10 * 1024;
constexpr std::size_t kMaxBatch = 1000;

// The actor headers, checked once for every SDK call: what is recorded (and shown to an approver)
// is well-formed UTF-8 without control characters, at most 256 bytes each.
Result<policy::Actor> actor_from(const Request& req) {
  for (const char* header : {"x-alter-actor-type", "x-alter-actor-id", "x-alter-actor-name", "x-alter-actor-version",
                             "x-alter-framework", "x-alter-client-type"}) {
    const std::string v = req.header(header);
    if (v.size() > 256) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", std::string(header) + " is longer than 256 bytes"));
    }
    if (!common::is_valid_utf8(v) || std::any_of(v.begin(), v.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", std::string(header) + " must be UTF-8 text without control characters"));
    }
  }
  policy::Actor a;
  a.type = req.header("x-alter-actor-type");
  a.id = req.header("x-alter-actor-id");
  a.name = req.header("x-alter-actor-name");
  if (!a.type.empty() && a.type != "ai_agent" && a.type != "mcp_server") {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", "x-alter-actor-type must be ai_agent or mcp_server"));
  }
  return a;
}

nlohmann::json actor_json(const Request& req) {
  nlohmann::json a = nlohmann::json::object();
  auto put = [&](const char* key, const char* header) {
    std::string v = req.header(header);
    if (v.size() > 256) v.resize(256);
    if (!v.empty()) a[key] = v;
  };
  put("type", "x-alter-actor-type");
  put("id", "x-alter-actor-id");
  put("name", "x-alter-actor-name");
  put("version", "x-alter-actor-version");
  put("framework", "x-alter-framework");
  put("client_type", "x-alter-client-type");
  return a;
}

struct TokenRequestBody {
  std::string provider_id;
  Attributes attributes;
  std::string reason, method, url, run_id, thread_id, tool_call_id;
  std::optional<std::string> approval_id;
};

Result<TokenRequestBody> parse_token_body(const Request& req) {
  auto body = json_object_body(req);
  if (!body) return common::unexpected(body.error());
  TokenRequestBody t;
  const auto& j = *body;
  auto provider = string_field(j, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider) return common::unexpected(provider.error());
  t.provider_id = **provider;
  auto attrs = string_map_field(j, "attributes", true);
  if (!attrs) return common::unexpected(attrs.error());
  if (attrs->empty()) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request",
                                         "field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
  }
  t.attributes = std::move(*attrs);
  struct F {
    const char* name;
    std::string* out;
    std::size_t max;
  };
  for (const F& f : {F{"reason", &t.reason, 2000}, F{"method", &t.method, 16}, F{"url", &t.url, 8192},
                     F{"run_id", &t.run_id, 256}, F{"thread_id", &t.thread_id, 256},
                     F{"tool_call_id", &t.tool_call_id, 256}}) {
    auto v = string_field(j, f.name, {.max_size = f.max});
    if (!v) return common::unexpected(v.error());
    if (*v) *f.out = **v;
  }
  auto approval = string_field(j, "approval_id", {.max_size = 128});
  if (!approval) return common::unexpected(approval.error());
  t.approval_id = *approval;
  if (!t.method.empty()) {
    t.method = common::to_lower(t.method);
    for (char& c : t.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!common::is_token(t.method)) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", "field 'method' is not an HTTP method"));
  }
  return t;
}

}  // namespace

namespace {

Response handle_token(Services& s, const Request& req) {
  const auto started = std::chrono::steady_clock::now();
  auto caller = authenticate_app(s, req);
  if (!caller) return error_response(caller.error());
  auto body = parse_token_body(req);
  if (!body) return error_response(body.error());
  auto actor = actor_from(req);
  if (!actor) return error_response(actor.error());
  auto provider = s.catalog->get(body->provider_id);
  if (!provider || (provider->dev_only && !s.config.dev_mode)) {
    // Echo the id only when it is a well-formed one (helpful for typos, never a pasted secret).
    return error_response(make_error(Errc::kInvalidArgument, "invalid_request",
                                     valid_slug(body->provider_id) ? "unknown provider '" + body->provider_id + "'"
                                                                   : std::string("unknown provider")));
  }

  const std::string request_id = crypto::new_uuid();
  const TimePoint now = s.clock.wall();
  nlohmann::json event = {{"kind", "token"},
                          {"app_id", caller->app_id},
                          {"key_id", caller->key_id},
                          {"actor", actor_json(req)},
                          {"user", body->attributes},  // until a connection is matched
                          {"provider_id", body->provider_id},
                          {"method", body->method},
                          {"url", body->url},
                          {"reason", body->reason},
                          {"run_id", body->run_id},
                          {"thread_id", body->thread_id},
                          {"tool_call_id", body->tool_call_id},
                          {"request_id", request_id},
                          {"source_ip", req.remote_ip}};

  // Every decision is written before the answer; if it cannot be, the answer is 503 (fail closed).
  auto decide = [&](const std::string& decision, Response answer, const nlohmann::json& extra = {}) -> Response {
    event["decision"] = decision;
    if (extra.is_object()) {
      for (auto it = extra.begin(); it != extra.end(); ++it) event[it.key()] = it.value();
    }
    auto written = s.audit.write(audit::make_record(event, now));
    s.metrics.observe("alter_token_decision_seconds", "", std::chrono::steady_clock::now() - started);
    if (!written) {
      s.metrics.inc("alter_token_decisions_total", "decision=\"audit_failed\"");
      s.log.error("token decision not answered: the audit trail cannot be written", {{"request_id", request_id}});
      return error_response(written.error(), {{"request_id", request_id}});
    }
    s.metrics.inc("alter_token_decisions_total", "decision=\"" + decision + "\"");
    return answer;
  };

  ConnectionFilter filter;
  filter.app_id = caller->app_id;
  filter.provider_id = body->provider_id;
  filter.attributes = body->attributes;
  filter.limit = 2;
  std::vector<Connection> found;
  const std::string cache_key = s.cache != nullptr ? VaultCache::lookup_key(filter) : std::string();
  if (auto hit = s.cache != nullptr ? s.cache->lookup(cache_key) : nullptr) {
    for (const auto& c : *hit) found.push_back(*c);
  } else {
    auto rows = s.store.find_connections(filter);
    if (!rows) return error_response(store_error(rows.error()), {{"request_id", request_id}});
    if (s.cache != nullptr) s.cache->put_lookup(cache_key, *rows);
    found = std::move(rows.value());
  }
  if (found.empty()) {
    return decide("not_found", error_response(make_error(Errc::kNotFound, "connection_not_found",
                                                         "no " + body->provider_id + " connection matches these user attributes: the user needs to connect"),
                                              {{"request_id", request_id}}, {{"request_id", request_id}}));
  }
  if (found.size() > 1) {
    return decide("ambiguous", error_response(make_error(Errc::kConflict, "ambiguous_connection",
                                                         "several connections match these user attributes: give more of them"),
                                              {{"request_id", request_id}}, {{"request_id", request_id}}));
  }
  Connection conn = std::move(found.front());
  // The subject of the decision is the connection: policies, rate limits and the audit row see its
  // stored attributes, whatever subset of them the caller sent.
  event["connection_id"] = conn.id;
  if (body->attributes != conn.attributes) event["requested_user"] = body->attributes;
  event["user"] = conn.attributes;

  // The exfiltration guard: this token only for https URLs on this connection's API hosts. The
  // URL checked is the normalized one, which the answer carries and the SDK calls.
  std::map<std::string, std::string> variables = oauth::provider_variables(*provider, nlohmann::json::object(), conn.metadata);
  auto checked = vault::check_api_url(body->url, oauth::connection_api_hosts(*provider, conn, variables), s.config.dev_mode);
  if (!checked) {
    return decide("denied", error_response(checked.error(), {{"request_id", request_id}}, {{"request_id", request_id}}),
                  {{"policy_error", "url_not_allowed"}});
  }
  event["url"] = checked->url;

  policy::PolicyRequest preq;
  preq.app_id = caller->app_id;
  preq.actor = *actor;
  preq.provider_id = body->provider_id;
  preq.user = conn.attributes;
  preq.method = body->method.empty() ? "GET" : body->method;
  preq.url = checked->url;
  preq.host = checked->host;
  preq.path = checked->policy_path;
  preq.reason = body->reason;
  preq.source_ip = req.remote_ip;
  preq.now = now;
  preq.token_expires_at = conn.expires_at;
  auto decision = s.policy(preq);
  if (!decision) {
    return decide("error", error_response(decision.error(), {{"request_id", request_id}}, {{"request_id", request_id}}),
                  {{"details", {{"error", decision.error().code}}}});
  }
  const nlohmann::json policy_fields = {{"rule_id", decision->rule_id}, {"policy_version", decision->policy_version}};

  if (decision->effect == policy::Effect::kDeny) {
    nlohmann::json details = {{"rule_id", decision->rule_id}, {"policy_version", decision->policy_version},
                              {"request_id", request_id}};
    auto answer = error_response(make_error(Errc::kPermissionDenied, decision->policy_error, decision->message), details,
                                 {{"request_id", request_id}});
    nlohmann::json extra = policy_fields;
    extra["policy_error"] = decision->policy_error;
    return decide("denied", std::move(answer), extra);
  }
  std::string approval_used;
  if (decision->effect == policy::Effect::kRequireApproval) {
    if (s.approvals == nullptr) {
      return decide("denied", error_response(make_error(Errc::kPermissionDenied, "approval_unavailable", "approvals are not enabled")),
                    policy_fields);
    }
    auto outcome = s.approvals->resolve(preq, *decision, body->approval_id, request_id);
    if (!outcome) {
      nlohmann::json extra = policy_fields;
      extra["policy_error"] = outcome.error().code;
      return decide("denied", error_response(outcome.error(), {{"rule_id", decision->rule_id}, {"request_id", request_id}},
                                             {{"request_id", request_id}}),
                    extra);
    }
    if (!outcome->granted) {
      nlohmann::json extra = policy_fields;
      extra["details"] = {{"approval_id", outcome->approval_id}};
      return decide("approval_required",
                    error_response(make_error(Errc::kPermissionDenied, "approval_required", "a person must approve this request first"),
                                   {{"rule_id", decision->rule_id}, {"approval_id", outcome->approval_id},
                                    {"approval_url", outcome->approval_url}, {"request_id", request_id}},
                                   {{"approval_id", outcome->approval_id}, {"approval_url", outcome->approval_url},
                                    {"request_id", request_id}}),
                    extra);
    }
    approval_used = outcome->approval_id;
  }

  auto issued = s.tokens.token_for(conn, *provider);
  if (!issued) {
    const Error& e = issued.error();
    if (e.code == "token_expired") {
      return decide("expired", error_response(e, {{"connection_id", conn.id}, {"request_id", request_id}},
                                              {{"connection_id", conn.id}, {"request_id", request_id}}),
                    policy_fields);
    }
    // Anything else (a sealed token set that does not open, the store): recorded, and the log
    // names the connection, never a token.
    s.log.error("token decision failed", {{"connection_id", conn.id}, {"request_id", request_id}, {"error", e.code}});
    nlohmann::json failed = policy_fields;
    failed["details"] = {{"error", e.code}};
    return decide("error", error_response(e, {{"request_id", request_id}}, {{"request_id", request_id}}), failed);
  }
  nlohmann::json extra = policy_fields;
  if (!approval_used.empty()) extra["details"] = {{"approval_id", approval_used}};
  if (issued->refreshed) extra["details"]["refreshed"] = true;

  const Connection& c = issued->connection;
  nlohmann::json answer = {{"token_type", c.token_type}, {"scopes", c.scopes}, {"connection_id", c.id},
                           {"request_id", request_id}, {"url", checked->url}};
  // What the SDK need send of the call for the audit trail (the vault keeps no more anyway).
  if (auto app = find_app(s, caller->app_id)) answer["audit_capture"] = to_string((*app)->settings.capture_for(body->provider_id));
  // Providers that read the bare token from their own header (Shopify) say so here.
  if (!provider->token_header.empty()) answer["token_header"] = provider->token_header;
  if (c.expires_at) {
    answer["expires_at"] = iso8601(*c.expires_at);
    answer["expires_in"] = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::seconds>(*c.expires_at - s.clock.wall()).count());
  } else {
    answer["expires_at"] = nullptr;
    answer["expires_in"] = nullptr;
  }
  Response decided = decide("issued", Response{}, extra);
  if (decided.status != 200) return decided;  // the audit write failed: no token leaves
  answer["access_token"] = std::string(issued->access_token.reveal());
  Response r = Response::json(200, answer);
  common::secure_wipe(answer["access_token"].get_ref<std::string&>());
  return r;
}

// ---- the SDK's call events ----

// Headers that may carry a credential never reach the trail: the common class (any name with
// token, key, auth, secret, cookie, ...) and the provider's own credential header from the catalog.
nlohmann::json sanitized_headers(const nlohmann::json& headers, const oauth::ProviderDef* provider) {
  nlohmann::json out = nlohmann::json::object();
  if (!headers.is_object()) return out;
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    const std::string name = common::to_lower(it.key());
    if (common::is_credential_header(name)) continue;
    if (provider != nullptr && !provider->token_header.empty() && common::iequals(name, provider->token_header)) continue;
    if (it->is_string()) {
      std::string v = it->get<std::string>();
      if (v.size() > 2048) v.resize(2048);
      out[name] = v;
    }
  }
  return out;
}

std::string capped_body(const nlohmann::json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : (v.is_null() ? std::string() : v.dump());
  if (s.size() > kAuditBodyCap) s.resize(kAuditBodyCap);
  return s;
}

Result<AuditRecord> api_call_record(Services& s, const AppCaller& caller, const Request& req, const nlohmann::json& e,
                                    std::size_t index) {
  const std::string where = "events[" + std::to_string(index) + "]";
  if (!e.is_object()) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", where + " must be an object"));
  nlohmann::json content = {{"kind", "api_call"}, {"app_id", caller.app_id}, {"key_id", caller.key_id}, {"actor", actor_json(req)}};
  for (const char* key : {"connection_id", "provider_id", "method", "url", "reason", "request_id", "run_id",
                          "thread_id", "tool_call_id", "timestamp", "error"}) {
    auto v = string_field(e, key, {.max_size = key == std::string("url") ? 8192u : 2048u, .single_line = false});
    if (!v) {
      Error err = v.error();
      err.message = where + ": " + err.message;
      return common::unexpected(err);
    }
    if (*v) content[key] = **v;
  }
  for (const char* key : {"response_status", "latency_ms", "request_bytes", "response_bytes"}) {
    if (e.contains(key) && !e[key].is_null()) {
      if (!e[key].is_number_integer()) {
        return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", where + ": field '" + key + "' must be an integer"));
      }
      content[key] = e[key];
    }
  }
  for (const char* key : {"request_headers", "response_headers"}) {
    if (e.contains(key) && !e[key].is_null() && !e[key].is_object()) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", where + ": field '" + key + "' must be an object"));
    }
  }
  const std::string provider_id = content.value("provider_id", "");
  const auto provider = provider_id.empty() ? nullptr : s.catalog->get(provider_id);
  // What the app keeps of a call (docs/security.md): headers and bodies only as its settings say,
  // as a payload beside the hashed row (purgeable), never inside it.
  auto app = find_app(s, caller.app_id);
  if (!app) return common::unexpected(app.error());
  const AuditCapture capture = (*app)->settings.capture_for(provider_id);
  nlohmann::json payload = nlohmann::json::object();
  if (capture != AuditCapture::kNone) {
    payload["request_headers"] = sanitized_headers(e.value("request_headers", nlohmann::json::object()), provider.get());
    payload["response_headers"] = sanitized_headers(e.value("response_headers", nlohmann::json::object()), provider.get());
  }
  if (capture == AuditCapture::kBodies) {
    if (e.contains("request_body")) payload["request_body"] = capped_body(e["request_body"]);
    if (e.contains("response_body")) payload["response_body"] = capped_body(e["response_body"]);
  }
  // The decision this call used must be one of this app's.
  if (content.contains("request_id")) {
    AuditFilter f;
    f.app_id = caller.app_id;
    f.request_id = content["request_id"].get<std::string>();
    f.kind = "token";
    f.limit = 1;
    auto rows = s.store.query_audit(f);
    if (!rows) return common::unexpected(store_error(rows.error()));
    if (rows->empty()) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", where + ": request_id names no token decision of this app"));
    }
    // The call was made for the decision's user: record it, so queries by user find calls too.
    auto decision = nlohmann::json::parse(rows->front().content, nullptr, false);
    if (decision.is_object() && decision.contains("user")) content["user"] = decision["user"];
  }
  content["decision"] = "called";
  return audit::make_record(std::move(content), s.clock.wall(), payload);
}

Response handle_audit_events(Services& s, const Request& req, bool batch) {
  auto caller = authenticate_app(s, req);
  if (!caller) return error_response(caller.error());
  if (auto actor = actor_from(req); !actor) return error_response(actor.error());
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  std::vector<nlohmann::json> events;
  if (batch) {
    auto it = body->find("events");
    if (it == body->end() || !it->is_array()) {
      return error_response(make_error(Errc::kInvalidArgument, "invalid_request", "field 'events' must be an array"));
    }
    if (it->size() > kMaxBatch) {
      return error_response(make_error(Errc::kInvalidArgument, "invalid_request", "at most " + std::to_string(kMaxBatch) + " events per batch"));
    }
    for (auto& e : *it) events.push_back(std::move(e));
  } else {
    events.push_back(std::move(*body));
  }
  std::vector<AuditRecord> rows;
  rows.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto r = api_call_record(s, *caller, req, events[i], i);
    if (!r) return error_response(r.error());  // nothing written
    rows.push_back(std::move(r.value()));
  }
  const auto n = rows.size();
  auto written = s.audit.write_many(std::move(rows));
  if (!written) return error_response(written.error());
  return Response::json(202, {{"accepted", n}});
}

Response handle_provider_ids(Services& s, const Request& req) {
  auto caller = authenticate_app(s, req);
  if (!caller) return error_response(caller.error());
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& p : s.catalog->all()) {
    if (!p->dev_only || s.config.dev_mode) ids.push_back(p->id);
  }
  return Response::json(200, {{"provider_ids", ids}});
}

Response handle_approval_status(Services& s, const Request& req, const std::string& id) {
  auto caller = authenticate_app(s, req);
  if (!caller) return error_response(caller.error());
  auto a = s.store.get_approval(id);
  if (!a || a->app_id != caller->app_id) return error_response(make_error(Errc::kNotFound, "not_found", "no such approval"));
  Approval v = *a;
  if (v.status == ApprovalStatus::kPending && v.expires_at <= s.clock.wall()) v.status = ApprovalStatus::kExpired;
  return Response::json(200, {{"id", v.id}, {"status", to_string(v.status)}, {"expires_at", iso8601(v.expires_at)}});
}

}  // namespace

void add_sdk_routes(http::Router& router, Services& s) {
  router.add("POST", "/oauth/token", [&s](const Request& r, const http::PathParams&) { return handle_token(s, r); });
  router.add("POST", "/oauth/audit/api-call",
             [&s](const Request& r, const http::PathParams&) { return handle_audit_events(s, r, false); });
  router.add("POST", "/oauth/audit/batch",
             [&s](const Request& r, const http::PathParams&) { return handle_audit_events(s, r, true); });
  router.add("GET", "/oauth/providers/ids", [&s](const Request& r, const http::PathParams&) { return handle_provider_ids(s, r); });
  router.add("GET", "/oauth/approvals/{id}",
             [&s](const Request& r, const http::PathParams& p) { return handle_approval_status(s, r, p.at("id")); });
}

}  // namespace alter::server::api
