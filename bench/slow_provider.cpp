// slow_provider: a stand-in OAuth token endpoint that holds every answer, for phase f of bench/run.sh
// (many refreshes in flight at once against a provider that takes its time).
//   slow_provider --port P [--hold-ms 500]
// POST /token   answered after --hold-ms with a fresh bearer token (a timer, not a thread: one thread
//               holds any number of answers)
// GET  /api/... answered after --hold-ms with {"ok":true} (a provider API the vault's proxy calls)
// GET  /stats   {"token_requests": N, "max_in_flight": M, "connections": C, "max_connections": D,
//                "first_request_unix_ms": T0, "last_request_unix_ms": T1, "cpu_seconds": S}
// Keep-alive HTTP/1.1 on 127.0.0.1, single-threaded (Asio + Beast, C++20 coroutines).
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "process_stats.hpp"

namespace {

using alter::bench::cpu_seconds;
using alter::bench::unix_ms;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Stats {
  long token_requests = 0;
  long api_requests = 0;
  long in_flight = 0;
  long max_in_flight = 0;
  long connections = 0;
  long max_connections = 0;
  long long first_request_unix_ms = 0;  // when the first and the last POST /token arrived
  long long last_request_unix_ms = 0;
};

asio::awaitable<void> serve(tcp::socket socket, Stats& stats, std::chrono::milliseconds hold) {
  ++stats.connections;
  stats.max_connections = std::max(stats.max_connections, stats.connections);
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    co_await http::async_read(socket, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    const bool token = req.method() == http::verb::post && req.target() == "/token";
    const bool api = req.method() == http::verb::get && req.target().starts_with("/api/");
    if (token || api) {
      // Held for --hold-ms on a timer; counted as the first and last arrival of either kind.
      const long n = token ? ++stats.token_requests : ++stats.api_requests;
      stats.last_request_unix_ms = unix_ms();
      if (stats.token_requests + stats.api_requests == 1) stats.first_request_unix_ms = stats.last_request_unix_ms;
      stats.max_in_flight = std::max(stats.max_in_flight, ++stats.in_flight);
      asio::steady_timer timer(socket.get_executor(), hold);
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      --stats.in_flight;
      res.body() = token ? R"({"access_token":"slow-refreshed-token-)" + std::to_string(n) + R"(","token_type":"Bearer","expires_in":3600})"
                         : std::string(R"({"ok":true})");
    } else if (req.method() == http::verb::get && req.target() == "/stats") {
      res.body() = R"({"token_requests":)" + std::to_string(stats.token_requests) + R"(,"api_requests":)" +
                   std::to_string(stats.api_requests) + R"(,"max_in_flight":)" +
                   std::to_string(stats.max_in_flight) + R"(,"connections":)" + std::to_string(stats.connections) +
                   R"(,"max_connections":)" + std::to_string(stats.max_connections) +
                   R"(,"first_request_unix_ms":)" + std::to_string(stats.first_request_unix_ms) +
                   R"(,"last_request_unix_ms":)" + std::to_string(stats.last_request_unix_ms) +
                   R"(,"cpu_seconds":)" + std::to_string(cpu_seconds()) + "}";
    } else {
      res.result(http::status::not_found);
      res.body() = R"({"error":"not_found"})";
    }
    res.prepare_payload();
    co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !req.keep_alive()) break;
  }
  --stats.connections;
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, Stats& stats, std::chrono::milliseconds hold) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // Out of descriptors or a reset before accept: wait a little rather than spin.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(10));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), stats, hold), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  long hold_ms = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (flag == "--hold-ms") hold_ms = std::stol(argv[i + 1]);
    else {
      std::cerr << "usage: slow_provider --port P [--hold-ms 500]\n";
      return 2;
    }
  }
  alter::bench::raise_open_file_limit();
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  Stats stats;
  asio::co_spawn(io, listen(acceptor, stats, std::chrono::milliseconds(hold_ms)), asio::detached);
  io.run();
  return 0;
}
