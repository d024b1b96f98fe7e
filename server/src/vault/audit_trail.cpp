#include "vault/audit_trail.hpp"

#include <alter/common/redact.hpp>
#include <alter/common/strings.hpp>

#include "vault/authenticator.hpp"
#include "vault/token_broker.hpp"

namespace alter::server::vault {
namespace {

constexpr std::size_t kAuditBodyCap = 10 * 1024;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

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

// The trail's rows of this app's token decisions that issued a token (call events name one).
AuditFilter issued_decisions_of(const std::string& app_id) {
  AuditFilter f;
  f.app_id = app_id;
  f.kind = "token";
  f.decision = "issued";
  return f;
}

IssuedDecisions::Issued issued_from_row(const std::string& app_id, const AuditRecord& r) {
  auto c = nlohmann::json::parse(r.content, nullptr, false);
  return IssuedDecisions::Issued{app_id, r.connection_id, r.provider_id, r.request_id,
                                 c.is_object() ? c.value("user", nlohmann::json::object()) : nlohmann::json::object()};
}

}  // namespace

nlohmann::json call_payload(AuditCapture capture, const oauth::ProviderDef* provider, const nlohmann::json& request_headers,
                            const nlohmann::json& response_headers, const std::optional<nlohmann::json>& request_body,
                            const std::optional<nlohmann::json>& response_body) {
  nlohmann::json payload = nlohmann::json::object();
  if (capture != AuditCapture::kNone) {
    payload["request_headers"] = sanitized_headers(request_headers, provider);
    payload["response_headers"] = sanitized_headers(response_headers, provider);
  }
  if (capture == AuditCapture::kBodies) {
    if (request_body) payload["request_body"] = capped_body(*request_body);
    if (response_body) payload["response_body"] = capped_body(*response_body);
  }
  return payload;
}

nlohmann::json body_for_audit(std::string_view body, std::size_t cap) {
  const std::string_view head = common::utf8_prefix(body, cap);
  if (common::is_valid_utf8(head)) return std::string(head);
  return "(binary, " + std::to_string(body.size()) + " bytes)";
}

AuditTrail::AuditTrail(std::shared_ptr<oauth::Catalog> catalog, Store& store, audit::AuditLog& audit, IssuedDecisions& issued,
                       VaultCache& cache, const common::Clock& clock)
    : catalog_(std::move(catalog)), store_(store), audit_(audit), issued_(issued), cache_(cache), clock_(clock) {}

Result<audit::AuditEvent> AuditTrail::call_row(const AppCaller& caller, const nlohmann::json& actor, CallEvent& e,
                                               std::size_t index, const AppSettings& settings) {
  const std::string where = "events[" + std::to_string(index) + "]";
  nlohmann::json content = {{"kind", "api_call"}, {"app_id", caller.app_id}, {"key_id", caller.key_id}, {"actor", actor}};
  for (auto& [k, v] : e.text) content[k] = v;
  for (auto& [k, v] : e.numbers) content[k] = v;

  // The decision this call used: one of this app's that issued a token, for the same connection.
  std::string request_id = e.text.count("request_id") ? e.text["request_id"] : "";
  const std::string connection_id = e.text.count("connection_id") ? e.text["connection_id"] : "";
  std::optional<IssuedDecisions::Issued> decision;
  if (request_id.empty()) {
    if (!settings.allow_url_less_token_requests || connection_id.empty()) {
      return common::unexpected(bad(where + ": field 'request_id' is required: it names the token decision the call used"));
    }
    // alter-sdk 0.1 sends none: the connection's latest decision that issued a token, from memory,
    // else from the trail's last 15 minutes (an older one, or one made by another instance).
    decision = issued_.latest(caller.app_id, connection_id);
    if (!decision) {
      AuditFilter f = issued_decisions_of(caller.app_id);
      f.connection_id = connection_id;
      f.since = clock_.wall() - std::chrono::minutes(15);
      f.limit = 500;
      for (int page = 0; page < 20; ++page) {  // rows come oldest first: the last one is the latest
        auto rows = store_.query_audit(f);
        if (!rows) return common::unexpected(store_error(rows.error()));
        if (rows->empty()) break;
        decision = issued_from_row(caller.app_id, rows->back());
        if (rows->size() < f.limit) break;
        f.after_seq = rows->back().seq;
      }
    }
    if (!decision) return common::unexpected(bad(where + ": no token was issued lately for this connection"));
    content["request_id"] = decision->request_id;
    content["matched_by"] = "connection";
  } else {
    decision = issued_.find(request_id);
    if (!decision) {
      AuditFilter f = issued_decisions_of(caller.app_id);
      f.request_id = request_id;
      f.limit = 1;
      auto rows = store_.query_audit(f);
      if (!rows) return common::unexpected(store_error(rows.error()));
      if (!rows->empty()) decision = issued_from_row(caller.app_id, rows->front());
    }
    if (!decision || decision->app_id != caller.app_id) {
      return common::unexpected(bad(where + ": request_id names no token decision of this app that issued a token"));
    }
  }
  if (!connection_id.empty() && connection_id != decision->connection_id) {
    return common::unexpected(bad(where + ": connection_id is not the connection of the decision request_id names"));
  }
  if (e.text.count("provider_id") && e.text["provider_id"] != decision->provider_id) {
    return common::unexpected(bad(where + ": provider_id is not the provider of the decision request_id names"));
  }
  content["connection_id"] = decision->connection_id;
  content["provider_id"] = decision->provider_id;
  // The call was made for the decision's user: record it, so queries by user find calls too.
  content["user"] = decision->user;

  const std::string provider_id = content.value("provider_id", "");
  const auto provider = provider_id.empty() ? nullptr : catalog_->get(provider_id);
  // What the app keeps of a call (docs/security.md): headers and bodies only as its settings say,
  // as a payload beside the hashed row (purgeable), never inside it.
  nlohmann::json payload = call_payload(settings.capture_for(provider_id), provider.get(), e.request_headers,
                                        e.response_headers, e.request_body, e.response_body);
  content["decision"] = "called";
  return audit::AuditEvent{std::move(content), std::move(payload)};
}

Result<std::size_t> AuditTrail::record_calls(const AppCaller& caller, const nlohmann::json& actor, std::vector<CallEvent> events) {
  auto app = find_app(store_, cache_, caller.app_id);
  if (!app) return common::unexpected(app.error());
  std::vector<audit::AuditEvent> rows;
  rows.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto r = call_row(caller, actor, events[i], i, (*app)->settings);
    if (!r) return common::unexpected(r.error());  // nothing written
    rows.push_back(std::move(r.value()));
  }
  const auto n = rows.size();
  if (auto w = audit_.record(std::move(rows)); !w) return common::unexpected(w.error());
  return n;
}

