#pragma once
// Internal description of an SDK failure. Functions inside the SDK return it; `raise` turns it
// into the public exception at the API boundary.
#include <nlohmann/json.hpp>

#include <string>

namespace alter::internal {

enum class ErrorKind {
  kValidation,          // AlterSDKError
  kTokenRetrieval,      // TokenRetrievalError
  kPolicy,              // PolicyViolationError
  kConnectionNotFound,  // ConnectionNotFoundError
  kTokenExpired,        // TokenExpiredError
  kApprovalRequired,    // ApprovalRequiredError
  kNetwork,             // NetworkError
  kTimeout,             // TimeoutError
  kProviderApi,         // ProviderAPIError
};

struct SdkError {
  ErrorKind kind = ErrorKind::kValidation;
  std::string message;
  nlohmann::json details = nlohmann::json::object();
  int status = 0;
  std::string code;  // the vault's `error` (policy error code for kPolicy)
  std::string connection_id;
  std::string approval_id;
  std::string approval_url;
  std::string response_body;
};

inline SdkError validation_error(std::string message) {
  SdkError e;
  e.kind = ErrorKind::kValidation;
  e.message = std::move(message);
  return e;
}

[[noreturn]] void raise(const SdkError& error);

}  // namespace alter::internal
