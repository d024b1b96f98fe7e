// The SDK's endpoints: POST /oauth/token, the call events, the provider ids, approval status and
// connect links for an app's backend. Each parses, calls one service, renders.
#include <alter/common/secret.hpp>
#include <alter/common/strings.hpp>

#include <future>
#include <set>

#include "api/api.hpp"
#include "api/errors.hpp"
#include "api/input.hpp"
#include "api/views.hpp"
#include "core/time.hpp"

namespace alter::server::api {
namespace {

using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

constexpr std::size_t kMaxBatch = 1000;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

// The actor headers, checked once for every SDK call: what is recorded (and shown to an approver)
// is well-formed UTF-8 without control characters, at most 256 bytes each.
struct ActorHeaders {
  policy::Actor actor;
  nlohmann::json record = nlohmann::json::object();
};

Result<ActorHeaders> actor_from(const Request& req) {
  ActorHeaders out;
  for (const auto& [key, header] : {std::pair{"type", "x-alter-actor-type"}, std::pair{"id", "x-alter-actor-id"},
                                    std::pair{"name", "x-alter-actor-name"}, std::pair{"version", "x-alter-actor-version"},
                                    std::pair{"framework", "x-alter-framework"}, std::pair{"client_type", "x-alter-client-type"}}) {
    const std::string v = req.header(header);
    if (v.size() > 256) return common::unexpected(bad(std::string(header) + " is longer than 256 bytes"));
    if (!common::is_valid_utf8(v) ||
        std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return common::unexpected(bad(std::string(header) + " must be UTF-8 text without control characters"));
    }
    if (!v.empty()) out.record[key] = v;
  }
  out.actor.type = req.header("x-alter-actor-type");
  out.actor.id = req.header("x-alter-actor-id");
  out.actor.name = req.header("x-alter-actor-name");
  if (!out.actor.type.empty() && out.actor.type != "ai_agent" && out.actor.type != "mcp_server") {
    return common::unexpected(bad("x-alter-actor-type must be ai_agent or mcp_server"));
  }
  return out;
}

Result<vault::TokenAsk> parse_token_request(const Request& req, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return common::unexpected(body.error());
  auto actor = actor_from(req);
  if (!actor) return common::unexpected(actor.error());
  vault::TokenAsk t;
  t.caller = {who.app_id, who.key_id};
  t.actor = actor->actor;
  t.actor_record = actor->record;
  t.source_ip = req.remote_ip;
  const auto& j = *body;
  auto provider = string_field(j, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider) return common::unexpected(provider.error());
  t.provider_id = **provider;
  auto attrs = string_map_field(j, "attributes", true);
  if (!attrs) return common::unexpected(attrs.error());
  if (attrs->empty()) return common::unexpected(bad("field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
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
    for (char& c : t.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!common::is_token(t.method)) return common::unexpected(bad("field 'method' is not an HTTP method"));
  }
  return t;
}

Response token_answer(vault::Decided<vault::TokenGrant> grant) {
  if (!grant) return error_response(grant.error());
  nlohmann::json answer = {{"token_type", grant->token_type}, {"scopes", grant->scopes}, {"connection_id", grant->connection_id},
                           {"request_id", grant->request_id}, {"url", grant->url},
                           {"audit_capture", to_string(grant->audit_capture)}};
  // Providers that read the bare token from their own header (Shopify) say so here.
  if (!grant->token_header.empty()) answer["token_header"] = grant->token_header;
  if (grant->expires_at) {
    answer["expires_at"] = iso8601(*grant->expires_at);
    answer["expires_in"] = grant->expires_in.value_or(0);
  } else {
    answer["expires_at"] = nullptr;
    answer["expires_in"] = nullptr;
  }
  answer["access_token"] = std::string(grant->access_token.reveal());
  grant->access_token.wipe();
  Response r = Response::json(200, answer);
  common::secure_wipe(answer["access_token"].get_ref<std::string&>());
  return r;
}

Response token(Api& api, const Request& req, const Principal& who) {
  auto ask = parse_token_request(req, who);
  if (!ask) return error_response(ask.error());
  return token_answer(api.broker.decide(*ask));
}

// On the I/O thread: decided from memory and answered when the decision's row is durable, or
// left to token() on a worker when the store or a refresh is needed.
bool token_without_blocking(Api& api, const Request& req, const Principal& who, const http::Reply& reply) {
  auto ask = parse_token_request(req, who);
  if (!ask) {
    reply(error_response(ask.error()));
    return true;
  }
  return api.broker.decide_without_blocking(*ask, [reply](vault::TokenBroker::Decision decided) {
    reply.from([decided = std::move(decided)] { return token_answer(decided()); });
  });
}

// ---- the proxy: the vault makes the call ----

// Text of an x-alter-* header: UTF-8 without control characters, at most `max` bytes.
Result<std::string> alter_header(const Request& req, const char* name, std::size_t max, bool required) {
  std::string v = req.header(name);
  if (v.empty()) {
    if (required) return common::unexpected(bad(std::string("header ") + name + " is required"));
    return v;
  }
  if (v.size() > max) return common::unexpected(bad(std::string("header ") + name + " is longer than " + std::to_string(max) + " bytes"));
  if (!common::is_valid_utf8(v) ||
      std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return common::unexpected(bad(std::string("header ") + name + " must be UTF-8 text without control characters"));
  }
  return v;
}

// The request's headers the vault does not pass on: its own, the connection's, and what the
// exchange with the provider sets itself. Authorization is refused rather than dropped: the vault
// sets the credential, and a caller sending one has a bug worth saying.
// The forwarding headers describe the hop to the vault, not the vault's own request: dropped (a
// caller could also forge them). Accept-Encoding is the vault client's to negotiate (it decodes).
bool not_forwarded(const std::string& lower, const std::set<std::string>& connection_listed) {
  return vault::is_hop_by_hop(lower) || lower == "host" || lower == "content-length" || lower == "expect" ||
         lower == "x-api-key" || lower.rfind("x-alter-", 0) == 0 || connection_listed.count(lower) > 0 ||
         lower == "accept-encoding" || lower == "forwarded" || lower.rfind("x-forwarded-", 0) == 0 || lower == "via" ||
         lower == "x-real-ip";
}

// Credentials of the caller's own: the vault sets the provider's, and a call made with another
// credential beside it would be recorded as the connection's.
bool refused_credential(const std::string& lower) {
  return lower == "authorization" || lower == "proxy-authorization" || lower == "cookie" || lower == "x-auth-token" ||
         lower == "private-token" || lower == "x-goog-api-key" || lower == "x-amz-security-token";
}

Result<vault::ProxyAsk> parse_proxy_request(Request& req, const Principal& who) {
  auto actor = actor_from(req);
  if (!actor) return common::unexpected(actor.error());
  vault::ProxyAsk p;
  vault::TokenAsk& t = p.token;
  t.caller = {who.app_id, who.key_id};
  t.actor = actor->actor;
  t.actor_record = actor->record;
  t.source_ip = req.remote_ip;
  t.proxied = true;
  t.method = req.method;
  struct F {
    const char* header;
    std::string* out;
    std::size_t max;
    bool required;
  };
  std::string user;
  for (const F& f : {F{"x-alter-provider", &t.provider_id, 64, true}, F{"x-alter-url", &t.url, 8192, true},
                     F{"x-alter-user", &user, 4096, true}, F{"x-alter-reason", &t.reason, 2000, false},
                     F{"x-alter-run-id", &t.run_id, 256, false}, F{"x-alter-thread-id", &t.thread_id, 256, false},
                     F{"x-alter-tool-call-id", &t.tool_call_id, 256, false}}) {
    auto v = alter_header(req, f.header, f.max, f.required);
    if (!v) return common::unexpected(v.error());
    *f.out = std::move(*v);
  }
  auto attrs_json = nlohmann::json::parse(user, nullptr, false);
  if (!attrs_json.is_object() || attrs_json.empty()) {
    return common::unexpected(bad("header x-alter-user must be a JSON object of the user's attributes, e.g. {\"user_id\":\"alice\"}"));
  }
  for (auto it = attrs_json.begin(); it != attrs_json.end(); ++it) {
    if (!it->is_string() || it.key().empty() || it.key().size() > 64 || it->get_ref<const std::string&>().size() > 512) {
      return common::unexpected(bad("header x-alter-user must map attribute names to strings"));
    }
    t.attributes[it.key()] = it->get<std::string>();
  }
  auto approval = alter_header(req, "x-alter-approval-id", 128, false);
  if (!approval) return common::unexpected(approval.error());
  if (!approval->empty()) t.approval_id = *approval;
  if (const std::string ms = req.header("x-alter-timeout-ms"); !ms.empty()) {
    const bool digits = ms.size() <= 6 && std::all_of(ms.begin(), ms.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long long v = digits ? std::stoll(ms) : 0;
    if (v < 1 || v > 120000) return common::unexpected(bad("header x-alter-timeout-ms must be an integer from 1 to 120000"));
    p.timeout = std::chrono::milliseconds(v);
  }
  const std::set<std::string> connection_listed = vault::connection_named(req.headers);
  for (const auto& [name, value] : req.headers) {
    const std::string lower = common::to_lower(name);
    if (refused_credential(lower)) {
      return common::unexpected(bad("header " + name + " cannot be sent through the proxy: the vault sets the provider's credential"));
    }
    if (not_forwarded(lower, connection_listed)) continue;
    p.headers.emplace_back(name, value);
  }
  // The body is the request's (taken, not copied: the server keeps the request only to answer it).
  p.has_body = !req.body.empty();
  t.content_digest = vault::proxy_content_digest(p.headers, req.body);
  t.shown = vault::proxy_shown(p.headers, req.body);
  p.body = std::make_shared<const std::string>(std::move(req.body));
  return p;
}

void add_source(Response& r, const char* source) { r.headers.emplace_back("x-alter-source", source); }

Response proxy_answer(vault::ProxyOutcome outcome) {
  if (!outcome) {
    Response r = error_response(outcome.error());
    add_source(r, "vault");
    if (const auto& e = outcome.error().extra; e.contains("request_id")) r.headers.emplace_back("x-alter-request-id", e["request_id"].get<std::string>());
    return r;
  }
  vault::ProxiedAnswer& a = *outcome;
  Response r;
  r.status = a.status;
  r.content_type.clear();
  for (auto& [k, v] : a.headers) {
    if (common::iequals(k, "content-type")) {
      r.content_type = std::move(v);
      continue;
    }
    r.headers.emplace_back(std::move(k), std::move(v));
  }
  r.body = std::move(a.body);
  add_source(r, "provider");
  r.headers.emplace_back("x-alter-request-id", a.request_id);
  r.headers.emplace_back("x-alter-connection-id", a.connection_id);
  r.headers.emplace_back("x-alter-attempts", std::to_string(a.attempts));
  // A call made whose row the trail could not take: the answer is the provider's, and says so.
  r.headers.emplace_back("x-alter-audit", a.recorded ? "recorded" : "unrecorded");
  return r;
}

// The request is the server's: the proxy takes its body instead of copying it.
Request& taken(const Request& req) { return const_cast<Request&>(req); }

bool proxy_without_blocking(Api& api, const Request& req, const Principal& who, const http::Reply& reply) {
  auto ask = parse_proxy_request(taken(req), who);
  if (!ask) {
    Response r = error_response(ask.error());
    add_source(r, "vault");
    reply(std::move(r));
    return true;
  }
  api.proxy.call(std::move(*ask), [reply](vault::ProxyOutcome outcome) {
    auto held = std::make_shared<vault::ProxyOutcome>(std::move(outcome));
    reply.from([held] { return proxy_answer(std::move(*held)); });
  });
  return true;
}

// On a worker (the API key was not in memory yet): the same, waited for here.
Response proxy(Api& api, const Request& req, const Principal& who) {
  auto ask = parse_proxy_request(taken(req), who);
  if (!ask) {
    Response r = error_response(ask.error());
    add_source(r, "vault");
    return r;
  }
  // Every step here, on this worker: waiting for work queued on the same pool could exhaust it.
  return proxy_answer(api.proxy.call_blocking(std::move(*ask)));
}

// ---- the SDK's call events ----

Result<vault::CallEvent> parse_call_event(const nlohmann::json& e, std::size_t index) {
  const std::string where = "events[" + std::to_string(index) + "]";
  if (!e.is_object()) return common::unexpected(bad(where + " must be an object"));
  vault::CallEvent out;
  for (const char* key : {"connection_id", "provider_id", "method", "url", "reason", "request_id", "run_id", "thread_id",
                          "tool_call_id", "timestamp", "error"}) {
    auto v = string_field(e, key, {.max_size = key == std::string("url") ? 8192u : 2048u, .single_line = false});
    if (!v) {
      Error err = v.error();
      err.message = where + ": " + err.message;
      return common::unexpected(err);
    }
    if (*v) out.text[key] = **v;
  }
  for (const char* key : {"response_status", "latency_ms", "request_bytes", "response_bytes"}) {
    if (e.contains(key) && !e[key].is_null()) {
      if (!e[key].is_number_integer()) return common::unexpected(bad(where + ": field '" + key + "' must be an integer"));
      out.numbers[key] = e[key].get<std::int64_t>();
    }
  }
  for (auto [key, target] : {std::pair{"request_headers", &out.request_headers}, std::pair{"response_headers", &out.response_headers}}) {
    if (e.contains(key) && !e[key].is_null()) {
      if (!e[key].is_object()) return common::unexpected(bad(where + ": field '" + key + "' must be an object"));
      *target = e[key];
    }
  }
  if (e.contains("request_body")) out.request_body = e["request_body"];
  if (e.contains("response_body")) out.response_body = e["response_body"];
  return out;
}

Response audit_events(Api& api, const Request& req, const Principal& who, bool batch) {
  auto actor = actor_from(req);
  if (!actor) return error_response(actor.error());
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  std::vector<nlohmann::json> raw;
  if (batch) {
    auto it = body->find("events");
    if (it == body->end() || !it->is_array()) return error_response(bad("field 'events' must be an array"));
    if (it->size() > kMaxBatch) return error_response(bad("at most " + std::to_string(kMaxBatch) + " events per batch"));
    for (auto& e : *it) raw.push_back(std::move(e));
  } else {
    raw.push_back(std::move(*body));
  }
  std::vector<vault::CallEvent> events;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto e = parse_call_event(raw[i], i);
    if (!e) return error_response(e.error());  // nothing written
    events.push_back(std::move(e.value()));
  }
  auto n = api.trail.record_calls({who.app_id, who.key_id}, actor->record, std::move(events));
  if (!n) return error_response(n.error());
  return Response::json(202, {{"accepted", *n}});
}

Response provider_ids(Api& api) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& p : api.catalog->all()) {
    if (!p->dev_only || api.config.dev_mode) ids.push_back(p->id);
  }
  return Response::json(200, {{"provider_ids", ids}});
}

Response approval_status(Api& api, const Principal& who, const std::string& id) {
  auto a = api.approvals.get(id);
  if (!a || a->app_id != who.app_id) return error_response(make_error(Errc::kNotFound, "not_found", "no such approval"));
  return Response::json(200, {{"id", a->id}, {"status", to_string(a->status)}, {"expires_at", iso8601(a->expires_at)}});
}

}  // namespace

