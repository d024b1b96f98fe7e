#include "api/errors.hpp"

namespace alter::server::api {

int http_status(Errc errc) {
  switch (errc) {
    case Errc::kInvalidArgument: return 400;
    case Errc::kFailedPrecondition: return 400;
    case Errc::kUnauthenticated: return 401;
    case Errc::kPermissionDenied: return 403;
    case Errc::kNotFound: return 404;
    case Errc::kConflict: return 409;
    case Errc::kTooLarge: return 413;
    case Errc::kResourceExhausted: return 429;
    case Errc::kUnimplemented: return 501;
    case Errc::kBadGateway: return 502;
    case Errc::kGatewayTimeout: return 504;
    case Errc::kUnavailable: return 503;
    case Errc::kInternal: return 500;
  }
  return 500;
}

http::Response error_response(const Error& e, const nlohmann::json& details, const nlohmann::json& extra) {
  return http::Response::error(http_status(e.errc), e.code, e.message, details, extra);
}

http::Response error_response(const vault::Refusal& r) { return error_response(r.error, r.details, r.extra); }

}  // namespace alter::server::api
