#include "vault/policies.hpp"

#include "vault/authenticator.hpp"

namespace alter::server::vault {

Result<void> PolicyService::app_exists(const std::string& app_id) const {
  if (auto app = store_.get_app(app_id); !app) {
    return common::unexpected(app.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no app '" + app_id + "'")
                                                                       : store_error(app.error()));
  }
  return {};
}

Result<AppliedPolicy> PolicyService::apply(const std::string& app_id, const std::string& document, std::string format,
                                           const AdminCaller& by) {
  if (auto ok = app_exists(app_id); !ok) return common::unexpected(ok.error());
  if (format != "toml" && format != "json" && format != "auto") {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", "format must be toml, json or auto"));
  }
  if (format == "auto") {
    const auto first = document.find_first_not_of(" \t\r\n");
    format = (first != std::string::npos && document[first] == '{') ? "json" : "toml";
  }
  auto compiled = policy::CompiledPolicy::compile(document, format);
  if (!compiled) {
    Error e = compiled.error();
    e.errc = Errc::kInvalidArgument;
    e.code = "invalid_policy";
    return common::unexpected(e);
  }
  PolicyVersion v;
  v.app_id = app_id;
  v.document = document;
  v.format = format;
  v.author = by.id;
  v.created_at = clock_.wall();
  AppliedPolicy out;
  out.rules = (*compiled)->rule_count();
  std::vector<audit::AuditEvent> events;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto stored = store_.put_policy(v);
        if (!stored) return common::unexpected(store_error(stored.error()));
        out.version = std::move(stored.value());
        events.push_back({{{"kind", "admin"}, {"app_id", app_id}, {"decision", "policy_applied"},
                           {"actor", {{"type", "admin"}, {"id", by.id}}},
                           {"details", {{"version", out.version.version}, {"rules", out.rules}}}}});
        return {};
      },
      events, true);  // every instance reloads it at its next request
  if (!committed) return common::unexpected(committed.error());
  engine_.invalidate(app_id);
  return out;
}

Result<std::vector<PolicyVersion>> PolicyService::list(const std::string& app_id) const {
  if (auto ok = app_exists(app_id); !ok) return common::unexpected(ok.error());
  auto rows = store_.list_policies(app_id);
  if (!rows) return common::unexpected(store_error(rows.error()));
  return std::move(rows.value());
}

Result<PolicyVersion> PolicyService::get(const std::string& app_id, std::int64_t version) const {
  if (auto ok = app_exists(app_id); !ok) return common::unexpected(ok.error());
  auto v = store_.get_policy(app_id, version);
  if (!v) {
    return common::unexpected(v.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no such policy version")
                                                                     : store_error(v.error()));
  }
  return v.value();
}

Result<nlohmann::json> PolicyService::diff(const std::string& app_id, std::int64_t from, std::int64_t to) const {
  auto a = get(app_id, from);
  if (!a) return common::unexpected(a.error());
  auto b = get(app_id, to);
  if (!b) return common::unexpected(b.error());
  auto ca = policy::CompiledPolicy::compile(a->document, a->format);
  auto cb = policy::CompiledPolicy::compile(b->document, b->format);
  if (!ca || !cb) return common::unexpected(make_error(Errc::kInternal, "invalid_policy", "a stored version no longer compiles"));
  return nlohmann::json{{"from", a->version}, {"to", b->version}, {"diff", policy::diff(**ca, **cb)}};
}

Result<policy::Decision> PolicyService::test(const policy::PolicyRequest& request) {
  if (auto ok = app_exists(request.app_id); !ok) return common::unexpected(ok.error());
  return engine_.explain(request);
}

}  // namespace alter::server::vault