Result<std::vector<AuditRecord>> AuditTrail::query(const AuditFilter& filter) const {
  auto rows = store_.query_audit(filter);
  if (!rows) return common::unexpected(store_error(rows.error()));
  return std::move(rows.value());
}

Result<audit::VerifyReport> AuditTrail::verify() const {
  auto report = audit::verify(store_);
  if (report) {
    std::lock_guard lock(verify_mu_);
    last_verify_ = LastVerify{clock_.wall(), *report};
  }
  return report;
}

std::optional<AuditTrail::LastVerify> AuditTrail::last_verify() const {
  std::lock_guard lock(verify_mu_);
  return last_verify_;
}

Result<std::int64_t> AuditTrail::purge(const AuditFilter& filter, const nlohmann::json& said, const AdminCaller& by) {
  std::int64_t purged = 0;
  std::vector<audit::AuditEvent> events;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto r = store_.purge_audit_payloads(filter);
        if (!r) return common::unexpected(store_error(r.error()));
        purged = *r;
        nlohmann::json details = said;
        details["rows"] = purged;
        events.push_back({{{"kind", "admin"}, {"app_id", filter.app_id.value_or("")}, {"decision", "audit_payloads_purged"},
                           {"actor", {{"type", "admin"}, {"id", by.id}}}, {"details", details}}});
        return {};
      },
      events, false);
  if (!committed) return common::unexpected(committed.error());
  return purged;
}

}  // namespace alter::server::vault
