// The asynchronous HTTP client (libcurl's multi-socket interface on one Asio thread): many
// exchanges in flight without a thread each, and the same rules as the blocking send(): timeouts,
// size limits, no redirect followed, keep-alive; a shutdown that ends what is in flight.
#include <alter/testing/http_test_server.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "curl_transport.hpp"

namespace alter::internal {
namespace {

using alter::testing::CannedResponse;
using alter::testing::HttpTestServer;
using alter::testing::RecordedRequest;

int process_threads() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Collects the outcomes of asynchronous exchanges.
class Outcomes {
 public:
  TransportCallback add() {
    return [this](TransportResult r) {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  std::vector<TransportResult> take() {
    std::lock_guard lock(mu_);
    return std::move(results_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TransportResult> results_;
};

HttpRequest get(const std::string& url, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  HttpRequest r;
  r.method = "GET";
  r.url = url;
  r.timeout = timeout;
  return r;
}

TEST(AsyncTransport, ManyExchangesAreInFlightOnOneThread) {
  HttpTestServer server([](const RecordedRequest& r) {
    auto c = CannedResponse::json(200, R"({"path":")" + r.target + R"("})");
    c.hold = true;  // every answer waits until released: all must be in flight at once
    return c;
  });
  auto transport = make_curl_transport({"", "alter-tests", 1 << 20, 8});
  const int threads_before = process_threads();
  constexpr int kExchanges = 200;
  Outcomes outcomes;
  for (int i = 0; i < kExchanges; ++i) transport->send_async(get(server.base_url() + "/item/" + std::to_string(i)), outcomes.add());
  ASSERT_TRUE(server.wait_for_requests(kExchanges, std::chrono::seconds(20))) << server.requests().size() << " arrived";
  // The test server spends a thread per connection; the client, one thread for all of them.
  const int client_threads = process_threads() - threads_before - server.connections_accepted();
  EXPECT_LE(client_threads, 2) << "threads started by the client";
  EXPECT_FALSE(outcomes.wait_for(1, std::chrono::milliseconds(50))) << "an answer came before the server sent it";
  server.release_held();
  ASSERT_TRUE(outcomes.wait_for(kExchanges, std::chrono::seconds(20)));
  std::set<std::string> bodies;
  for (auto& r : outcomes.take()) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    bodies.insert(r->body);
  }
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(kExchanges)) << "each exchange got its own answer";
}

TEST(AsyncTransport, KeepsConnectionsAlive) {
  HttpTestServer server([](const RecordedRequest&) { return CannedResponse::json(200, "{}"); });
  auto transport = make_curl_transport({"", "alter-tests", 1 << 20, 8});
  for (int i = 0; i < 10; ++i) {
    Outcomes one;
    transport->send_async(get(server.base_url() + "/k"), one.add());
    ASSERT_TRUE(one.wait_for(1, std::chrono::seconds(10)));
    auto r = one.take();
    ASSERT_TRUE(r[0]) << r[0].error().message;
  }
  EXPECT_EQ(server.connections_accepted(), 1);
}

// A burst spreads over the client's multi handles (each opens its own connections); calls one at
// a time afterwards reuse those connections instead of opening new ones.
TEST(AsyncTransport, ReusesConnectionsAfterABurst) {
  HttpTestServer server([](const RecordedRequest&) {
    auto c = CannedResponse::json(200, "{}");
    c.hold = true;
    return c;
  });
  auto transport = make_curl_transport({"", "alter-tests", 1 << 20, 64});
  constexpr int kBurst = 40;
  Outcomes burst;
  for (int i = 0; i < kBurst; ++i) transport->send_async(get(server.base_url() + "/b"), burst.add());
  ASSERT_TRUE(server.wait_for_requests(kBurst, std::chrono::seconds(20)));
  server.release_held();
  ASSERT_TRUE(burst.wait_for(kBurst, std::chrono::seconds(20)));
  for (auto& r : burst.take()) ASSERT_TRUE(r) << r.error().message;
  const int after_burst = server.connections_accepted();
  EXPECT_EQ(after_burst, kBurst) << "held answers: one connection per exchange in flight";
  server.set_handler([](const RecordedRequest&) { return CannedResponse::json(200, "{}"); });
  for (int i = 0; i < 20; ++i) {
    Outcomes one;
    transport->send_async(get(server.base_url() + "/s"), one.add());
    ASSERT_TRUE(one.wait_for(1, std::chrono::seconds(10)));
    auto r = one.take();
    ASSERT_TRUE(r[0]) << r[0].error().message;
  }
  EXPECT_EQ(server.connections_accepted(), after_burst) << "sequential calls opened new connections";
}

TEST(AsyncTransport, KeepsTheBlockingClientsRules) {
  HttpTestServer server([](const RecordedRequest& r) {
    if (r.target == "/slow") {
      auto c = CannedResponse::json(200, "{}");
      c.hold = true;
      return c;
    }
    if (r.target == "/big") return CannedResponse::json(200, std::string(4096, 'x'));
    if (r.target == "/moved") {
      CannedResponse c;
      c.status = 302;
      c.headers.emplace_back("Location", "/elsewhere");
      return c;
    }
    return CannedResponse::json(200, R"({"seen":")" + r.header("authorization") + R"("})");
  });
  auto transport = make_curl_transport({"", "alter-tests", 1024, 8});
  Outcomes outcomes;
  transport->send_async(get(server.base_url() + "/slow", std::chrono::milliseconds(300)), outcomes.add());
  ASSERT_TRUE(outcomes.wait_for(1, std::chrono::seconds(10)));
  auto timed_out = outcomes.take();
  ASSERT_FALSE(timed_out[0]);
  EXPECT_EQ(timed_out[0].error().kind, TransportErrorKind::kTimeout);
  server.release_held();

  transport->send_async(get(server.base_url() + "/big"), outcomes.add());
  ASSERT_TRUE(outcomes.wait_for(1, std::chrono::seconds(10)));
  auto big = outcomes.take();
  ASSERT_FALSE(big[0]);
  EXPECT_EQ(big[0].error().kind, TransportErrorKind::kTooLarge);

  transport->send_async(get(server.base_url() + "/moved"), outcomes.add());
  ASSERT_TRUE(outcomes.wait_for(1, std::chrono::seconds(10)));
  auto moved = outcomes.take();
  ASSERT_TRUE(moved[0]);
  EXPECT_EQ(moved[0]->status, 302) << "a redirect is answered, not followed";
  EXPECT_TRUE(server.requests_to("/elsewhere").empty());

  HttpRequest post;
  post.method = "POST";
  post.url = server.base_url() + "/echo";
  post.headers.emplace_back("Authorization", "Bearer secret-value-123");
  post.body = "grant_type=refresh_token";
  post.has_body = true;
  transport->send_async(std::move(post), outcomes.add());
  ASSERT_TRUE(outcomes.wait_for(1, std::chrono::seconds(10)));
  auto echoed = outcomes.take();
  ASSERT_TRUE(echoed[0]) << echoed[0].error().message;
  EXPECT_NE(echoed[0]->body.find("Bearer secret-value-123"), std::string::npos);
  auto sent = server.requests_to("/echo");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].body, "grant_type=refresh_token");
  EXPECT_FALSE(sent[0].has_header("expect"));

