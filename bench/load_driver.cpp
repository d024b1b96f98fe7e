// alter_bench: the load driver of bench/run.sh.
//   alter_bench import   --vault URL --admin-token T --provider P --users N [--expires-in S] [--threads K]
//   alter_bench sdk      --vault URL --api-key K --provider P --url U --users N --threads T --seconds S
//   alter_bench direct   --url U --token TOKEN --threads T --seconds S
//   alter_bench stampede --vault URL --api-key K --provider P --url U --user NAME --requests N
//   alter_bench sdk-memory --vault URL --api-key K --provider P --url U --users N --requests N
//   alter_bench sdk-rounds --vault URL --api-key K --provider P --url U --user NAME --requests N --concurrency C
//     N requests of one user, in rounds of C at once (C = 1: request() on this thread; else C
//     request_async() then wait for all): the C++ side of bench/python_sdk.sh, per-request latency
//   alter_bench inflight --vault URL --api-key K --provider P --url U --users N [--prefix user-]
//     opens N keep-alive connections to the vault (each warmed with GET /healthz), then sends all N
//     POST /oauth/token at once, one per connection, for N distinct users: how long until all answered
// Prints one JSON object on stdout.
#include <alter/alter.hpp>
#include <curl/curl.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "process_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 2; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  return a;
}

std::string arg(const std::map<std::string, std::string>& a, const std::string& k, const std::string& d = "") {
  auto it = a.find(k);
  if (it != a.end()) return it->second;
  if (d.empty()) {
    std::cerr << "missing " << k << "\n";
    std::exit(2);
  }
  return d;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Stats {
  std::vector<double> latencies_ms;
  std::size_t errors = 0;
  double seconds = 0;

  nlohmann::json json() {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto pct = [&](double p) {
      if (latencies_ms.empty()) return 0.0;
      return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size())))];
    };
    double sum = 0;
    for (double l : latencies_ms) sum += l;
    return {{"requests", latencies_ms.size()}, {"errors", errors}, {"seconds", seconds},
            {"rps", latencies_ms.empty() ? 0 : static_cast<double>(latencies_ms.size()) / seconds},
            {"mean_ms", latencies_ms.empty() ? 0 : sum / static_cast<double>(latencies_ms.size())},
            {"p50_ms", pct(0.50)}, {"p99_ms", pct(0.99)}, {"max_ms", latencies_ms.empty() ? 0 : latencies_ms.back()}};
  }
};

// Runs `call(thread, i)` on T threads for S seconds (after a 1 s warm-up that is not counted).
template <class F>
Stats run_for(int threads, double seconds, F call) {
  Stats total;
  std::mutex mu;
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double> mine;
      std::size_t errors = 0;
      for (std::size_t i = 0; !stop; ++i) {
        const auto start = Clock::now();
        const bool ok = call(t, i);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!measuring) continue;
        if (ok) mine.push_back(ms);
        else ++errors;
      }
      std::lock_guard lock(mu);
      total.latencies_ms.insert(total.latencies_ms.end(), mine.begin(), mine.end());
      total.errors += errors;
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up: connections, caches
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : pool) t.join();
  return total;
}

size_t sink(char*, size_t size, size_t n, void* out) {
  (void)out;  // bodies are not kept: the driver measures the exchange only
  return size * n;
}

int cmd_direct(const std::map<std::string, std::string>& a) {
  const std::string url = arg(a, "--url");
  const std::string auth = "Authorization: Bearer " + arg(a, "--token");
  const int threads = std::stoi(arg(a, "--threads", "8"));
  std::vector<CURL*> handles(static_cast<std::size_t>(threads));
  for (auto& h : handles) h = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  auto stats = run_for(threads, std::stod(arg(a, "--seconds", "10")), [&](int t, std::size_t) {
    CURL* h = handles[static_cast<std::size_t>(t)];
    std::string body;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    const bool ok = curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
    return ok;
  });
  std::cout << stats.json().dump() << "\n";
  return 0;
}

