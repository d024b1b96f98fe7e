#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// /v1/admin/... (admin credential required).
void add_admin_routes(http::Router& router, Services& services);

/// Deletes a connection: revokes its tokens at the provider where it supports it, then deletes
/// it, whatever the revocation's outcome (recorded in the audit trail).
Result<nlohmann::json> delete_connection(Services& s, const Connection& c, const std::string& by);

nlohmann::json connection_json(const Connection& c);

}  // namespace alter::server::api