  Outcomes refused;
  transport->send_async(get("http://127.0.0.1:1/closed", std::chrono::seconds(5)), refused.add());
  ASSERT_TRUE(refused.wait_for(1, std::chrono::seconds(10)));
  auto unreachable = refused.take();
  ASSERT_FALSE(unreachable[0]);
  EXPECT_EQ(unreachable[0].error().kind, TransportErrorKind::kConnect);
}

TEST(AsyncTransport, CloseEndsWhatIsInFlightAndRunsDelayedTasks) {
  HttpTestServer server([](const RecordedRequest&) {
    auto c = CannedResponse::json(200, "{}");
    c.hold = true;
    return c;
  });
  auto transport = make_curl_transport({"", "alter-tests", 1 << 20, 8});
  Outcomes outcomes;
  for (int i = 0; i < 5; ++i) transport->send_async(get(server.base_url() + "/held"), outcomes.add());
  ASSERT_TRUE(server.wait_for_requests(5, std::chrono::seconds(10)));
  std::atomic<int> delayed_ran{0};
  transport->post_after(std::chrono::hours(1), [&] { ++delayed_ran; });
  std::atomic<int> soon_ran{0};
  transport->post_after(std::chrono::milliseconds(1), [&] { ++soon_ran; });
  for (int i = 0; i < 1000 && soon_ran == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(soon_ran, 1) << "a delayed task runs once its delay passed";
  transport->close_async();
  EXPECT_EQ(delayed_ran, 1) << "close runs the tasks still waiting";
  ASSERT_TRUE(outcomes.wait_for(5, std::chrono::milliseconds(1)));  // already there: close waited for them
  for (auto& r : outcomes.take()) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, TransportErrorKind::kOther);
  }
  Outcomes late;
  transport->send_async(get(server.base_url() + "/late"), late.add());
  ASSERT_TRUE(late.wait_for(1, std::chrono::milliseconds(1))) << "after close, a request fails at once";
  EXPECT_FALSE(late.take()[0]);
  server.release_held();
}

}  // namespace
}  // namespace alter::internal
