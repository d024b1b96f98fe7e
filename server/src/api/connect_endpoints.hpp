#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// POST /v1/connect/sessions (API key), POST /v1/admin/apps/{app}/connect-sessions (admin),
/// GET /connect/{token} (the user's browser), GET /oauth/callback (the provider's redirect).
void add_connect_routes(http::Router& router, Services& services);

}  // namespace alter::server::api
