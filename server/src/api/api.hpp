#pragma once
// The HTTP face of the vault: routes that parse a request, call one domain service and render its
// answer. Errors become answers in one place (errors.cpp: canonical code -> status). Every route
// declares its authentication when it is registered.
#include <functional>
#include <memory>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/router.hpp"
#include "oauth/catalog.hpp"
#include "vault/admin.hpp"
#include "vault/approvals.hpp"
#include "vault/audit_trail.hpp"
#include "vault/authenticator.hpp"
#include "vault/background.hpp"
#include "vault/connections.hpp"
#include "vault/console_sessions.hpp"
#include "vault/policies.hpp"
#include "vault/proxy.hpp"
#include "vault/token_broker.hpp"

namespace alter::server::api {

/// What the routes call: the domain services (and the catalog, read for listings).
struct Api {
  const Config& config;
  Metrics& metrics;
  Logger& log;
  std::shared_ptr<oauth::Catalog> catalog;
  vault::Authenticator& authenticator;
  vault::TokenBroker& broker;
  vault::ProxyService& proxy;
  vault::AuditTrail& trail;
  vault::ConnectionService& connections;
  vault::ApprovalService& approvals;
  vault::AdminService& admin;
  vault::PolicyService& policies;
  vault::KeyRotation& rotation;
  vault::ConsoleSessions& console_sessions;
  std::function<bool()> draining;
};

/// Authentication of declared routes (x-api-key, Authorization: Bearer), error rendering, and
/// the report of a handler that threw (logged without its message: it may hold a secret).
http::RouterHooks router_hooks(Api& api);

void add_sdk_routes(http::Router& router, Api& api);
void add_admin_routes(http::Router& router, Api& api);
void add_policy_routes(http::Router& router, Api& api);
void add_connect_routes(http::Router& router, Api& api);
void add_web_routes(http::Router& router, Api& api);
void add_console_routes(http::Router& router, Api& api);

}  // namespace alter::server::api