int cmd_sdk(const std::map<std::string, std::string>& a) {
  alter::VaultOptions options{.api_key = arg(a, "--api-key"), .base_url = arg(a, "--vault"), .actor_type = "ai_agent",
                              .actor_identifier = "bench-agent"};
  options.always_proxy = arg(a, "--proxy", "0") == "1";  // the vault makes the call
  alter::Vault vault(options);
  const std::string provider = arg(a, "--provider"), url = arg(a, "--url");
  const int users = std::stoi(arg(a, "--users", "1"));
  auto stats = run_for(std::stoi(arg(a, "--threads", "8")), std::stod(arg(a, "--seconds", "10")), [&](int t, std::size_t i) {
    try {
      auto r = vault.request(provider, alter::HttpMethod::Get, url,
                             {.user = {{"user_id", "user-" + std::to_string((static_cast<std::size_t>(t) * 7919 + i) % static_cast<std::size_t>(users))}}});
      return r.status_code() == 200;
    } catch (const std::exception&) {
      return false;
    }
  });
  auto j = stats.json();
  j["audit"] = {{"sent", vault.audit_stats().sent}, {"dropped", vault.audit_stats().dropped_queue_full}};
  std::cout << j.dump() << "\n";
  return 0;
}

int cmd_sdk_rounds(const std::map<std::string, std::string>& a) {
  alter::Vault vault({.api_key = arg(a, "--api-key"), .base_url = arg(a, "--vault"), .actor_type = "ai_agent",
                      .actor_identifier = "bench-rounds"});
  const int n = std::stoi(arg(a, "--requests", "1000"));
  const int c = std::max(1, std::stoi(arg(a, "--concurrency", "1")));
  const std::string provider = arg(a, "--provider"), url = arg(a, "--url");
  const alter::RequestOptions ro{.user = {{"user_id", arg(a, "--user")}}};
  int ok = 0;
  std::vector<double> round_ms;
  const auto t0 = Clock::now();
  for (int done = 0; done < n; done += c) {
    const auto r0 = Clock::now();
    if (c == 1) {
      ok += vault.request(provider, alter::HttpMethod::Get, url, ro).status_code() == 200 ? 1 : 0;
    } else {
      std::vector<std::future<alter::Response>> round;
      for (int i = 0; i < c; ++i) round.push_back(vault.request_async(provider, alter::HttpMethod::Get, url, ro));
      for (auto& f : round) ok += f.get().status_code() == 200 ? 1 : 0;
    }
    round_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
  }
  const double total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::sort(round_ms.begin(), round_ms.end());
  vault.close();
  std::cout << nlohmann::json{{"requests", n}, {"concurrency", c}, {"ok", ok}, {"total_ms", total},
                              {"per_request_us", total * 1000.0 / n},
                              {"median_round_ms", round_ms[round_ms.size() / 2]}}.dump() << "\n";
  return ok == n ? 0 : 1;
}

int cmd_stampede(const std::map<std::string, std::string>& a) {
  alter::Vault vault({.api_key = arg(a, "--api-key"), .base_url = arg(a, "--vault"), .actor_type = "ai_agent",
                      .actor_identifier = "bench-stampede", .async_threads = 64});
  const int n = std::stoi(arg(a, "--requests", "1000"));
  std::latch start(n);
  std::vector<std::thread> threads;
  std::vector<double> ms(static_cast<std::size_t>(n), -1);
  std::atomic<int> ok{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const auto t0 = Clock::now();
      try {
        auto r = vault.request(arg(a, "--provider"), alter::HttpMethod::Get, arg(a, "--url"), {.user = {{"user_id", arg(a, "--user")}}});
        if (r.status_code() == 200) ++ok;
      } catch (const std::exception& e) {
        static std::once_flag once;
        std::call_once(once, [&] { std::cerr << "stampede error: " << e.what() << "\n"; });
      }
      ms[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    });
  }
  for (auto& t : threads) t.join();
  std::cout << nlohmann::json{{"requests", n}, {"ok", ok.load()}, {"slowest_ms", *std::max_element(ms.begin(), ms.end())}}.dump() << "\n";
  return 0;
}

