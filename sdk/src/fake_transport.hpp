#pragma once
// A scripted Transport for unit tests: records every request, answers with a function.
#include <functional>
#include <mutex>
#include <vector>

#include "transport.hpp"

namespace alter::internal {

class FakeTransport final : public Transport {
 public:
  using Script = std::function<TransportResult(const HttpRequest&)>;
  explicit FakeTransport(Script script = {}) : script_(std::move(script)) {}

  TransportResult send(const HttpRequest& request) override {
    Script script;
    {
      std::lock_guard lock(mu_);
      sent_.push_back(request);
      script = script_;
    }
    if (!script) return reply(200, "{}");
    return script(request);
  }

  void set_script(Script script) {
    std::lock_guard lock(mu_);
    script_ = std::move(script);
  }
  std::vector<HttpRequest> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    sent_.clear();
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return sent_.size();
  }

  static TransportResult reply(int status, std::string body, Headers headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
  }
  static TransportResult fail(TransportErrorKind kind, std::string message = "fake failure") {
    return common::unexpected(TransportError{kind, std::move(message)});
  }

 private:
  mutable std::mutex mu_;
  Script script_;
  std::vector<HttpRequest> sent_;
};

inline std::string header_of(const HttpRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return {};
}

inline bool has_header(const HttpRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return true;
    }
  }
  return false;
}

}  // namespace alter::internal
