#include "curl_transport.hpp"

#include <alter/common/secret.hpp>
#include <alter/common/strings.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <curl/curl.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace alter::internal {
namespace {

void global_init_once() {
  // curl_global_init is thread-safe in libcurl >= 7.84 built with "threadsafe"; call_once keeps
  // it to one call per process without a user-visible init function.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept {
    // Header lines may carry a token: wipe our copies before freeing them.
    for (curl_slist* it = list; it != nullptr; it = it->next) {
      if (it->data != nullptr) OPENSSL_cleanse(it->data, std::char_traits<char>::length(it->data));
    }
    curl_slist_free_all(list);
  }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct WriteState {
  std::string* body;
  std::size_t limit;
  bool too_large = false;
};

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<WriteState*>(user);
  const std::size_t n = size * count;
  if (state->body->size() + n > state->limit) {
    state->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  state->body->append(data, n);
  return n;
}

TransportErrorKind classify(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportErrorKind::kTimeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return TransportErrorKind::kConnect;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportErrorKind::kProtocol;
    default:
      return TransportErrorKind::kOther;
  }
}

// One exchange's state while libcurl works on it: what the easy handle points at must live as
// long as the transfer (the body, the header list, the error buffer, the write state).
struct Exchange {
  HttpRequest request;
  HttpResponse response;
  WriteState write{nullptr, 0};
  SlistPtr headers;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  std::chrono::steady_clock::time_point started;
  TransportCallback done;  // async only
  CURL* handle = nullptr;  // async only
  struct MultiShard* shard = nullptr;  // async only: the multi handle it runs on
};

class CurlTransport;
class CurlMulti;

// A socket libcurl asked the multi thread to watch.
struct WatchedSocket {
  explicit WatchedSocket(boost::asio::io_context& io) : descriptor(io) {}
  // Stop watching and leave the descriptor to libcurl, which closes it.
  void forget() {
    closed = true;
    boost::system::error_code ignored;
    descriptor.cancel(ignored);
    (void)descriptor.release();
  }
  boost::asio::posix::stream_descriptor descriptor;
  int want = 0;  // CURL_POLL_IN | CURL_POLL_OUT
  bool reading = false;
  bool writing = false;
  bool closed = false;
};

// One multi handle of the client thread, with its timer and the sockets it watches.
struct MultiShard {
  MultiShard(CurlMulti& o, boost::asio::io_context& io) : owner(o), timer(io) {}
  CurlMulti& owner;
  CURLM* multi = nullptr;
  boost::asio::steady_timer timer;
  std::unordered_map<curl_socket_t, std::shared_ptr<WatchedSocket>> sockets;
  std::size_t running = 0;  // transfers added and not completed
};

// libcurl's multi-socket interface driven by one Asio thread: every transfer in flight is a few
// hundred bytes of state, not a thread. All curl_multi_* calls happen on that thread; callers
// hand requests over with a post. The io_context runs on this one thread only, and every wait is
// re-armed before its handler returns, so the reactor's edge-triggered readiness is never lost.
//
// The thread drives several multi handles (shards). libcurl looks for a reusable connection, and
// for the oldest one to close when its cache is full, by walking every connection of the multi:
// with 10,000 transfers in flight on one multi that walk, done per transfer, took most of the
// thread's time. A new transfer goes to the shard with the fewest running, the first on a tie,
// so one-at-a-time callers always land on the first shard and keep reusing its connections.
class CurlMulti {
 public:
  explicit CurlMulti(CurlTransport& owner);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  void submit(std::unique_ptr<Exchange> exchange);
  void post_after(std::chrono::milliseconds delay, std::function<void()> task);

  static constexpr std::size_t kShards = 16;

 private:
  using Shard = MultiShard;
  using Socket = WatchedSocket;

  static int on_socket(CURL*, curl_socket_t s, int what, void* user, void*);
  static int on_timer(CURLM*, long timeout_ms, void* user);
  void start(std::unique_ptr<Exchange> exchange);
  Shard& least_loaded();
  void arm(Shard& shard, curl_socket_t s, const std::shared_ptr<Socket>& socket);
  void action(Shard& shard, curl_socket_t s, int events);
  void collect_done(Shard& shard);
  void complete(Exchange* exchange, TransportResult result);
  void shutdown();

