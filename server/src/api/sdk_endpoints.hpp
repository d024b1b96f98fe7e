#pragma once
#include "api/services.hpp"
#include "http/router.hpp"

namespace alter::server::api {

/// POST /oauth/token, POST /oauth/audit/api-call, POST /oauth/audit/batch,
/// GET /oauth/providers/ids, GET /oauth/approvals/{id}.
void add_sdk_routes(http::Router& router, Services& services);

/// The URL guard: https (http only for loopback in dev mode), no user info, no odd port, and a
/// host among `allowed`. Returns the policy's view of the URL (lower-case host, decoded path).
struct CheckedUrl {
  std::string host;
  std::string path;
};
Result<CheckedUrl> check_token_url(const std::string& url, const std::vector<std::string>& allowed, bool dev_mode);

}  // namespace alter::server::api
