#pragma once
// Vocabulary shared by the server's parts.
#include <alter/common/result.hpp>

#include <chrono>
#include <map>
#include <string>

namespace alter::server {

using TimePoint = std::chrono::system_clock::time_point;
using Attributes = std::map<std::string, std::string>;

/// Canonical error codes of the vault's domain (after google-cloud-cpp's StatusCode). The wire's
/// HTTP status is chosen from them in one place (api/errors.cpp); domain code never names a status.
enum class Errc {
  kInvalidArgument,     // the request is malformed or names something that cannot be
  kFailedPrecondition,  // well-formed, but the state refuses it (a dead grant, a provider not set up)
  kUnauthenticated,     // no valid credential
  kPermissionDenied,    // a policy, the guard or an approval refuses it
  kNotFound,
  kConflict,            // exists already, or changed meanwhile
  kTooLarge,
  kResourceExhausted,   // a rate or size limit
  kUnimplemented,
  kBadGateway,          // the provider failed or could not be reached
  kGatewayTimeout,      // the provider did not answer in time
  kUnavailable,         // the store or the audit trail cannot be written: fail closed
  kInternal,
};

std::string_view to_string(Errc errc);

/// An error with its canonical code and the stable wire code a client sees.
struct Error {
  Errc errc = Errc::kInternal;
  std::string code;     // "invalid_request", "unavailable", ...
  std::string message;  // safe to show: never a secret
};

template <class T>
using Result = common::Result<T, Error>;

inline Error make_error(Errc errc, std::string code, std::string message) {
  return Error{errc, std::move(code), std::move(message)};
}

}  // namespace alter::server