  CurlTransport& owner_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_map<CURL*, std::unique_ptr<Exchange>> transfers_;
  std::vector<CURL*> idle_;  // easy handles for reuse, on the multi thread only
  struct Delayed {
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::function<void()> task;
  };
  std::map<std::uint64_t, Delayed> delayed_;  // post_after's tasks, run at shutdown if still waiting
  std::uint64_t next_delayed_ = 0;
  std::thread thread_;
};

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
    global_init_once();
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlTransport::lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlTransport::unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }

  ~CurlTransport() override {
    close_async();  // completes what is still in flight, before the share goes
    for (CURL* h : idle_) curl_easy_cleanup(h);
    curl_share_cleanup(share_);
  }

  TransportResult send(const HttpRequest& request) override {
    CURL* h = acquire();
    Exchange x;
    auto ready = prepare(h, request, x);
    if (!ready) {
      release(h);
      return common::unexpected(std::move(ready.error()));
    }
    const CURLcode rc = curl_easy_perform(h);
    auto result = collect(h, rc, x);
    release(h);
    return result;
  }

  void send_async(HttpRequest request, TransportCallback done) override {
    auto x = std::make_unique<Exchange>();
    x->request = std::move(request);
    x->done = std::move(done);
    std::unique_lock lock(mu_);
    if (closed_) {
      lock.unlock();
      x->done(common::unexpected(TransportError{TransportErrorKind::kOther, "the HTTP client is shutting down"}));
      return;
    }
    if (!multi_) multi_ = std::make_unique<CurlMulti>(*this);  // its thread starts on first use
    multi_->submit(std::move(x));
  }

  void post_after(std::chrono::milliseconds delay, std::function<void()> task) override {
    std::unique_lock lock(mu_);
    if (closed_) {
      lock.unlock();
      task();
      return;
    }
    if (!multi_) multi_ = std::make_unique<CurlMulti>(*this);
    multi_->post_after(delay, std::move(task));
  }

  void close_async() override {
    std::unique_ptr<CurlMulti> multi;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      multi = std::move(multi_);
    }
    multi.reset();  // completes what is in flight, on its thread, and joins it
  }

  /// Points `h` at `req` (which must outlive the transfer) with the transport's rules. An error
  /// means the request was not started.
  common::Result<void, TransportError> prepare(CURL* h, const HttpRequest& req, Exchange& x) {
    const std::size_t max_body = req.max_response_bytes != 0 ? req.max_response_bytes : options_.max_response_bytes;
    x.write = WriteState{&x.response.body, max_body};
    bool has_user_agent = false;
    for (const auto& [name, value] : req.headers) {
      if (common::iequals(name, "user-agent")) has_user_agent = true;
      std::string line;
      line.reserve(name.size() + value.size() + 2);
      line.append(name).append(value.empty() ? ";" : ": ").append(value);
      curl_slist* next = curl_slist_append(x.headers.get(), line.c_str());
      common::secure_wipe(line);
      if (next == nullptr) return common::unexpected(TransportError{TransportErrorKind::kOther, "out of memory"});
      x.headers.release();
      x.headers.reset(next);
    }
    // curl would add "Expect: 100-continue" to large bodies: one round trip more for nothing.
    x.headers.reset(curl_slist_append(x.headers.release(), "Expect:"));

    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x.error_buffer);
    curl_easy_setopt(h, CURLOPT_SHARE, share_);
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<std::int64_t>(req.timeout.count(), 10000)));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_body));
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!has_user_agent && !options_.user_agent.empty()) {
      curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x.headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x.write);

    if (req.method == "GET" && !req.has_body) {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (req.has_body || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        const std::string& body = req.shared_body ? *req.shared_body : req.body;
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
      }
    }
    x.started = std::chrono::steady_clock::now();
    return {};
  }

  /// The outcome of a finished transfer on `h`.
  TransportResult collect(CURL* h, CURLcode rc, Exchange& x) {
    HttpResponse& response = x.response;
    response.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - x.started);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    x.headers.reset();

    if (rc != CURLE_OK) {
      if (x.write.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        return common::unexpected(TransportError{TransportErrorKind::kTooLarge, "response body too large"});
      }
      std::string message = x.error_buffer[0] != '\0' ? x.error_buffer : curl_easy_strerror(rc);
      return common::unexpected(TransportError{classify(rc), std::move(message)});
    }

    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    long version = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    switch (version) {
      case CURL_HTTP_VERSION_1_0: response.http_version = 10; break;
      case CURL_HTTP_VERSION_2_0: response.http_version = 20; break;
      case CURL_HTTP_VERSION_3: response.http_version = 30; break;
      default: response.http_version = 11; break;
    }
    // libcurl's own header API: no hand-written header parsing.
    curl_header* prev = nullptr;
    while (curl_header* hd = curl_easy_nextheader(h, CURLH_HEADER, -1, prev)) {
      response.headers.emplace(hd->name, hd->value);
      prev = hd;
    }
    return std::move(response);
  }

  const CurlTransportOptions& options() const { return options_; }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<CurlTransport*>(user)->share_locks_.at(static_cast<std::size_t>(data)).lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<CurlTransport*>(user)->share_locks_.at(static_cast<std::size_t>(data)).unlock();
  }

  CURL* acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void release(CURL* h) {
    // Reset the options (the header list pointer among them) but keep the live connections.
    curl_easy_reset(h);
    std::lock_guard lock(mu_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  CurlTransportOptions options_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
  std::unique_ptr<CurlMulti> multi_;
  bool closed_ = false;
};

CurlMulti::CurlMulti(CurlTransport& owner) : owner_(owner), work_(boost::asio::make_work_guard(io_)) {
  const auto& o = owner.options();
  // The caps are the transport's, split evenly: least_loaded() keeps the shards evenly loaded.
  const long idle_per_shard = static_cast<long>(std::max<std::size_t>(o.max_idle_handles, 16 * kShards) / kShards);
  const long total_per_shard = static_cast<long>((o.max_connections + kShards - 1) / kShards);
  for (std::size_t i = 0; i < kShards; ++i) {
    auto shard = std::make_unique<Shard>(*this, io_);
    CURLM* m = curl_multi_init();
    shard->multi = m;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, shard.get());
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, shard.get());
    // HTTP/2 streams share one connection per host where the provider offers it (ALPN); idle
    // connections are kept for keep-alive, up to this many.
    curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, idle_per_shard);
    if (o.max_connections > 0) curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, std::max(total_per_shard, 1L));
    shards_.push_back(std::move(shard));
  }
  thread_ = std::thread([this] { io_.run(); });
}

