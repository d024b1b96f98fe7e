#pragma once
/// @file errors.hpp
/// The SDK's exception hierarchy, mirroring the Python SDK's `alter_sdk.exceptions`.
///
///   AlterSDKError                    every SDK error, including validation failures
///   ├── TokenRetrievalError          the vault refused or failed to hand out a token
///   │   ├── PolicyViolationError     403: a policy denied the call (`policy_error()`)
///   │   ├── ConnectionNotFoundError  404: no OAuth connection for these user attributes
///   │   ├── TokenExpiredError        400/502: the grant is dead or could not be refreshed
///   │   └── ApprovalRequiredError    403: a person must approve the call first
///   ├── NetworkError                 the vault or the provider could not be reached
///   │   └── TimeoutError             the call timed out (safe to retry)
///   └── ProviderAPIError             the provider answered with a status >= 400
///
/// No message or detail ever contains a token or the API key. Exceptions are cheap to copy
/// (their data is shared) and copying never throws.

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace alter {

class AlterSDKError : public std::runtime_error {
 public:
  explicit AlterSDKError(const std::string& message, nlohmann::json details = nlohmann::json::object());

  /// The human-readable message (same text as `what()`).
  const std::string& message() const noexcept;
  /// Structured details: for vault errors the `details` object of the vault's answer, plus
  /// `status` and `error` where known. Never holds a secret.
  const nlohmann::json& details() const noexcept;

 private:
  struct Data;
  std::shared_ptr<const Data> data_;
};

/// The vault did not hand out a token (any status not covered by a subclass, e.g. 401
/// `invalid_api_key`, 409 `ambiguous_connection`, 503 when the vault cannot audit).
class TokenRetrievalError : public AlterSDKError {
 public:
  using AlterSDKError::AlterSDKError;
  /// The HTTP status the vault answered with (0 when not from an HTTP answer).
  int status() const noexcept;
  /// The vault's `error` code, e.g. `"invalid_api_key"`.
  std::string error_code() const;
};

/// A policy denied the request (HTTP 403).
class PolicyViolationError : public TokenRetrievalError {
 public:
  PolicyViolationError(const std::string& message, std::string policy_error,
                       nlohmann::json details = nlohmann::json::object());
  /// A stable code: `no_matching_rule`, `denied_by_rule`, `rate_limited`, `url_not_allowed`, ...
  const std::string& policy_error() const noexcept;

 private:
  std::shared_ptr<const std::string> policy_error_;
};

/// No OAuth connection matches the user attributes (HTTP 404): the user needs to connect.
class ConnectionNotFoundError : public TokenRetrievalError {
 public:
  using TokenRetrievalError::TokenRetrievalError;
};

/// The connection's grant is dead (400, re-authorization needed) or the provider could not refresh
/// it right now (502).
class TokenExpiredError : public TokenRetrievalError {
 public:
  TokenExpiredError(const std::string& message, std::string connection_id,
                    nlohmann::json details = nlohmann::json::object());
  const std::string& connection_id() const noexcept;

 private:
  std::shared_ptr<const std::string> connection_id_;
};

/// A policy requires a person's approval before this exact call may go ahead (HTTP 403).
class ApprovalRequiredError : public TokenRetrievalError {
 public:
  ApprovalRequiredError(const std::string& message, std::string approval_id, std::string approval_url,
                        nlohmann::json details = nlohmann::json::object());
  const std::string& approval_id() const noexcept;
  /// A page where an approver can see the request and decide.
  const std::string& approval_url() const noexcept;

 private:
  struct Ids;
  std::shared_ptr<const Ids> ids_;
};

/// The vault or the provider could not be reached, or the connection broke.
class NetworkError : public AlterSDKError {
 public:
  using AlterSDKError::AlterSDKError;
};

/// The call did not finish within its timeout. Safe to retry.
class TimeoutError : public NetworkError {
 public:
  using NetworkError::NetworkError;
};

/// The provider's API answered with a status >= 400. The call is still audited.
class ProviderAPIError : public AlterSDKError {
 public:
  ProviderAPIError(const std::string& message, int status_code, std::string response_body,
                   nlohmann::json details = nlohmann::json::object());
  int status_code() const noexcept;
  const std::string& response_body() const noexcept;

 private:
  struct Body;
  std::shared_ptr<const Body> body_;
};

}  // namespace alter
