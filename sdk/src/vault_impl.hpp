#pragma once
#include <alter/common/clock.hpp>
#include <alter/vault.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "vault_protocol.hpp"

#include "audit_sender.hpp"
#include "executor.hpp"
#include "transport.hpp"

namespace alter::internal {

/// What a Vault is built from. Production uses two separate libcurl transports, so the vault's
/// connections (which carry the API key) and the providers' (which carry tokens) never mix.
struct VaultDeps {
  std::shared_ptr<Transport> vault_transport;
  std::shared_ptr<Transport> provider_transport;
  const common::Clock* clock = &common::SystemClock::instance();
  bool threaded_audit = true;
  /// How waiting (for an approval) passes time; tests advance a FakeClock instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
};

class VaultImpl {
 public:
  VaultImpl(VaultOptions options, VaultDeps deps);
  ~VaultImpl();

  /// `force_proxy`: `proxy_request`, the call goes through the vault's proxy whatever happens.
  /// `cancelled` (optional): set by AsyncRequest::cancel(); a wait for an approval ends on it.
  /// `admitted`: already counted in flight (a request_async accepted before close()).
  Response request(const ProviderId& provider, HttpMethod method, std::string_view url,
                   const RequestOptions& options, bool force_proxy = false,
                   const std::atomic<bool>* cancelled = nullptr, bool admitted = false);
  std::future<Response> request_async(std::shared_ptr<VaultImpl> self, ProviderId provider, HttpMethod method,
                                      std::string url, RequestOptions options, bool force_proxy = false);
  /// Runs `request` on the executor and reports to `done`; skipped (done gets "cancelled") when
  /// `cancelled` is set before it starts.
  void request_with_callback(std::shared_ptr<VaultImpl> self, ProviderId provider, HttpMethod method, std::string url,
                             RequestOptions options, bool force_proxy, std::shared_ptr<std::atomic<bool>> cancelled,
                             ResponseCallback done);
  bool flush(std::chrono::milliseconds timeout) { return audit_->flush(timeout); }
  void close() noexcept;
  bool closed() const noexcept;
  AuditStats audit_stats() const { return audit_->stats(); }
  const std::string& base_url() const noexcept { return options_.base_url; }
  AuditSender& audit_sender() { return *audit_; }
  /// True once the vault said it hands out no token (token_handout off): request() uses the proxy.
  bool token_handout_disabled() const noexcept { return token_handout_disabled_.load(std::memory_order_relaxed); }

 private:
  class InFlight;
  void log(LogLevel level, const std::string& message) const;
  /// POST /oauth/token, waiting for an approval when the request allows it. Empty when the vault
  /// wants this call made through its proxy (token handout off, or a rule requiring the proxy).
  std::optional<TokenGrant> fetch_token(TokenRequest& request, const RequestOptions& options,
                                        std::chrono::milliseconds timeout, const std::atomic<bool>* cancelled);
  /// Polls the approval `pending` names until a person decides: returns once it is approved, raises
  /// PolicyViolationError when it is denied, expired or used, and `pending` at the deadline.
  /// Ends early (AlterSDKError) once `cancelled` is set.
  void await_approval(const SdkError& pending, std::chrono::milliseconds wait, std::chrono::milliseconds timeout,
                      const std::atomic<bool>* cancelled);
  /// The call through the vault's proxy endpoint; the vault audits it, so nothing is queued here.
  Response proxy_call(const ProviderId& provider, const std::string& method_name, const std::string& url,
                      const std::string& host, const RequestOptions& options, std::chrono::milliseconds timeout,
                      const std::atomic<bool>* cancelled);
  SendOutcome send_audit_batch(const std::string& body, std::chrono::milliseconds timeout);

  VaultOptions options_;
  VaultDeps deps_;
  std::unique_ptr<AuditSender> audit_;
  Executor executor_;

  mutable std::mutex state_mu_;
  std::condition_variable idle_;
  std::size_t in_flight_ = 0;
  bool closed_ = false;
  /// Set once the vault answers `token_handout_disabled`: this app never gets tokens, so every later
  /// request() goes straight to the proxy instead of asking for one first.
  std::atomic<bool> token_handout_disabled_{false};
  /// Providers whose credential never leaves the vault (the vault said `proxy_required` with
  /// `details.credential`): their calls go straight to the proxy. Few, and read on every request.
  bool proxy_only(const std::string& provider) const {
    if (!any_proxy_only_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(proxy_only_mu_);
    return proxy_only_.count(provider) > 0;
  }
  void remember_proxy_only(const std::string& provider) {
    std::lock_guard lock(proxy_only_mu_);
    if (proxy_only_.size() < 1024) proxy_only_.insert(provider);
    any_proxy_only_.store(true, std::memory_order_release);
  }
  mutable std::mutex proxy_only_mu_;
  std::set<std::string> proxy_only_;
  std::atomic<bool> any_proxy_only_{false};
};

/// Lets tests build a Vault over fake transports and an injected clock.
struct VaultAccess {
  static Vault make(VaultOptions options, VaultDeps deps);
  static VaultImpl& impl(Vault& vault) { return *vault.impl_; }
};

/// Checks the options and fills defaults (base_url from $ALTER_VAULT_URL). Throws AlterSDKError.
VaultOptions validated_options(VaultOptions options);

}  // namespace alter::internal