CurlMulti::~CurlMulti() {
  boost::asio::post(io_, [this] { shutdown(); });
  thread_.join();
  for (CURL* h : idle_) curl_easy_cleanup(h);
  for (auto& shard : shards_) curl_multi_cleanup(shard->multi);
}

void CurlMulti::submit(std::unique_ptr<Exchange> exchange) {
  // The unique_ptr travels in a shared_ptr: the posted handler must be copyable.
  auto held = std::make_shared<std::unique_ptr<Exchange>>(std::move(exchange));
  boost::asio::post(io_, [this, held] { start(std::move(*held)); });
}

void CurlMulti::post_after(std::chrono::milliseconds delay, std::function<void()> task) {
  auto held = std::make_shared<std::function<void()>>(std::move(task));
  boost::asio::post(io_, [this, delay, held] {
    const std::uint64_t id = next_delayed_++;
    auto& d = delayed_[id];
    d.timer = std::make_unique<boost::asio::steady_timer>(io_, delay);
    d.task = std::move(*held);
    d.timer->async_wait([this, id](boost::system::error_code) {
      auto node = delayed_.extract(id);
      if (!node.empty()) node.mapped().task();
    });
  });
}

CurlMulti::Shard& CurlMulti::least_loaded() {
  Shard* best = shards_.front().get();
  for (auto& shard : shards_) {
    if (shard->running < best->running) best = shard.get();
  }
  return *best;
}

void CurlMulti::start(std::unique_ptr<Exchange> x) {
  CURL* h = nullptr;
  if (!idle_.empty()) {
    h = idle_.back();
    idle_.pop_back();
  } else {
    h = curl_easy_init();
  }
  if (h == nullptr) {
    x->done(common::unexpected(TransportError{TransportErrorKind::kOther, "out of memory"}));
    return;
  }
  auto ready = owner_.prepare(h, x->request, *x);
  if (!ready) {
    curl_easy_reset(h);
    idle_.push_back(h);
    x->done(common::unexpected(std::move(ready.error())));
    return;
  }
  Shard& shard = least_loaded();
  x->handle = h;
  x->shard = &shard;
  Exchange* raw = x.get();
  transfers_.emplace(h, std::move(x));
  ++shard.running;
  if (const CURLMcode rc = curl_multi_add_handle(shard.multi, h); rc != CURLM_OK) {
    complete(raw, common::unexpected(TransportError{TransportErrorKind::kOther, curl_multi_strerror(rc)}));
  }
}

