#include "core/types.hpp"

namespace alter::server {

std::string_view to_string(Errc errc) {
  switch (errc) {
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kFailedPrecondition: return "failed_precondition";
    case Errc::kUnauthenticated: return "unauthenticated";
    case Errc::kPermissionDenied: return "permission_denied";
    case Errc::kNotFound: return "not_found";
    case Errc::kConflict: return "conflict";
    case Errc::kTooLarge: return "too_large";
    case Errc::kResourceExhausted: return "resource_exhausted";
    case Errc::kUnimplemented: return "unimplemented";
    case Errc::kBadGateway: return "bad_gateway";
    case Errc::kGatewayTimeout: return "gateway_timeout";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace alter::server
