#pragma once
// An HTTP/1.1 server on 127.0.0.1 and a free port, for tests: it records every request and answers
// with a handler. One thread per connection; keep-alive supported, so tests can count connections.
#include <alter/response.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace alter::testing {

struct RecordedRequest {
  std::string method;
  std::string target;  // path and query as sent
  Headers headers;
  std::string body;
  int connection = 0;  // which accepted connection carried it (1, 2, ...)

  std::string header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
};

struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Hold the answer until the server stops or `release_held()` is called: for timeout tests,
  /// without sleeping.
  bool hold = false;
  bool close_connection = false;

  static CannedResponse json(int status, const std::string& body) {
    CannedResponse r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body;
    return r;
  }
};

class HttpTestServer {
 public:
  using Handler = std::function<CannedResponse(const RecordedRequest&)>;

  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  std::uint16_t port() const;
  /// `http://127.0.0.1:PORT`
  std::string base_url() const;
  std::vector<RecordedRequest> requests() const;
  /// Requests whose target starts with `prefix`.
  std::vector<RecordedRequest> requests_to(std::string_view prefix) const;
  int connections_accepted() const;
  void set_handler(Handler handler);
  /// Lets held answers go.
  void release_held();
  /// Waits (on a condition, not a sleep) until `n` requests have arrived or `timeout` passes.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace alter::testing
