#pragma once
// The HTTP server (Boost.Beast + Asio, C++20 coroutines), after Beast's advanced awaitable
// example: one coroutine per connection on its own strand, a body limit, read and idle timeouts,
// keep-alive, optional TLS, graceful shutdown that finishes requests in flight. The handler is
// called on the connection's I/O thread and answers through a Reply, at once or when what it
// awaits completes (the audit group commit, say), from any thread: it must not block, and hands
// blocking work (the database, outgoing HTTP) to the worker pool with post_work().
// No Boost type appears in this header.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/types.hpp"
#include "http/types.hpp"

namespace alter::server::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8787;  // 0: any free port (see HttpServer::port())
  std::string tls_cert;        // PEM files: both set serves HTTPS
  std::string tls_key;
  std::size_t io_threads = 1;
  std::size_t worker_threads = 16;
  std::size_t body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  /// Reading one request, headers and body, must finish within this (from its first byte).
  std::chrono::milliseconds read_timeout{30000};
  /// A keep-alive connection waiting for its next request is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds shutdown_timeout{30000};
  /// Connections served at once; past it a new one gets 503 too_many_connections and is closed.
  /// 0: three quarters of the open-file limit, less 64 (descriptors for the database and outgoing
  /// calls stay free).
  std::size_t max_connections = 0;
  /// Connections from one client address; past it 429 too_many_connections. 0: half of
  /// max_connections.
  std::size_t max_connections_per_ip = 0;
  /// After an answer that closes the connection, what the client still sends is read and dropped
  /// for at most this long and this many bytes (so the answer is not destroyed by a reset).
  std::chrono::milliseconds linger_timeout{2000};
  std::size_t linger_bytes = 64 * 1024;
  bool handle_signals = true;  // SIGINT and SIGTERM start a graceful shutdown
};

/// Called on the connection's I/O thread for each request; `reply` is called once. The request
/// stays valid until then.
using RequestHandler = std::function<void(Request&, Reply reply)>;
/// Called (on an I/O thread) with a short description of a connection-level failure.
using ProtocolErrorSink = std::function<void(const std::string& what, int status)>;

class HttpServer {
 public:
  HttpServer(ServerOptions options, RequestHandler handler, ProtocolErrorSink on_protocol_error = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens. After this, port() is the bound port.
  Result<void> start();
  unsigned short port() const;
  /// The connection caps in force (after defaults), for logs and tests.
  std::size_t max_connections() const;
  std::size_t max_connections_per_ip() const;
  /// Serves until stop() (or a signal) and the drain finished. Uses the calling thread as one of
  /// the I/O threads.
  void run();
  /// Starts a graceful shutdown: stop accepting, close idle connections, let requests in flight
  /// finish (up to shutdown_timeout), then return from run(). Thread-safe, idempotent.
  void stop();
  /// Runs `task` on the worker pool (blocking handlers and background jobs).
  void post_work(std::function<void()> task);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace alter::server::http
