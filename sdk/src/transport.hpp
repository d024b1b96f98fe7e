#pragma once
// The SDK talks to HTTP through this interface: libcurl is one implementation (curl_transport),
// tests plug in a fake. Retry and audit are pieces around it, not branches inside it.
#include <alter/common/result.hpp>
#include <alter/response.hpp>

#include <chrono>
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

class Transport {
 public:
  virtual ~Transport() = default;
  /// Performs one exchange. Thread-safe. Header values of `request` may hold a secret: an
  /// implementation must not log them and must wipe its own copies.
  virtual TransportResult send(const HttpRequest& request) = 0;
};

}  // namespace alter::internal