int cmd_sdk_memory(const std::map<std::string, std::string>& a) {
  alter::Vault vault({.api_key = arg(a, "--api-key"), .base_url = arg(a, "--vault"), .actor_type = "ai_agent",
                      .actor_identifier = "bench-memory"});
  const int n = std::stoi(arg(a, "--requests", "100000"));
  const int users = std::stoi(arg(a, "--users", "1"));
  const int threads = 8;
  std::atomic<int> next{0}, errors{0};
  long rss_10k = -1;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        try {
          vault.request(arg(a, "--provider"), alter::HttpMethod::Get, arg(a, "--url"),
                        {.user = {{"user_id", "user-" + std::to_string(i % users)}}});
        } catch (const std::exception&) {
          ++errors;
        }
        if (i == 10000) rss_10k = rss_kib();
      }
    });
  }
  for (auto& t : pool) t.join();
  vault.flush(std::chrono::seconds(30));
  std::cout << nlohmann::json{{"requests", n}, {"errors", errors.load()}, {"rss_kib_after_10k", rss_10k},
                              {"rss_kib_after_all", rss_kib()}, {"audit_sent", vault.audit_stats().sent},
                              {"audit_dropped", vault.audit_stats().dropped_queue_full}}
                   .dump()
            << "\n";
  return 0;
}

// Imports N connections through the admin API, in parallel over keep-alive connections.
int cmd_import(const std::map<std::string, std::string>& a) {
  const std::string url = arg(a, "--vault") + "/v1/admin/apps/default/connections";
  const std::string auth = "Authorization: Bearer " + arg(a, "--admin-token");
  const std::string provider = arg(a, "--provider");
  const int users = std::stoi(arg(a, "--users"));
  const long expires_in = std::stol(arg(a, "--expires-in", "86400"));
  const int threads = std::stoi(arg(a, "--threads", "8"));
  const std::string prefix = arg(a, "--prefix", "user-");
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      CURL* h = curl_easy_init();
      curl_slist* headers = curl_slist_append(curl_slist_append(nullptr, auth.c_str()), "Content-Type: application/json");
      for (int i = next++; i < users; i = next++) {
        nlohmann::json body = {{"provider_id", provider}, {"attributes", {{"user_id", a.count("--user") ? a.at("--user") : prefix + std::to_string(i)}}},
                               {"access_token", "bench-token-" + std::to_string(i)}, {"refresh_token", "bench-refresh-" + std::to_string(i)},
                               {"expires_in", expires_in}};
        const std::string text = body.dump();
        std::string out;
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text.c_str());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &sink);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
        long status = 0;
        if (curl_easy_perform(h) != CURLE_OK || curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 201) ++failed;
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(h);
    });
  }
  for (auto& t : pool) t.join();
  std::cout << nlohmann::json{{"imported", users - failed.load()}, {"failed", failed.load()}}.dump() << "\n";
  return failed.load() == 0 ? 0 : 1;
}


namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Inflight {
  int connections = 0;
  int ready = 0;
  int connect_errors = 0;
  int answered = 0;
  int ok = 0;
  std::map<int, int> statuses;
  std::string first_error;
  Clock::time_point fired;
  double cpu_at_fire = 0;
  long long fired_unix_ms = 0;  // wall clock, to set beside the provider's arrival times
  std::vector<double> latencies_ms;
  asio::steady_timer* go = nullptr;
  bool proxy = false;  // GET /v1/proxy (the vault calls the provider) instead of POST /oauth/token
  std::string provider;
  std::string url;
};

// One connection: connect, GET /healthz (the connection is accepted and warm), wait for the signal,
// then POST /oauth/token and read the answer.
asio::awaitable<void> inflight_one(asio::ip::tcp::endpoint vault, std::string host, std::string key, std::string body,
                                   Inflight& s) {
  beast::error_code ec;
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(vault, asio::redirect_error(asio::use_awaitable, ec));
  beast::flat_buffer buffer;
  if (!ec) {
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    http::request<http::empty_body> health{http::verb::get, "/healthz", 11};
    health.set(http::field::host, host);
    co_await http::async_write(socket, health, asio::redirect_error(asio::use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(socket, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && res.result_int() != 200) ec = beast::http::error::bad_status;
  }
  if (ec) {
    ++s.connect_errors;
    if (s.first_error.empty()) s.first_error = "warm-up: " + ec.message();
  }
  if (++s.ready == s.connections) {
    s.fired = Clock::now();
    s.cpu_at_fire = alter::bench::cpu_seconds();
    s.fired_unix_ms = alter::bench::unix_ms();
    s.go->cancel();
  } else {
    co_await s.go->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!socket.is_open()) co_return;
  http::request<http::string_body> req{s.proxy ? http::verb::get : http::verb::post, s.proxy ? "/v1/proxy" : "/oauth/token", 11};
  req.set(http::field::host, host);
  req.set("x-api-key", key);
  req.set("x-alter-actor-type", "ai_agent");
  req.set("x-alter-actor-id", "bench-inflight");
  if (s.proxy) {
    // The call itself: the vault decides, injects the token and calls the provider.
    req.set("x-alter-provider", s.provider);
    req.set("x-alter-url", s.url);
    req.set("x-alter-user", body);
  } else {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  co_await http::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));
  http::response<http::string_body> res;
  if (!ec) co_await http::async_read(socket, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
  ++s.answered;
  if (ec) {
    if (s.first_error.empty()) s.first_error = (s.proxy ? "proxy: " : "token: ") + ec.message();
    co_return;
  }
  s.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s.fired).count());
  ++s.statuses[res.result_int()];
  if (res.result_int() == 200) ++s.ok;
  else if (s.first_error.empty()) s.first_error = std::to_string(res.result_int()) + " " + res.body().substr(0, 200);
}

