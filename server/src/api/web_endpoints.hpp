#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// /healthz, /readyz, /metrics, and the approval page /approvals/{id}.
void add_web_routes(http::Router& router, Services& services, std::function<bool()> draining);

}  // namespace alter::server::api
