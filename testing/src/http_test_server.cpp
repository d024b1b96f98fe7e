#include <alter/testing/http_test_server.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <list>
#include <thread>

namespace alter::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpTestServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::uint16_t port = 0;
  std::thread accept_thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  Handler handler;
  std::vector<RecordedRequest> requests;
  std::list<std::shared_ptr<tcp::socket>> sockets;
  std::list<std::thread> threads;
  int accepted = 0;
  bool stopping = false;
  std::uint64_t release_generation = 0;

  void serve(std::shared_ptr<tcp::socket> socket, int connection) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      http::read(*socket, buffer, parser, ec);
      if (ec) return;
      auto& req = parser.get();
      RecordedRequest rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (const auto& field : req) rec.headers.emplace(std::string(field.name_string()), std::string(field.value()));
      rec.body = req.body();
      rec.connection = connection;
      Handler h;
      std::uint64_t generation = 0;  // read with the request's arrival: a release after it lets it go
      {
        std::lock_guard lock(mu);
        requests.push_back(rec);
        h = handler;
        generation = release_generation;
      }
      cv.notify_all();
      CannedResponse canned = h ? h(rec) : CannedResponse{};
      if (canned.hold) {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || release_generation != generation; });
        if (stopping) return;
      }
      http::response<http::string_body> res{static_cast<http::status>(canned.status), req.version()};
      for (const auto& [name, value] : canned.headers) res.insert(name, value);
      res.body() = canned.body;
      res.keep_alive(req.keep_alive() && !canned.close_connection);
      res.prepare_payload();
      http::write(*socket, res, ec);
      if (ec || !res.keep_alive()) {
        socket->shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
    }
  }

  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io);
      beast::error_code ec;
      acceptor.accept(*socket, ec);
      std::lock_guard lock(mu);
      if (ec || stopping) return;
      socket->set_option(tcp::no_delay(true), ec);
      const int connection = ++accepted;
      sockets.push_back(socket);
      threads.emplace_back([this, socket, connection] { serve(socket, connection); });
    }
  }
};

HttpTestServer::HttpTestServer(Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

HttpTestServer::~HttpTestServer() { stop(); }

void HttpTestServer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  beast::error_code ec;
  // Unblock accept(): shutting the listening socket down wakes the blocked call.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::list<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& s : impl_->sockets) {
      ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
}

std::uint16_t HttpTestServer::port() const { return impl_->port; }
std::string HttpTestServer::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

std::vector<RecordedRequest> HttpTestServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::vector<RecordedRequest> HttpTestServer::requests_to(std::string_view prefix) const {
  std::lock_guard lock(impl_->mu);
  std::vector<RecordedRequest> out;
  for (const auto& r : impl_->requests) {
    if (r.target.rfind(prefix, 0) == 0) out.push_back(r);
  }
  return out;
}

int HttpTestServer::connections_accepted() const {
  std::lock_guard lock(impl_->mu);
  return impl_->accepted;
}

void HttpTestServer::set_handler(Handler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->handler = std::move(handler);
}

void HttpTestServer::release_held() {
  {
    std::lock_guard lock(impl_->mu);
    ++impl_->release_generation;
  }
  impl_->cv.notify_all();
}

bool HttpTestServer::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
}

}  // namespace alter::testing