// Shared with the admin routes: the body of a connect link request.
Result<vault::ConnectSpec> parse_connect_spec(const Request& req) {
  auto body = json_object_body(req);
  if (!body) return common::unexpected(body.error());
  if (auto r = no_unknown_fields(*body, {"provider_id", "attributes", "return_url", "scopes", "settings"}); !r) {
    return common::unexpected(r.error());
  }
  vault::ConnectSpec spec;
  auto provider_id = string_field(*body, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider_id) return common::unexpected(provider_id.error());
  spec.provider_id = **provider_id;
  auto attrs = string_map_field(*body, "attributes", true);
  if (!attrs) return common::unexpected(attrs.error());
  spec.attributes = *attrs;
  auto return_url = string_field(*body, "return_url", {.max_size = 2048});
  if (!return_url) return common::unexpected(return_url.error());
  spec.return_url = return_url->value_or("");
  auto settings = string_map_field(*body, "settings", false);
  if (!settings) return common::unexpected(settings.error());
  spec.settings = *settings;
  if (auto it = body->find("scopes"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return common::unexpected(bad("field 'scopes' must be an array of strings"));
    for (const auto& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) return common::unexpected(bad("field 'scopes' must be an array of strings"));
      spec.scopes.push_back(v.get<std::string>());
    }
  }
  return spec;
}

