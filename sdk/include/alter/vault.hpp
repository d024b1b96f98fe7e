#pragma once
/// @file vault.hpp

#include <alter/errors.hpp>
#include <alter/http_method.hpp>
#include <alter/options.hpp>
#include <alter/provider.hpp>
#include <alter/response.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace alter {

namespace internal {
class VaultImpl;
struct VaultAccess;
}  // namespace internal

/// Counters of the background audit sender.
struct AuditStats {
  std::uint64_t enqueued = 0;
  std::uint64_t sent = 0;
  /// Dropped because the queue was full (oldest first).
  std::uint64_t dropped_queue_full = 0;
  /// Dropped because the vault refused them (4xx) or `close()` ran out of time.
  std::uint64_t dropped_rejected = 0;
  std::uint64_t dropped_on_close = 0;
  /// Failed send attempts that were retried.
  std::uint64_t retries = 0;
  std::uint64_t queued = 0;
};

/// Receives the outcome of a callback-style `request_async` / `proxy_request_async`: the response,
/// or (with `response` empty) the exception `request` would have thrown. Runs once, on one of the
/// SDK's threads: it must hand the outcome over and return, neither blocking nor throwing.
using ResponseCallback = std::function<void(std::optional<Response> response, std::exception_ptr error)>;

/// A request started with a `ResponseCallback`. Copies refer to the same request.
class AsyncRequest {
 public:
  AsyncRequest() = default;
  /// A request still waiting for an SDK thread is not sent: its callback receives an
  /// `AlterSDKError` ("cancelled"). One already under way runs to its end and reports as usual.
  /// Idempotent, thread-safe, never throws.
  void cancel() noexcept {
    if (cancelled_) cancelled_->store(true, std::memory_order_relaxed);
  }

 private:
  friend class Vault;
  explicit AsyncRequest(std::shared_ptr<std::atomic<bool>> cancelled) : cancelled_(std::move(cancelled)) {}
  std::shared_ptr<std::atomic<bool>> cancelled_;
};

/// A client of one Alter Vault, acting as one actor (an application, an AI agent or an MCP
/// server). Each agent should have its own `Vault`, so audit and policies see distinct actors.
///
/// Thread-safety: one `Vault` may be used from many threads at once; `request`, `request_async`,
/// `proxy_request`, `proxy_request_async`, `flush`, `audit_stats` and `close` may be called
/// concurrently.
class Vault {
 public:
  /// Validates the options (api_key, or else `$ALTER_API_KEY`, starts with `alter_key_`, actor_type is `ai_agent` or
  /// `mcp_server` when set, base_url is an http(s) URL). Throws `AlterSDKError` when they are not
  /// valid. Makes no network call.
  explicit Vault(VaultOptions options);
  /// Closes the vault (see `close()`).
  ~Vault();
  Vault(Vault&&) noexcept;
  Vault& operator=(Vault&&) noexcept;
  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;

  /// Calls a provider's API on a user's behalf. With token handout on for the app: asks the vault
  /// for a token (policy-checked and audited), calls `url` with it, and queues an audit event of
  /// the call; the token never leaves the SDK. Otherwise (the default for new apps) through the
  /// vault's proxy, as below: the token never leaves the vault.
  ///
  /// Goes through the vault's proxy instead (see `proxy_request`) when `VaultOptions::always_proxy`
  /// is set, when the vault answers that the app has token handout off (`token_handout_disabled`:
  /// this call and every later one of this `Vault` go through the proxy, with no extra round trip),
  /// or when a policy rule requires the proxy for this call (`proxy_required`: this call only).
  ///
  /// Throws `AlterSDKError` on invalid arguments (before anything is sent) or after `close()`;
  /// `PolicyViolationError`, `ApprovalRequiredError`, `ConnectionNotFoundError`,
  /// `TokenExpiredError` or `TokenRetrievalError` when the vault refuses; `NetworkError` or
  /// `TimeoutError` when the vault or the provider cannot be reached in time;
  /// `ProviderAPIError` when the provider answers with a status >= 400.
  Response request(const ProviderId& provider, HttpMethod method, std::string_view url,
                   RequestOptions options = {});

  /// `request` on one of the SDK's worker threads. The future holds the response or the exception
  /// `request` would have thrown.
  std::future<Response> request_async(ProviderId provider, HttpMethod method, std::string url,
                                      RequestOptions options = {});

  /// `request` on one of the SDK's worker threads, reporting to `done` instead of a future (for
  /// event loops: nothing waits on a future). Throws `AlterSDKError` after `close()`, and then
  /// `done` is not called; otherwise `done` is called exactly once, also when `close()` runs first.
  AsyncRequest request_async(ProviderId provider, HttpMethod method, std::string url, RequestOptions options,
                             ResponseCallback done);

  /// Calls a provider's API on a user's behalf through the vault's proxy (`<method> /v1/proxy`):
  /// the vault checks the policy, injects the credential, makes the call and audits it, so the
  /// token never leaves the vault and the SDK queues no audit event of its own. Same arguments,
  /// `Response` and exceptions as `request`: the provider's status >= 400 is `ProviderAPIError`;
  /// the vault's refusals map as for a token request, plus `TimeoutError` when the provider did
  /// not answer the vault in time (`provider_timeout`), `NetworkError` when the vault could not
  /// reach it or its answer was too large (`provider_unreachable`, `provider_response_too_large`),
  /// and `AlterSDKError` when the request is too large for the vault (`request_too_large`).
  /// With `RequestOptions::wait_for_approval` set, an approved call is the same request (same
  /// method, URL, headers and body bytes) sent again with `x-alter-approval-id`.
  /// `Response::request_id()` is the vault's id of the call (its audit record).
  Response proxy_request(const ProviderId& provider, HttpMethod method, std::string_view url,
                         RequestOptions options = {});

  /// `proxy_request` on one of the SDK's worker threads, as `request_async` is to `request`.
  std::future<Response> proxy_request_async(ProviderId provider, HttpMethod method, std::string url,
                                            RequestOptions options = {});
  /// `proxy_request` reporting to `done`, as the callback form of `request_async`.
  AsyncRequest proxy_request_async(ProviderId provider, HttpMethod method, std::string url, RequestOptions options,
                                   ResponseCallback done);

  /// Sends every queued audit event now and waits up to `timeout`. Returns true when the queue
  /// was emptied. Never throws.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// Waits for requests in flight, sends the queued audit events (within
  /// `AuditOptions::close_timeout`) and releases connections. Idempotent; later `request()` calls
  /// throw `AlterSDKError`. Never throws.
  void close() noexcept;
  bool closed() const noexcept;

  AuditStats audit_stats() const;
  /// The base URL in use (after defaults).
  const std::string& base_url() const noexcept;

 private:
  friend struct internal::VaultAccess;
  // Two arguments, so that `Vault vault({})` (all options from the environment) is not ambiguous.
  Vault(internal::VaultAccess* /*tag*/, std::shared_ptr<internal::VaultImpl> impl);
  std::shared_ptr<internal::VaultImpl> impl_;
};

}  // namespace alter
