#pragma once
#include "transport.hpp"

#include <cstddef>
#include <memory>
#include <string>

namespace alter::internal {

struct CurlTransportOptions {
  std::string ca_file;
  std::string user_agent;
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  /// Idle easy handles kept (each keeps its live connections for keep-alive).
  std::size_t max_idle_handles = 64;
  /// Connections the asynchronous client opens at once (past it, exchanges wait for one to
  /// free up); 0: no cap. Keeps the process inside its open-file limit.
  std::size_t max_connections = 0;
};

/// A libcurl transport: a pool of easy handles, each keeping its connections alive, sharing DNS
/// and TLS sessions. HTTP/2 is negotiated by ALPN over TLS. Redirects are never followed, so a
/// credential is never replayed to another host.
std::shared_ptr<Transport> make_curl_transport(CurlTransportOptions options);

}  // namespace alter::internal
