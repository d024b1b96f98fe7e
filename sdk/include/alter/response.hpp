#pragma once
/// @file response.hpp

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace alter {

/// Orders header names without regard to ASCII case.
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept;
};

/// Response headers; names compare case-insensitively, repeated headers keep every value.
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

/// A provider's answer. Holds no token: the `Authorization` header the SDK sent is not kept.
/// Reading it from several threads at once is safe (the body is parsed as JSON once, under a
/// lock); changing the JSON through the non-const `json()` while other threads read it is not.
class Response {
 public:
  Response();
  Response(int status_code, Headers headers, std::string body, std::string url,
           std::chrono::milliseconds elapsed, std::string request_id, int http_version = 11);
  Response(const Response& other);
  Response(Response&& other) noexcept;
  Response& operator=(const Response& other);
  Response& operator=(Response&& other) noexcept;
  ~Response();

  int status_code() const noexcept { return status_code_; }
  /// True for a 2xx status.
  bool ok() const noexcept { return status_code_ >= 200 && status_code_ < 300; }
  const Headers& headers() const noexcept { return headers_; }
  /// The first value of a header, if present (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  /// The body as received (decompressed).
  const std::string& text() const noexcept { return body_; }
  /// The body parsed as JSON, once; later calls return the same value. Returns a reference into
  /// this Response, so `for (const auto& e : r.json()["items"])` is safe for as long as `r`
  /// lives. On a non-const Response the reference is mutable, and `r.json()["missing"]` yields
  /// null rather than undefined behaviour. On a temporary (`vault.request(...).json()`) the JSON
  /// is moved out by value: keep it in a variable before iterating over a part of it.
  /// Throws `AlterSDKError` when the body is not valid JSON (or is nested deeper than 512).
  nlohmann::json& json() &;
  const nlohmann::json& json() const&;
  nlohmann::json json() &&;
  /// The final URL that was called (after templating and query merging).
  const std::string& url() const noexcept { return url_; }
  /// Time spent in the provider call.
  std::chrono::milliseconds elapsed() const noexcept { return elapsed_; }
  /// The vault's id for the token decision behind this call; it names the call's audit record.
  const std::string& request_id() const noexcept { return request_id_; }
  /// 10, 11, 20 or 30 for HTTP/1.0, 1.1, 2 and 3.
  int http_version() const noexcept { return http_version_; }

 private:
  int status_code_ = 0;
  Headers headers_;
  std::string body_;
  std::string url_;
  std::chrono::milliseconds elapsed_{0};
  std::string request_id_;
  int http_version_ = 11;
  struct ParsedBody;
  std::unique_ptr<ParsedBody> parsed_;  // the body's JSON, parsed on first use
};

}  // namespace alter
