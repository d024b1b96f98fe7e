#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <list>
#include <unordered_map>
#include <mutex>
#include <thread>
#include <vector>

namespace alter::server::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);

namespace {

// A connection's handle for shutdown: close it if it is idle, or let its current request end.
// `close` is set, called and cleared only on the connection's strand.
struct Connection {
  asio::any_io_executor strand;
  std::function<void()> close;
  std::atomic<bool> busy{false};
};

Response bad_request_for(const beast::error_code& ec, std::size_t body_limit, int& status) {
  if (ec == bhttp::error::body_limit) {
    status = 413;
    return Response::error(413, "payload_too_large",
                           "the request body is larger than the limit of " + std::to_string(body_limit) + " bytes");
  }
  if (ec == bhttp::error::header_limit) {
    status = 431;
    return Response::error(431, "headers_too_large", "the request headers are too large");
  }
  status = 400;
  return Response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
}

bhttp::response<bhttp::string_body> to_beast(Response&& r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "alter-vault");
  // Empty: the answer has no type (a provider's answer passed on by the proxy may have none).
  if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (auto& [name, value] : r.headers) {
    // A header the answer sets itself replaces the server's default rather than doubling it.
    if (beast::iequals(name, "cache-control") || beast::iequals(name, "x-content-type-options")) {
      res.set(name, value);
    } else {
      res.insert(name, value);
    }
  }
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// What outlives a request's handler until it replies: the server waits for every one of them
// before it destroys its io_context (a pending reply owns its coroutine's frame).
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t count = 0;
  bool closed = false;  // the server is gone: a late reply is dropped, never run
};

// The Reply given to a handler: posts the answer to the coroutine's executor, once. A reply that
// is dropped unanswered answers 500 (a handler bug must not hang a connection).
template <class Completion>
class ReplyState final : public Reply::Target {
 public:
  ReplyState(Completion completion, std::shared_ptr<Pending> pending)
      : completion_(std::move(completion)),
        executor_(asio::prefer(asio::get_associated_executor(completion_), asio::execution::outstanding_work.tracked)),
        pending_(std::move(pending)) {
    std::lock_guard lock(pending_->mu);
    ++pending_->count;
  }
  ReplyState(const ReplyState&) = delete;
  ReplyState& operator=(const ReplyState&) = delete;
  ~ReplyState() override {
    if (!done_.load()) send(Response::error(500, "internal", "internal error"));
  }

  void send(Response response) override {
    deliver([r = std::move(response)]() mutable { return std::move(r); });
  }
  void send_from(std::function<Response()> make) override { deliver(std::move(make)); }

 private:
  template <class Make>
  void deliver(Make make) {
    if (done_.exchange(true)) return;
    std::lock_guard lock(pending_->mu);
    if (pending_->closed) {
      // The io_context is gone with the coroutine's connection: destroying the completion or the
      // executor that tracks work on it would touch freed memory. Both are left as they are (only
      // at a shutdown that timed out waiting for this answer).
      new Completion(std::move(completion_));
      new asio::any_io_executor(std::move(executor_));
    } else {
      asio::post(executor_, [c = std::move(completion_), make = std::move(make)]() mutable {
        Response response;
        try {
          response = make();
        } catch (const std::exception&) {
          response = Response::error(500, "internal", "internal error");
        }
        std::move(c)(std::move(response));
      });
    }
    executor_ = {};
    if (--pending_->count == 0) pending_->cv.notify_all();
  }

