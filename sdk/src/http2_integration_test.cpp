// HTTP/2 where the provider offers it: the SDK talks TLS with ALPN to nghttpd (Debian's nghttp2
// server, an HTTP/2-only server), trusting its self-signed certificate through VaultOptions::ca_file.
#include <alter/alter.hpp>
#include <alter/testing/http_test_server.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "curl_transport.hpp"

namespace alter {
namespace {

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class Http2 : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cert = testing::run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                      "-keyout", (dir_.path() / "key.pem").string(), "-out", (dir_.path() / "cert.pem").string()});
    ASSERT_EQ(cert.exit_code, 0) << cert.err;
    std::filesystem::create_directories(dir_.path() / "www");
    std::ofstream(dir_.path() / "www" / "events.json") << R"({"items":[{"id":"evt-1"}]})";
    port_ = free_port();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/usr/sbin/nghttpd", "nghttpd", "-a", "127.0.0.1", "-d", (dir_.path() / "www").c_str(),
              std::to_string(port_).c_str(), (dir_.path() / "key.pem").c_str(), (dir_.path() / "cert.pem").c_str(),
              static_cast<char*>(nullptr));
      _exit(127);
    }
    // Wait until it accepts connections (each attempt is the event; no fixed sleep).
    for (int i = 0; i < 5000; ++i) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      ::usleep(1000);
    }
    FAIL() << "nghttpd did not start";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  testing::TempDir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(Http2, ProviderCallsUseHttp2OverTls) {
  testing::HttpTestServer fake_vault([](const testing::RecordedRequest& r) {
    if (r.target == "/oauth/token") {
      return testing::CannedResponse::json(200, R"({"access_token":"tok-h2-0123456789","token_type":"Bearer","connection_id":"c","request_id":"r"})");
    }
    return testing::CannedResponse::json(202, "{}");
  });
  Vault vault({.api_key = "alter_key_h2test", .base_url = fake_vault.base_url(),
               .ca_file = (dir_.path() / "cert.pem").string()});
  auto r = vault.request("github", HttpMethod::Get, "https://127.0.0.1:" + std::to_string(port_) + "/events.json");
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.http_version(), 20);
  EXPECT_EQ(r.json()["items"][0]["id"], "evt-1");
  // Without the CA, the self-signed certificate is refused: a NetworkError, not a silent downgrade.
  Vault strict({.api_key = "alter_key_h2test", .base_url = fake_vault.base_url()});
  EXPECT_THROW(strict.request("github", HttpMethod::Get, "https://127.0.0.1:" + std::to_string(port_) + "/events.json"),
               NetworkError);
}

// The asynchronous client speaks HTTP/2 where the provider offers it: fifty requests at once over
// TLS, each answered over HTTP/2 (multiplexed as streams on each shard's connection:
// CURLPIPE_MULTIPLEX).
TEST_F(Http2, AsynchronousRequestsUseHttp2) {
  auto transport = internal::make_curl_transport({(dir_.path() / "cert.pem").string(), "alter-tests", 1 << 20, 8});
  constexpr int kRequests = 50;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int http2 = 0;
  for (int i = 0; i < kRequests; ++i) {
    internal::HttpRequest req;
    req.method = "GET";
    req.url = "https://127.0.0.1:" + std::to_string(port_) + "/events.json";
    req.timeout = std::chrono::seconds(10);
    transport->send_async(std::move(req), [&](internal::TransportResult r) {
      std::lock_guard lock(mu);
      if (r && r->status == 200 && r->http_version == 20) ++http2;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == kRequests; }));
  EXPECT_EQ(http2, kRequests);
}

}  // namespace
}  // namespace alter