int CurlMulti::on_socket(CURL*, curl_socket_t s, int what, void* user, void*) {
  auto& shard = *static_cast<Shard*>(user);
  if (what == CURL_POLL_REMOVE) {
    // libcurl says so before it closes the socket: stop watching, and leave the fd to it.
    if (auto it = shard.sockets.find(s); it != shard.sockets.end()) {
      it->second->forget();
      shard.sockets.erase(it);
    }
    return 0;
  }
  auto& socket = shard.sockets[s];
  if (!socket) {
    socket = std::make_shared<Socket>(shard.owner.io_);
    boost::system::error_code ec;
    socket->descriptor.assign(s, ec);
    if (ec) {
      shard.sockets.erase(s);
      return -1;  // libcurl fails the transfers on this socket
    }
  }
  socket->want = what;
  shard.owner.arm(shard, s, socket);
  return 0;
}

void CurlMulti::arm(Shard& shard, curl_socket_t s, const std::shared_ptr<Socket>& socket) {
  using boost::asio::posix::descriptor_base;
  if ((socket->want & CURL_POLL_IN) != 0 && !socket->reading) {
    socket->reading = true;
    socket->descriptor.async_wait(descriptor_base::wait_read, [this, &shard, s, socket](boost::system::error_code ec) {
      socket->reading = false;
      if (ec || socket->closed) return;
      action(shard, s, CURL_CSELECT_IN);
      if (!socket->closed) arm(shard, s, socket);
    });
  }
  if ((socket->want & CURL_POLL_OUT) != 0 && !socket->writing) {
    socket->writing = true;
    socket->descriptor.async_wait(descriptor_base::wait_write, [this, &shard, s, socket](boost::system::error_code ec) {
      socket->writing = false;
      if (ec || socket->closed) return;
      action(shard, s, CURL_CSELECT_OUT);
      if (!socket->closed) arm(shard, s, socket);
    });
  }
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* user) {
  auto* shard = static_cast<Shard*>(user);
  if (timeout_ms < 0) {
    shard->timer.cancel();
    return 0;
  }
  // Never call back into libcurl from its own callback: even a zero timeout goes through the loop.
  shard->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  shard->timer.async_wait([shard](boost::system::error_code ec) {
    if (!ec) shard->owner.action(*shard, CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void CurlMulti::action(Shard& shard, curl_socket_t s, int events) {
  int running = 0;
  curl_multi_socket_action(shard.multi, s, events, &running);
  collect_done(shard);
}

void CurlMulti::collect_done(Shard& shard) {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(shard.multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* h = msg->easy_handle;
    const CURLcode rc = msg->data.result;
    auto it = transfers_.find(h);
    if (it == transfers_.end()) continue;
    Exchange* x = it->second.get();
    complete(x, owner_.collect(h, rc, *x));
  }
}

void CurlMulti::complete(Exchange* x, TransportResult result) {
  CURL* h = x->handle;
  Shard& shard = *x->shard;
  curl_multi_remove_handle(shard.multi, h);
  --shard.running;
  auto node = transfers_.extract(h);
  common::secure_wipe(x->request.body);
  for (auto& [name, value] : x->request.headers) common::secure_wipe(value);
  common::secure_wipe(x->request.url);  // may carry a key as a query parameter
  curl_easy_reset(h);
  if (idle_.size() < owner_.options().max_idle_handles) {
    idle_.push_back(h);
  } else {
    curl_easy_cleanup(h);
  }
  TransportCallback done = std::move(x->done);
  node.mapped().reset();
  done(std::move(result));
}

void CurlMulti::shutdown() {
  // Transfers still in flight end now, each with an error its caller can map.
  while (!transfers_.empty()) {
    complete(transfers_.begin()->second.get(),
             common::unexpected(TransportError{TransportErrorKind::kOther, "the HTTP client is shutting down"}));
  }
  // Delayed tasks run now (they find the client closed and end with its error).
  while (!delayed_.empty()) {
    auto node = delayed_.extract(delayed_.begin());
    node.mapped().timer->cancel();
    node.mapped().task();
  }
  for (auto& shard : shards_) {
    shard->timer.cancel();
    for (auto& [s, socket] : shard->sockets) socket->forget();
    shard->sockets.clear();
  }
  work_.reset();
}

}  // namespace

std::shared_ptr<Transport> make_curl_transport(CurlTransportOptions options) {
  return std::make_shared<CurlTransport>(std::move(options));
}

}  // namespace alter::internal