  Completion completion_;
  asio::any_io_executor executor_;
  std::shared_ptr<Pending> pending_;
  std::atomic<bool> done_{false};
};

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  RequestHandler handler;
  ProtocolErrorSink on_protocol_error;
  asio::io_context io;
  asio::thread_pool workers;
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::ssl::context> tls;
  asio::signal_set signals{io};
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> open_connections{0};
  std::mutex mu;
  std::list<std::weak_ptr<Connection>> connections;
  std::unique_ptr<asio::steady_timer> drain_timer;
  unsigned short bound_port = 0;
  std::size_t max_connections = 0;
  std::size_t max_per_ip = 0;
  std::mutex ip_mu;
  std::unordered_map<std::string, std::size_t> per_ip;
  std::shared_ptr<Pending> pending = std::make_shared<Pending>();

  Impl(ServerOptions o, RequestHandler h, ProtocolErrorSink sink)
      : options(std::move(o)),
        handler(std::move(h)),
        on_protocol_error(std::move(sink)),
        io(static_cast<int>(std::max<std::size_t>(options.io_threads, 1))),
        workers(std::max<std::size_t>(options.worker_threads, 1)) {}

  void protocol_error(const std::string& what, int status) {
    if (on_protocol_error) on_protocol_error(what, status);
  }

  Request to_request(bhttp::request<bhttp::string_body>& req, const std::string& remote_ip, bool& ok) {
    Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.remote_ip = remote_ip;
    r.received_at = std::chrono::steady_clock::now();
    for (const auto& field : req) r.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    r.body = std::move(req.body());
    auto parsed = boost::urls::parse_origin_form(r.target);
    ok = parsed.has_value();
    if (ok) {
      r.path = parsed->path();
      for (const auto& p : parsed->params()) {
        r.query.emplace(std::string(p.key), p.has_value ? std::string(p.value) : std::string());
      }
    }
    return r;
  }

  template <class Stream>
  awaitable<void> serve(Stream& stream, std::shared_ptr<Connection> conn, std::string remote_ip) {
    beast::flat_buffer buffer;
    auto& lowest = beast::get_lowest_layer(stream);
    for (bool first = true;; first = false) {
      if (draining) co_return;
      if (!first && buffer.size() == 0) {
        // Keep-alive: wait up to idle_timeout for the next request to begin.
        lowest.expires_after(options.idle_timeout);
        auto [ec_wait, n_wait] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
        if (ec_wait) co_return;
        buffer.commit(n_wait);
      }
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      // One deadline for the whole request, headers and body: a client sending a byte a second
      // is cut off at read_timeout, however many bytes it trickles.
      lowest.expires_after(options.read_timeout);
      auto [ec_head, n_head] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
      if (!ec_head) {
        conn->busy = true;
        auto [ec_body, n_body] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
        ec_head = ec_body;
      }
      if (ec_head) {
        conn->busy = false;
        if (ec_head == bhttp::error::end_of_stream || ec_head == asio::error::eof ||
            ec_head == beast::error::timeout || ec_head == asio::error::operation_aborted ||
            ec_head == asio::error::connection_reset || ec_head == asio::ssl::error::stream_truncated) {
          co_return;
        }
        int status = 400;
        Response err = bad_request_for(ec_head, options.body_limit, status);
        protocol_error(ec_head.message(), status);
        auto res = to_beast(std::move(err), 11, false);
        lowest.expires_after(options.read_timeout);
        co_await bhttp::async_write(stream, res, kTuple);
        co_return;
      }
      auto& raw = parser.get();
      const unsigned version = raw.version();
      const bool client_keep_alive = raw.keep_alive();
      bool target_ok = true;
      Request request = to_request(raw, remote_ip, target_ok);
      Response response;
      if (!target_ok) {
        response = Response::error(400, "bad_request", "the request target is not a valid origin-form URL");
        protocol_error("bad request target", 400);
      } else {
        // The handler answers now or later, from any thread; resume here on this connection's strand.
        response = co_await asio::async_initiate<decltype(use_awaitable), void(Response)>(
            [this, &request](auto completion) {
              Reply reply(std::make_shared<ReplyState<decltype(completion)>>(std::move(completion), pending));
              try {
                handler(request, reply);
              } catch (...) {
                reply(Response::error(500, "internal", "internal error"));
              }
            },
            use_awaitable);
      }
      const bool keep_alive = client_keep_alive && !draining;
      auto res = to_beast(std::move(response), version, keep_alive);
      lowest.expires_after(options.read_timeout);
      auto [ec_write, n_write] = co_await bhttp::async_write(stream, res, kTuple);
      conn->busy = false;
      if (ec_write || !keep_alive) co_return;
    }
  }

  awaitable<void> session(tcp::socket socket, std::string remote_ip) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto conn = std::make_shared<Connection>();
    conn->strand = co_await asio::this_coro::executor;
    // Listed for the drain; unlisted when the session ends. Constant time either way: with ten
    // thousand connections open, a sweep of the list per new one was most of an I/O thread's time.
    std::list<std::weak_ptr<Connection>>::iterator listed;
    {
      std::lock_guard lock(mu);
      listed = connections.insert(connections.end(), conn);
    }
    try {
      if (tls) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
        auto* lowest = &beast::get_lowest_layer(stream);
        conn->close = [lowest] { lowest->close(); };
        lowest->expires_after(options.read_timeout);
        auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
        if (!ec) {
          co_await serve(stream, conn, remote_ip);
          lowest->expires_after(options.linger_timeout);
          co_await stream.async_shutdown(kTuple);
        }
      } else {
        beast::tcp_stream stream(std::move(socket));
        auto* lowest = &stream;
        conn->close = [lowest] { lowest->close(); };
        co_await serve(stream, conn, remote_ip);
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        // Lingering close: read and drop what the client is still sending (a body over the limit,
        // say), so the kernel does not answer it with a reset that destroys our 4xx answer. One
        // deadline and a byte budget for all of it: a trickling client is not held longer.
        char sink[16 * 1024];
        std::size_t drained = 0;
        stream.expires_after(options.linger_timeout);
        while (drained < options.linger_bytes && !draining) {
          auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
          if (ec || n == 0) break;
          drained += n;
        }
      }
    } catch (const std::exception&) {
      // A connection's failure ends that connection only.
    }
    conn->close = nullptr;
    {
      std::lock_guard lock(mu);
      connections.erase(listed);
    }
    release(remote_ip);
  }

  void release(const std::string& ip) {
    {
      std::lock_guard lock(ip_mu);
      auto it = per_ip.find(ip);
      if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
    }
    if (--open_connections == 0 && draining) finish_drain();
  }

  // Over a cap: a short JSON answer (plain HTTP) and close; TLS connections are closed at once.
  awaitable<void> refuse(tcp::socket socket, int status, std::string message) {
    if (!tls) {
      const std::string body = "{\"error\":\"too_many_connections\",\"message\":\"" + message + "\",\"details\":{}}";
      const std::string head = "HTTP/1.1 " + std::to_string(status) + (status == 503 ? " Service Unavailable" : " Too Many Requests") +
                               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";
      beast::tcp_stream stream(std::move(socket));
      stream.expires_after(std::chrono::seconds(1));
      const std::array<asio::const_buffer, 2> parts{asio::buffer(head), asio::buffer(body)};
      co_await asio::async_write(stream, parts, kTuple);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

  awaitable<void> accept_loop() {
    asio::steady_timer backoff_timer(io);
    auto backoff = std::chrono::milliseconds(10);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
            ec.value() == ENFILE) {
          // Out of descriptors: the pending connection stays in the backlog; retrying at once
          // would spin. Wait, longer each time, while the connections we serve finish.
          protocol_error("accept: " + ec.message(), 503);
          backoff_timer.expires_after(backoff);
          co_await backoff_timer.async_wait(kTuple);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
        continue;
      }
      backoff = std::chrono::milliseconds(10);
      if (draining) co_return;
      beast::error_code ignored;
      const std::string remote_ip = socket.remote_endpoint(ignored).address().to_string();
      auto executor = socket.get_executor();
      if (open_connections.load() >= max_connections) {
        protocol_error("connection limit reached", 503);
        asio::co_spawn(executor, refuse(std::move(socket), 503, "the vault serves its maximum number of connections: retry shortly"),
                       asio::detached);
        continue;
      }
      bool over_ip = false;
      {
        std::lock_guard lock(ip_mu);
        auto& n = per_ip[remote_ip];
        over_ip = n >= max_per_ip;
        if (!over_ip) ++n;
      }
      if (over_ip) {
        protocol_error("per-address connection limit reached", 429);
        asio::co_spawn(executor, refuse(std::move(socket), 429, "too many connections from this address"), asio::detached);
        continue;
      }
      ++open_connections;
      asio::co_spawn(executor, session(std::move(socket), remote_ip), asio::detached);
    }
  }

  void begin_drain() {
    if (draining.exchange(true)) return;
    beast::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard lock(mu);
      for (auto& w : connections) {
        if (auto c = w.lock()) live.push_back(std::move(c));
      }
    }
    for (auto& c : live) {
      // Idle connections close now; busy ones close after their response (keep-alive off).
      asio::post(c->strand, [weak = std::weak_ptr<Connection>(c)] {
        auto conn = weak.lock();
        if (conn && !conn->busy && conn->close) conn->close();
      });
    }
    if (open_connections == 0) {
      finish_drain();
      return;
    }
    drain_timer = std::make_unique<asio::steady_timer>(io, options.shutdown_timeout);
    drain_timer->async_wait([this](const beast::error_code&) { io.stop(); });
  }

  void finish_drain() {
    asio::post(io, [this] { io.stop(); });
  }
};