int cmd_inflight(const std::map<std::string, std::string>& a) {
  alter::bench::raise_open_file_limit();
  std::string hostport = arg(a, "--vault");
  if (hostport.rfind("http://", 0) == 0) hostport = hostport.substr(7);
  const auto colon = hostport.rfind(':');
  const asio::ip::tcp::endpoint vault(asio::ip::make_address(hostport.substr(0, colon)),
                                      static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1))));
  const std::string key = arg(a, "--api-key"), provider = arg(a, "--provider"), url = arg(a, "--url");
  const std::string prefix = arg(a, "--prefix", "user-");
  Inflight s;
  s.connections = std::stoi(arg(a, "--users"));
  s.proxy = arg(a, "--proxy", "0") == "1";
  s.provider = provider;
  s.url = url;
  asio::io_context io(1);
  asio::steady_timer go(io, std::chrono::hours(1));
  s.go = &go;
  const auto started = Clock::now();
  for (int i = 0; i < s.connections; ++i) {
    const nlohmann::json user = {{"user_id", prefix + std::to_string(i)}};
    nlohmann::json body = {{"provider_id", provider}, {"attributes", user}, {"method", "GET"}, {"url", url}};
    asio::co_spawn(io, inflight_one(vault, hostport, key, s.proxy ? user.dump() : body.dump(), s), asio::detached);
  }
  io.run();
  // From the signal on: the burst itself, not the warm-up.
  const double cpu_s = alter::bench::cpu_seconds() - s.cpu_at_fire;
  const double warm_s = std::chrono::duration<double>(s.fired - started).count();
  std::sort(s.latencies_ms.begin(), s.latencies_ms.end());
  auto pct = [&](double p) {
    if (s.latencies_ms.empty()) return 0.0;
    return s.latencies_ms[std::min(s.latencies_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(s.latencies_ms.size())))];
  };
  nlohmann::json statuses = nlohmann::json::object();
  for (auto [status, n] : s.statuses) statuses[std::to_string(status)] = n;
  std::cout << nlohmann::json{{"requests", s.connections}, {"ok", s.ok}, {"errors", s.connections - s.ok},
                              {"connect_errors", s.connect_errors}, {"statuses", statuses},
                              {"first_error", s.first_error}, {"warm_up_seconds", warm_s}, {"fired_unix_ms", s.fired_unix_ms},
                              {"driver_cpu_seconds", cpu_s},
                              {"total_seconds", s.latencies_ms.empty() ? 0 : s.latencies_ms.back() / 1000},
                              {"p50_ms", pct(0.5)}, {"p99_ms", pct(0.99)},
                              {"max_ms", s.latencies_ms.empty() ? 0 : s.latencies_ms.back()}}
                   .dump()
            << "\n";
  return s.ok == s.connections ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: alter_bench import|sdk|direct|stampede|sdk-rounds|sdk-memory|inflight --flag value ...\n";
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::string cmd = argv[1];
  const auto a = parse_args(argc, argv);
  if (cmd == "import") return cmd_import(a);
  if (cmd == "sdk") return cmd_sdk(a);
  if (cmd == "direct") return cmd_direct(a);
  if (cmd == "stampede") return cmd_stampede(a);
  if (cmd == "sdk-rounds") return cmd_sdk_rounds(a);
  if (cmd == "sdk-memory") return cmd_sdk_memory(a);
  if (cmd == "inflight") return cmd_inflight(a);
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
