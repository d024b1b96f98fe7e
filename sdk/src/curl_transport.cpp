#include "curl_transport.hpp"

#include <alter/common/secret.hpp>
#include <alter/common/strings.hpp>
#include <curl/curl.h>

#include <array>
#include <chrono>
#include <mutex>
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
    for (CURL* h : idle_) curl_easy_cleanup(h);
    curl_share_cleanup(share_);
  }

  TransportResult send(const HttpRequest& request) override {
    CURL* h = acquire();
    auto result = perform(h, request);
    release(h);
    return result;
  }

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

  TransportResult perform(CURL* h, const HttpRequest& req) {
    HttpResponse response;
    WriteState write{&response.body, options_.max_response_bytes};

    SlistPtr headers;
    bool has_user_agent = false;
    for (const auto& [name, value] : req.headers) {
      if (common::iequals(name, "user-agent")) has_user_agent = true;
      std::string line;
      line.reserve(name.size() + value.size() + 2);
      line.append(name).append(value.empty() ? ";" : ": ").append(value);
      curl_slist* next = curl_slist_append(headers.get(), line.c_str());
      common::secure_wipe(line);
      if (next == nullptr) return common::unexpected(TransportError{TransportErrorKind::kOther, "out of memory"});
      headers.release();
      headers.reset(next);
    }
    // curl would add "Expect: 100-continue" to large bodies: one round trip more for nothing.
    headers.reset(curl_slist_append(headers.release(), "Expect:"));

    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
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
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_response_bytes));
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!has_user_agent && !options_.user_agent.empty()) {
      curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &write);

    if (req.method == "GET" && !req.has_body) {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (req.has_body || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      }
    }

    const auto start = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(h);
    response.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    headers.reset();

    if (rc != CURLE_OK) {
      if (write.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        return common::unexpected(TransportError{TransportErrorKind::kTooLarge, "response body too large"});
      }
      std::string message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
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
    return response;
  }

  CurlTransportOptions options_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

std::shared_ptr<Transport> make_curl_transport(CurlTransportOptions options) {
  return std::make_shared<CurlTransport>(std::move(options));
}

}  // namespace alter::internal