http::Response connect_link(Api& api, const http::Request& req, const std::string& app_id, const nlohmann::json& actor) {
  auto spec = parse_connect_spec(req);
  if (!spec) return error_response(spec.error());
  auto link = api.connections.create_link(app_id, std::move(*spec), actor);
  if (!link) return error_response(link.error());
  return Response::json(201, {{"id", link->session.id}, {"connect_url", link->url}, {"expires_at", iso8601(link->session.expires_at)},
                              {"provider_id", link->session.provider_id}, {"attributes", link->session.attributes}});
}

void add_sdk_routes(http::Router& router, Api& api) {
  using http::Auth;
  router.add(
      "POST", "/oauth/token", Auth::kApiKey,
      [&api](const Request& r, const PathParams&, const Principal& who) { return token(api, r, who); },
      [&api](const Request& r, const PathParams&, const Principal& who, const http::Reply& reply) {
        return token_without_blocking(api, r, who, reply);
      });
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    router.add(
        method, "/v1/proxy", Auth::kApiKey,
        [&api](const Request& r, const PathParams&, const Principal& who) { return proxy(api, r, who); },
        [&api](const Request& r, const PathParams&, const Principal& who, const http::Reply& reply) {
          return proxy_without_blocking(api, r, who, reply);
        });
  }
  router.add("POST", "/oauth/audit/api-call", Auth::kApiKey,
             [&api](const Request& r, const PathParams&, const Principal& who) { return audit_events(api, r, who, false); });
  router.add("POST", "/oauth/audit/batch", Auth::kApiKey,
             [&api](const Request& r, const PathParams&, const Principal& who) { return audit_events(api, r, who, true); });
  router.add("GET", "/oauth/providers/ids", Auth::kApiKey,
             [&api](const Request&, const PathParams&, const Principal&) { return provider_ids(api); });
  router.add("GET", "/oauth/approvals/{id}", Auth::kApiKey,
             [&api](const Request&, const PathParams& p, const Principal& who) { return approval_status(api, who, p.at("id")); });
  router.add("POST", "/v1/connect/sessions", Auth::kApiKey, [&api](const Request& r, const PathParams&, const Principal& who) {
    return connect_link(api, r, who.app_id, {{"type", "application"}, {"id", who.key_id}});
  });
}

}  // namespace alter::server::api