HttpServer::HttpServer(ServerOptions options, RequestHandler handler, ProtocolErrorSink on_protocol_error)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(on_protocol_error))) {}

HttpServer::~HttpServer() {
  impl_->io.stop();
  impl_->workers.join();
  {
    // Handlers that still owe a reply (a group commit finishing): their replies go to the
    // io_context's queue, destroyed with it. Past the wait, a late reply is dropped unrun.
    std::unique_lock lock(impl_->pending->mu);
    impl_->pending->cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->pending->count == 0; });
    impl_->pending->closed = true;
  }
  const bool handled_signals = impl_->options.handle_signals;
  impl_.reset();
  // Destroying the signal set put SIGTERM and SIGINT back to their default (kill the process),
  // while the vault still closes its store after the server: a second SIGTERM then (a supervisor
  // repeating itself) would end it with status 143 instead of a clean exit. The drain already
  // swallowed repeats; the rest of the shutdown does too.
  if (handled_signals) {
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);
  }
}

Result<void> HttpServer::start() {
  auto& o = impl_->options;
  beast::error_code ec;
  if (!o.tls_cert.empty()) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    impl_->tls->use_certificate_chain_file(o.tls_cert, ec);
    if (!ec) impl_->tls->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec) return common::unexpected(make_error(Errc::kInternal, "tls", "cannot load the TLS certificate or key: " + ec.message()));
  }
  const auto address = asio::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
  if (ec) return common::unexpected(make_error(Errc::kInternal, "listen", "not an IP address: " + o.host));
  tcp::endpoint endpoint(address, o.port);
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return common::unexpected(make_error(Errc::kInternal, "listen", "cannot listen on " + o.host + ":" + std::to_string(o.port) +
                                                            ": " + ec.message()));
  }
  impl_->bound_port = impl_->acceptor.local_endpoint().port();
  // Descriptors: use what the hard limit allows (as Go and nginx do), and keep a share of them
  // for the database, outgoing calls and files, so accept() keeps working at the cap.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    const rlim_t want = lim.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(lim.rlim_max, 65536);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
      rlimit raised = lim;
      raised.rlim_cur = want;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
    }
  }
  const std::size_t fds = lim.rlim_cur == RLIM_INFINITY ? 65536 : static_cast<std::size_t>(lim.rlim_cur);
  impl_->max_connections = o.max_connections != 0 ? o.max_connections : std::max<std::size_t>(fds * 3 / 4, 96) - 64;
  impl_->max_per_ip = o.max_connections_per_ip != 0 ? o.max_connections_per_ip
                                                     : std::max<std::size_t>(impl_->max_connections / 2, 1);
  if (o.handle_signals) {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([this](const beast::error_code& e, int) {
      if (!e) impl_->begin_drain();
    });
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  return {};
}

unsigned short HttpServer::port() const { return impl_->bound_port; }
std::size_t HttpServer::max_connections() const { return impl_->max_connections; }
std::size_t HttpServer::max_connections_per_ip() const { return impl_->max_per_ip; }

void HttpServer::run() {
  std::vector<std::thread> extra;
  for (std::size_t i = 1; i < impl_->options.io_threads; ++i) extra.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  impl_->io.stop();
  for (auto& t : extra) t.join();
}

void HttpServer::stop() {
  asio::post(impl_->io, [this] { impl_->begin_drain(); });
}

void HttpServer::post_work(std::function<void()> task) { asio::post(impl_->workers, std::move(task)); }

}  // namespace alter::server::http
