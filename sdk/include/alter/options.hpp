#pragma once
/// @file options.hpp
/// Options are aggregates: set them with designated initializers, in declaration order.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace alter {

enum class LogLevel { Debug, Info, Warning, Error };

/// Receives the SDK's diagnostics (audit retries and drops, ...). Never receives a token or the
/// API key. Called from SDK threads: it must be thread-safe.
using LogHandler = std::function<void(LogLevel, std::string_view message)>;

/// The background audit sender: events are queued and sent in batches to the vault, so that a
/// slow or dead vault never slows `request()` down.
struct AuditOptions {
  /// Events held at most; when full the oldest is dropped and counted.
  std::size_t max_queue = 10000;
  /// A batch is sent when it holds this many events ...
  std::size_t max_batch_events = 100;
  /// ... or this many bytes of JSON ...
  std::size_t max_batch_bytes = 512 * 1024;
  /// ... or when its oldest event is this old.
  std::chrono::milliseconds max_batch_delay{200};
  /// Retry backoff after a failed send: doubles from the initial value up to the maximum.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  /// How long `close()` may spend sending what is still queued.
  std::chrono::milliseconds close_timeout{5000};
  /// Send request and response bodies (capped at 10 KB each) with each event, when the vault
  /// keeps them: the app's `audit_capture` setting decides what the vault stores (none, headers
  /// or bodies; default headers), and the SDK sends no more than that. false: never send bodies.
  bool capture_bodies = true;
};

/// How a `Vault` reaches the vault server and who it says it is.
struct VaultOptions {
  /// The application's vault API key, `alter_key_...`. Empty: `$ALTER_API_KEY` (which
  /// `alter-vault dev` writes to its dev.env); neither set is an `AlterSDKError`.
  std::string api_key;
  /// The vault's address. Empty: `$ALTER_VAULT_URL`, else `http://127.0.0.1:8787`.
  std::string base_url;
  /// Timeout of each HTTP call (to the vault, and to the provider unless a request overrides it).
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// `"ai_agent"` or `"mcp_server"`, or empty for a plain application.
  std::string actor_type;
  /// A unique identifier of the agent, e.g. `"email-assistant-v2"`.
  std::string actor_identifier;
  std::string actor_name;
  std::string actor_version;
  /// The AI framework, e.g. `"langgraph"`.
  std::string framework;
  /// The MCP client type, e.g. `"cursor"`.
  std::string client_type;

  /// A PEM bundle of trusted CAs for TLS (the vault's and providers'); empty: the system's.
  std::string ca_file;
  AuditOptions audit;
  /// Threads serving `request_async`.
  std::size_t async_threads = 4;
  /// Largest provider response body accepted (on a direct call and through the proxy); a larger
  /// one is a `NetworkError`.
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  /// Optional diagnostics sink.
  LogHandler logger;
  /// true: `request()` and `request_async()` always go through the vault's proxy, as
  /// `proxy_request()` does (the token never leaves the vault). false (the default): `request()`
  /// asks for a token and calls the provider itself, and switches to the proxy on its own when the
  /// vault says the app has token handout off (remembered for this `Vault`) or a policy rule
  /// requires the proxy for the call (that call only).
  bool always_proxy = false;
};

/// Per-call arguments of `Vault::request` and `Vault::proxy_request`, named as in the Python SDK.
/// Through the proxy, `reason`, `run_id`, `thread_id` and `tool_call_id` travel in headers: a
/// control character (CR, LF, tab, ...) in one of them is an `AlterSDKError` (UTF-8 is fine), and
/// `extra_headers` must not set `x-api-key` or `x-alter-*`.
struct RequestOptions {
  /// User attributes that select the connection, e.g. `{{"user_id", "alice"}}`.
  std::map<std::string, std::string> user;
  /// Values for `{name}` placeholders in the URL; each is percent-encoded as one path segment (an
  /// empty value, `.` or `..` is an `AlterSDKError`: it would change the path).
  std::map<std::string, std::string> path_params;
  /// Query parameters, percent-encoded and appended to any query already in the URL.
  std::map<std::string, std::string> query_params;
  /// Headers sent to the provider as given. `Authorization` cannot be set.
  std::map<std::string, std::string> extra_headers;
  /// A JSON body; sets `Content-Type: application/json`.
  std::optional<nlohmann::json> json;
  /// Why the call is made; recorded in the audit trail and checked by policies that require one.
  std::string reason;
  /// Agent run, thread and tool-call ids, recorded in the audit trail.
  std::string run_id;
  std::string thread_id;
  std::string tool_call_id;

  /// A raw body, as an alternative to `json` (setting both is an error) ...
  std::optional<std::string> body;
  /// ... and its content type (default `application/octet-stream`).
  std::string content_type;
  /// Overrides `VaultOptions::timeout` for this call. Through the proxy it is the vault's timeout
  /// for the provider call; the SDK waits for the vault a few seconds longer.
  std::optional<std::chrono::milliseconds> timeout;
  /// When a policy requires a person's approval: unset, `request` throws ApprovalRequiredError at
  /// once; set, it waits up to this long (polling with backoff), then proceeds once approved, or
  /// throws PolicyViolationError when the approval is denied or expires (ApprovalRequiredError if
  /// still pending at the deadline). Through the proxy, the approved call is the same request sent
  /// again (same method, URL, headers and body bytes) naming the approval.
  std::optional<std::chrono::milliseconds> wait_for_approval;
};

}  // namespace alter
