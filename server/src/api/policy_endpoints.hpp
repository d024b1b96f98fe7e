#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// Policy documents (apply, list, show, diff, test) under /v1/admin/apps/{app}/.
void add_policy_routes(http::Router& router, Services& services);

}  // namespace alter::server::api
