#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// POST /oauth/token, POST /oauth/audit/api-call, POST /oauth/audit/batch,
/// GET /oauth/providers/ids, GET /oauth/approvals/{id}.
void add_sdk_routes(http::Router& router, Services& services);

}  // namespace alter::server::api
