#pragma once
// Generated SQL of the PostgreSQL store, visible to tests that check its query plans.
#include <string>

#include "store/store.hpp"

namespace alter::server::pg {

/// The find_connections query for this filter's shape. Parameters, in order: per attribute
/// (app_id, [provider_id], name, value); then app_id, [provider_id], [status], limit.
std::string find_connections_sql(const ConnectionFilter& filter);

/// The query_audit query for this filter's shape. Parameters, in order: after_seq, [since],
/// each text filter that is set (app, actor, user, provider, decision, kind, request,
/// connection), [since], [until], limit.
std::string query_audit_sql(const AuditFilter& filter);

}  // namespace alter::server::pg
