#pragma once
// The SDK talks to HTTP through this interface: libcurl is one implementation (curl_transport),
// tests plug in a fake. Retry and audit are pieces around it, not branches inside it.
#include <alter/common/result.hpp>
#include <alter/response.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace alter::internal {

struct HttpRequest {
  std::string method;  // "GET", ...
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool has_body = false;  // send a body (possibly empty) even for methods that usually carry none
  std::chrono::milliseconds timeout{30000};
  /// When set, the body sent instead of `body`, shared and not copied (a proxied upload that may
  /// be sent again after a refresh or a Retry-After).
  std::shared_ptr<const std::string> shared_body;
  /// Largest response body accepted (kTooLarge past it); 0: the transport's own limit.
  std::size_t max_response_bytes = 0;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  int http_version = 11;
  std::chrono::milliseconds elapsed{0};
};

enum class TransportErrorKind { kConnect, kTimeout, kTooLarge, kProtocol, kOther };

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::kOther;
  std::string message;  // never holds a header value
};

using TransportResult = common::Result<HttpResponse, TransportError>;
/// Called once with the outcome of send_async.
using TransportCallback = std::function<void(TransportResult)>;

class Transport {
 public:
  virtual ~Transport() = default;
  /// Performs one exchange. Thread-safe. Header values of `request` may hold a secret: an
  /// implementation must not log them and must wipe its own copies.
  virtual TransportResult send(const HttpRequest& request) = 0;
  /// Starts one exchange and returns at once, holding no thread while it is in flight. `done` runs
  /// once, on the transport's own thread: it must only hand the result over, never block. The
  /// default (for test fakes) performs the exchange with send() on the calling thread.
  virtual void send_async(HttpRequest request, TransportCallback done) { done(send(request)); }
  /// Ends every asynchronous exchange still in flight with an error (their callbacks run before
  /// this returns) and fails later ones at once: for a shutdown, while what the callbacks reach
  /// is still alive.
  virtual void close_async() {}
  /// Runs `task` after `delay` on the transport's thread (a retry's back-off), holding no thread
  /// meanwhile; close_async() runs the tasks still waiting at once, so none is lost. The default
  /// (for test fakes) runs it now.
  virtual void post_after(std::chrono::milliseconds delay, std::function<void()> task) {
    (void)delay;
    task();
  }
};

}  // namespace alter::internal
