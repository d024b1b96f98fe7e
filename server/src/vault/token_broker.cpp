#include "vault/token_broker.hpp"

#include <cassert>

#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "vault/authenticator.hpp"
#include "guard/url_guard.hpp"

namespace alter::server::vault {
namespace {

bool valid_slug(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const App>> find_app(Store& store, VaultCache& cache, const std::string& id) {
  const auto generation = cache.apps_generation();  // before the read: see VaultCache
  if (auto hit = cache.app(id)) return hit;
  auto app = store.get_app(id);
  if (!app) {
    if (app.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no app '" + id + "'"));
    return common::unexpected(store_error(app.error()));
  }
  cache.put_app(*app, generation);
  return std::make_shared<const App>(std::move(app.value()));
}

TokenBroker::TokenBroker(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store, VaultCache& cache,
                         policy::PolicyEngine& policies, ApprovalService& approvals, TokenManager& tokens,
                         audit::AuditLog& audit, IssuedDecisions& issued, Metrics& metrics, Logger& log,
                         const common::Clock& clock)
    : options_(options),
      catalog_(std::move(catalog)),
      store_(store),
      cache_(cache),
      policies_(policies),
      approvals_(approvals),
      tokens_(tokens),
      audit_(audit),
      issued_(issued),
      metrics_(metrics),
      log_(log),
      clock_(clock) {}

Result<std::shared_ptr<const App>> TokenBroker::app(const std::string& id) { return find_app(store_, cache_, id); }

// A decision made, its audit row not yet written: `outcome` is what the caller gets once `row` is
// durable (a refusal made before any row was due has no row; the approval paths commit their own).
struct TokenBroker::Draft {
  std::chrono::steady_clock::time_point started;
  std::string request_id;
  std::string decision;  // the row's decision, for the metrics; empty: nothing was recorded
  std::optional<audit::AuditEvent> row;
  Decided<TokenGrant> outcome = refuse(make_error(Errc::kInternal, "internal", "internal error"));
  std::optional<IssuedDecisions::Issued> issued;  // indexed for call events once recorded
};

Decided<TokenGrant> TokenBroker::decide(const TokenAsk& ask) {
  metrics_.inc("alter_token_decision_path_total", "path=\"worker\"");
  auto draft = this->draft(ask, Blocking::kMay);
  assert(draft.has_value());  // only kNever gives up
  Result<void> written;
  if (draft->row) written = audit_.record(std::move(*draft->row));
  return finish(std::move(*draft), std::move(written));
}

bool TokenBroker::decide_without_blocking(const TokenAsk& ask, std::function<void(Decision decided)> done) {
  const auto started = std::chrono::steady_clock::now();
  const bool asynchronous = blocking_ && tokens_.refreshes_asynchronously();
  std::optional<Connection> due;
  auto draft = this->draft(ask, Blocking::kNever, nullptr, asynchronous ? &due : nullptr);
  if (draft) {
    metrics_.inc("alter_token_decision_path_total", "path=\"inline\"");
    commit(std::move(*draft), std::move(done));
    return true;
  }
  if (!asynchronous) return false;
  if (due) {
    metrics_.inc("alter_token_decision_path_total", "path=\"refresh\"");
    await_refresh(ask, std::move(*due), started, std::move(done), false);
    return true;
  }
  // A step reads the store (a lookup not cached yet, an approval): it runs on the pool allowed to
  // block, and a refresh it finds due still holds no thread while the provider answers.
  metrics_.inc("alter_token_decision_path_total", "path=\"worker\"");
  blocking_([this, ask, started, done = std::move(done)]() mutable {
    std::optional<Connection> due_then;
    auto drafted = this->draft(ask, Blocking::kMay, nullptr, &due_then);
    if (drafted) {
      commit(std::move(*drafted), std::move(done));
      return;
    }
    metrics_.inc("alter_token_decision_path_total", "path=\"refresh\"");
    await_refresh(ask, std::move(*due_then), started, std::move(done), true);  // already on a worker
  });
  return true;
}

void TokenBroker::await_refresh(const TokenAsk& ask, Connection due, std::chrono::steady_clock::time_point started,
                                std::function<void(Decision decided)> done, bool on_blocking_thread) {
  auto provider = catalog_->get(ask.provider_id);
  assert(provider != nullptr);  // draft() found it a moment ago; providers are never removed
  // The decision is made again with the refresh's outcome: a fresh decision, where the policy
  // sees the connection as it is then.
  Connection before = due;
  tokens_.refresh_async(due, std::move(provider),
                        [this, ask, before = std::move(before), started, done = std::move(done)](const Result<Connection>& result) mutable {
                          // On a thread of the pool allowed to block: a cache miss may be read here.
                          const Refreshed refreshed{std::move(before), result, started};
                          auto again = this->draft(ask, Blocking::kNever, &refreshed);
                          if (!again) again = this->draft(ask, Blocking::kMay, &refreshed);
                          commit(std::move(*again), std::move(done));
                        }, on_blocking_thread);
}

void TokenBroker::commit(Draft&& draft, std::function<void(Decision decided)> done) {
  std::optional<audit::AuditEvent> row = std::move(draft.row);
  draft.row.reset();
  auto held = std::make_shared<Draft>(std::move(draft));
  auto decided = [this, held](Result<void> written) -> Decision {
    return [this, held, written = std::move(written)] { return finish(std::move(*held), written); };
  };
  if (!row) {
    done(decided({}));
    return;
  }
  std::vector<audit::AuditEvent> rows;
  rows.push_back(std::move(*row));
  audit_.record_async(std::move(rows), [decided, done = std::move(done)](Result<void> written) { done(decided(std::move(written))); });
}

Decided<TokenGrant> TokenBroker::finish(Draft&& d, Result<void> written) {
  if (!written) {
    // Every decision is written before the answer; if it cannot be, the answer is 503 (fail closed).
    metrics_.inc("alter_token_decisions_total", "decision=\"audit_failed\"");
    // One line per 5 s at most: an outage must not turn every refused decision into a log line
    // (the audit writer logs each failed group commit the same way).
    if (failure_log_.allow()) {
      log_.error("token decision not answered: the audit trail cannot be written", {{"request_id", d.request_id}});
    }
    if (d.outcome) d.outcome->access_token.wipe();
    const nlohmann::json rid = {{"request_id", d.request_id}};
    return refuse(written.error(), rid, rid);
  }
  if (!d.decision.empty()) {
    metrics_.observe("alter_token_decision_seconds", "", std::chrono::steady_clock::now() - d.started);
    metrics_.inc("alter_token_decisions_total", "decision=\"" + d.decision + "\"");
  }
  if (d.issued) issued_.add(std::move(*d.issued));
  return std::move(d.outcome);
}

std::optional<TokenBroker::Draft> TokenBroker::draft(const TokenAsk& ask, Blocking blocking, const Refreshed* refreshed,
                                                     std::optional<Connection>* refresh_due) {
  const bool may_block = blocking == Blocking::kMay;
  Draft d;
  d.started = refreshed != nullptr ? refreshed->started : std::chrono::steady_clock::now();
  // A refusal made before there is anything to record.
  auto answer = [&](common::Unexpected<Refusal> r) -> std::optional<Draft> {
    d.outcome = std::move(r);
    return std::move(d);
  };
  auto provider = catalog_->get(ask.provider_id);
  if (!provider || (provider->dev_only && !options_.dev_mode)) {
    // Echo the id only when it is a well-formed one (helpful for typos, never a pasted secret).
    return answer(refuse(make_error(Errc::kInvalidArgument, "invalid_request",
                                    valid_slug(ask.provider_id) ? "unknown provider '" + ask.provider_id + "'" : std::string("unknown provider"))));
  }
  // ---- an API key, a password or an AWS key is only ever used by the vault itself ----
  // Whoever asks, for whichever user: a property of the provider, not a decision, so no row. The
  // SDK sends the call through the proxy (and, seeing `details.credential`, the provider's later
  // calls too), where it is decided and audited.
  if (!ask.proxied && provider->credential.is_static()) {
    const std::string kind = oauth::credential_kind_name(provider->credential.kind);
    return answer(refuse(make_error(Errc::kPermissionDenied, "proxy_required",
                                    provider->display_name + "'s credential (" + kind +
                                        ") never leaves the vault: send this request through the proxy (/v1/proxy)"),
                         {{"credential", kind}}));
  }
  std::shared_ptr<const App> app = cache_.app(ask.caller.app_id);
  if (!app) {
    if (!may_block) return std::nullopt;
    auto found = this->app(ask.caller.app_id);
    if (!found) return answer(refuse(found.error()));
    app = std::move(found.value());
  }
  const AppSettings& settings = app->settings;

  // ---- the subject: the one connection these attributes select (looked up before anything is
  // built for the row, so a decision that must wait for the store costs nothing here) ----
  ConnectionFilter filter;
  filter.app_id = ask.caller.app_id;
  filter.provider_id = ask.provider_id;
  filter.attributes = ask.attributes;
  filter.limit = 2;
  std::vector<Connection> found;
  const std::string cache_key = VaultCache::lookup_key(filter);
  if (auto hit = cache_.lookup(cache_key)) {
    for (const auto& c : *hit) found.push_back(*c);
  } else {
    if (!may_block) return std::nullopt;
    const auto generation = cache_.connections_generation();
    auto rows = store_.find_connections(filter);
    if (!rows) {
      d.request_id = crypto::new_uuid();
      const nlohmann::json ids = {{"request_id", d.request_id}};
      return answer(refuse(store_error(rows.error()), ids, ids));
    }
    cache_.put_lookup(cache_key, *rows, generation);
    found = std::move(rows.value());
  }

  d.request_id = crypto::new_uuid();
  const std::string& request_id = d.request_id;
  const nlohmann::json rid = {{"request_id", request_id}};
  nlohmann::json event = {{"kind", "token"},
                          {"app_id", ask.caller.app_id},
                          {"key_id", ask.caller.key_id},
                          {"actor", ask.actor_record},
                          {"user", ask.attributes},  // until a connection is matched
                          {"provider_id", ask.provider_id},
                          {"method", ask.method},
                          {"url", ask.url},
                          {"reason", ask.reason},
                          {"run_id", ask.run_id},
                          {"thread_id", ask.thread_id},
                          {"tool_call_id", ask.tool_call_id},
                          {"request_id", request_id},
                          {"source_ip", ask.source_ip}};
  if (ask.proxied) event["via"] = "proxy";
  auto merge = [&](const std::string& decision, const nlohmann::json& extra) {
    event["decision"] = decision;
    for (auto it = extra.begin(); it != extra.end(); ++it) event[it.key()] = it.value();
  };
  // A decision with its row, to be recorded before the answer.
  auto recorded = [&](const std::string& decision, Decided<TokenGrant> outcome,
                      const nlohmann::json& extra = nlohmann::json::object()) -> std::optional<Draft> {
    merge(decision, extra);
    d.decision = decision;
    d.row = audit::AuditEvent{std::move(event)};
    d.outcome = std::move(outcome);
    return std::move(d);
  };
  auto refused = [&](const std::string& decision, Refusal r, const nlohmann::json& extra = nlohmann::json::object()) {
    return recorded(decision, common::unexpected(std::move(r)), extra);
  };

  if (found.empty()) {
    return refused("not_found", Refusal{make_error(Errc::kNotFound, "connection_not_found",
                                                   "no " + ask.provider_id + " connection matches these user attributes: the user needs to connect"),
                                        rid, rid});
  }
  if (found.size() > 1) {
    return refused("ambiguous", Refusal{make_error(Errc::kConflict, "ambiguous_connection",
                                                   "several connections match these user attributes: give more of them"),
                                        rid, rid});
  }
  Connection conn = std::move(found.front());
  // The subject of the decision is the connection: policies, rate limits and the audit row see its
  // stored attributes, whatever subset of them the caller sent.
  event["connection_id"] = conn.id;
  if (ask.attributes != conn.attributes) event["requested_user"] = ask.attributes;
  event["user"] = conn.attributes;

  // ---- token handout, a per-app choice: off, the token never leaves the vault ----
  if (!ask.proxied && !settings.token_handout) {
    return refused("denied", Refusal{make_error(Errc::kPermissionDenied, "token_handout_disabled",
                                                "this app does not receive tokens: call the provider through the vault's proxy (/v1/proxy)"),
                                     rid, rid},
                   {{"policy_error", "token_handout_disabled"}});
  }

  // ---- the exfiltration guard: this token only for https URLs on this connection's API hosts ----
  policy::PolicyRequest preq;
  const bool url_less = ask.url.empty() && settings.allow_url_less_token_requests && !ask.proxied;
  std::string checked_url;
  if (url_less) {
    preq.url_less = true;
    event["url_less"] = true;
  } else {
    std::map<std::string, std::string> variables = provider_variables(*provider, nlohmann::json::object(), conn.metadata);
    auto checked = guard::check_api_url(ask.url, connection_api_hosts(*provider, conn, variables), options_.dev_mode);
    if (!checked) return refused("denied", Refusal{checked.error(), rid, rid}, {{"policy_error", "url_not_allowed"}});
    checked_url = checked->url;
    event["url"] = checked_url;
    preq.url = checked->url;
    preq.host = checked->host;
    preq.path = checked->policy_path;
  }

  // ---- the policy ----
  preq.app_id = ask.caller.app_id;
  preq.actor = ask.actor;
  preq.provider_id = ask.provider_id;
  preq.user = conn.attributes;
  // None: only rules that allow every method. A URL-less token is bound to no URL and so to no
  // method either, whatever the caller says it will do: it is decided as method-less too.
  preq.method = url_less ? std::string() : ask.method;
  preq.reason = ask.reason;
  preq.source_ip = ask.source_ip;
  preq.now = clock_.wall();
  preq.token_expires_at = conn.expires_at;
  preq.proxied = ask.proxied;
  preq.content_digest = ask.content_digest;
  std::optional<Result<policy::Decision>> decision = policies_.decide_cached(preq);
  if (!decision) {
    if (!may_block) return std::nullopt;
    decision = policies_.decide(preq);
  }
  if (!*decision) {
    const Error& e = decision->error();
    return refused("error", Refusal{e, rid, rid}, {{"details", {{"error", e.code}}}});
  }
  const policy::Decision& decided = decision->value();
  const nlohmann::json policy_fields = {{"rule_id", decided.rule_id}, {"policy_version", decided.policy_version}};
  if (decided.effect == policy::Effect::kDeny) {
    nlohmann::json details = {{"rule_id", decided.rule_id}, {"policy_version", decided.policy_version}, {"request_id", request_id}};
    nlohmann::json extra = policy_fields;
    extra["policy_error"] = decided.policy_error;
    return refused("denied", Refusal{make_error(Errc::kPermissionDenied, decided.policy_error, decided.message), details, rid}, extra);
  }

  // ---- approvals (the store holds them: only where blocking is allowed) ----
  std::optional<Approval> to_consume;
  if (decided.effect == policy::Effect::kRequireApproval) {
    if (!may_block) return std::nullopt;
    auto check = approvals_.check(preq, decided, ask.approval_id, request_id, ask.shown);
    if (!check) {
      nlohmann::json extra = policy_fields;
      extra["policy_error"] = check.error().error.code;
      Refusal r = check.error();
      r.details["request_id"] = request_id;
      r.extra = rid;
      return refused("denied", std::move(r), extra);
    }
    using State = ApprovalService::Check::State;
    if (check->state != State::kGranted) {
      const Approval& a = check->approval;
      const std::string url = approvals_.url_for(a.id);
      nlohmann::json extra = policy_fields;
      extra["details"] = {{"approval_id", a.id}};
      merge("approval_required", extra);
      std::vector<audit::AuditEvent> events;
      if (check->state == State::kNew) {
        events.push_back({{{"kind", "approval"}, {"app_id", a.app_id}, {"decision", "requested"},
                           {"provider_id", preq.provider_id}, {"user", preq.user}, {"connection_id", conn.id},
                           {"actor", ask.actor_record}, {"request_id", request_id}, {"rule_id", a.rule_id},
                           {"details", {{"approval_id", a.id}}}}});
      }
      events.push_back({event});
      // A new approval and both rows (requested, and the decision) in one transaction.
      auto committed = audit_.commit(
          [&]() -> Result<void> { return check->state == State::kNew ? approvals_.create(a) : Result<void>{}; }, events, false);
      if (!committed) return answer(refuse(committed.error(), rid, rid));
      d.decision = "approval_required";
      return answer(refuse(make_error(Errc::kPermissionDenied, "approval_required", "a person must approve this request first"),
                           {{"rule_id", decided.rule_id}, {"approval_id", a.id}, {"approval_url", url}, {"request_id", request_id}},
                           {{"approval_id", a.id}, {"approval_url", url}, {"request_id", request_id}}));
    }
    to_consume = check->approval;
  }

  // ---- the token, refreshed first when due (a refresh waited for only where blocking is allowed) ----
  std::optional<Result<IssuedToken>> issued;
  if (refreshed != nullptr && refreshed->before.id == conn.id) {
    issued = tokens_.token_after_refresh(refreshed->before, refreshed->result);
  } else {
    issued = tokens_.token_without_blocking(conn, *provider);
    if (!issued) {
      if (refresh_due != nullptr) {
        *refresh_due = conn;  // the caller refreshes without holding a thread, then drafts again
        return std::nullopt;
      }
      if (!may_block) return std::nullopt;
      issued = tokens_.token_after_refresh(conn, tokens_.refresh(conn, *provider, false));
    }
  }
  if (!*issued) {
    const Error& e = issued->error();
    const nlohmann::json ids = {{"connection_id", conn.id}, {"request_id", request_id}};
    if (e.code == "token_expired") return refused("expired", Refusal{e, ids, ids}, policy_fields);
    // Anything else (a sealed token set that does not open, the store): recorded, and the log
    // names the connection, never a token.
    log_.error("token decision failed", {{"connection_id", conn.id}, {"request_id", request_id}, {"error", e.code}});
    nlohmann::json failed = policy_fields;
    failed["details"] = {{"error", e.code}};
    return refused("error", Refusal{e, rid, rid}, failed);
  }
  IssuedToken& token = issued->value();
  nlohmann::json extra = policy_fields;
  if (to_consume) extra["details"] = {{"approval_id", to_consume->id}};
  if (token.refreshed) extra["details"]["refreshed"] = true;

  const Connection& c = token.connection;
  TokenGrant grant;
  grant.access_token = std::move(token.access_token);
  grant.token_type = c.token_type;
  grant.token_header = provider->token_header;
  grant.url = checked_url;
  grant.connection_id = c.id;
  grant.request_id = request_id;
  grant.scopes = c.scopes;
  grant.expires_at = c.expires_at;
  if (c.expires_at) {
    grant.expires_in = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(*c.expires_at - clock_.wall()).count());
  }
  grant.audit_capture = settings.capture_for(ask.provider_id);
  if (ask.proxied) {
    grant.connection = std::make_shared<const Connection>(c);
    grant.provider = provider;
  } else {
    // Only a token handed out is followed by the SDK's call events naming this decision.
    d.issued = IssuedDecisions::Issued{c.app_id, c.id, c.provider_id, request_id, c.attributes};
  }

  // ---- the decision row, before the token leaves ----
  if (!to_consume) return recorded("issued", std::move(grant), extra);
  // The approval is used up in the same transaction as the decision that used it.
  merge("issued", extra);
  auto committed = audit_.commit([&] { return approvals_.consume(*to_consume); }, audit::AuditEvent{event}, false);
  if (!committed) {
    grant.access_token.wipe();
    d.issued.reset();
    if (committed.error().code == "approval_used") {
      nlohmann::json denied = policy_fields;
      denied["policy_error"] = "approval_used";
      event.erase("details");
      return refused("denied", Refusal{committed.error(), {{"request_id", request_id}}, rid}, denied);
    }
    return answer(refuse(committed.error(), rid, rid));
  }
  d.decision = "issued";
  d.outcome = std::move(grant);
  return d;
}

}  // namespace alter::server::vault
