#pragma once
// The one table from the domain's canonical codes to HTTP, and error answers.
#include <nlohmann/json.hpp>

#include "core/types.hpp"
#include "http/types.hpp"
#include "vault/types.hpp"

namespace alter::server::api {

int http_status(Errc errc);

/// `{"error": code, "message": message, "details": details}` plus any `extra` top-level fields.
http::Response error_response(const Error& e, const nlohmann::json& details = nlohmann::json::object(),
                              const nlohmann::json& extra = nlohmann::json::object());
http::Response error_response(const vault::Refusal& r);

}  // namespace alter::server::api
