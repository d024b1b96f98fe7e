#pragma once
// The web console's session cookie, shared by its routes and the admin routes' authentication.
#include "core/config.hpp"

namespace alter::server::api {

inline constexpr const char* kConsoleCookie = "alter_console";
/// The cookie is Secure when the vault serves TLS or is reached through https (public_url).
bool console_cookie_secure(const Config& config);

}  // namespace alter::server::api
