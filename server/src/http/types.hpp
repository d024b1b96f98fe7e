#pragma once
// The server's own request and response types: handlers see these, never Beast.
#include <alter/response.hpp>  // Headers, CaseInsensitiveLess

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace alter::server::http {

using alter::Headers;

struct Request {
  std::string method;  // "GET", ...
  std::string target;  // as received: path and query
  std::string path;    // decoded path
  std::map<std::string, std::string> query;  // decoded; the first of repeated keys wins
  Headers headers;
  std::string body;
  std::string remote_ip;
  std::chrono::steady_clock::time_point received_at{};

  std::string header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string query_param(const std::string& name, std::string fallback = {}) const {
    auto it = query.find(name);
    return it == query.end() ? fallback : it->second;
  }
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";

  static Response json(int status, const nlohmann::json& body);
  /// `{"error": code, "message": message, "details": details}` plus any `extra` top-level fields.
  static Response error(int status, std::string_view code, std::string_view message,
                        const nlohmann::json& details = nlohmann::json::object(),
                        const nlohmann::json& extra = nlohmann::json::object());
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  static Response html(int status, std::string body);
  static Response redirect(const std::string& location, int status = 302);
};

/// Sends the answer to a request, now or later, from any thread; the first answer counts, later
/// ones are ignored. Copies share one answer.
class Reply {
 public:
  struct Target {
    virtual ~Target() = default;
    virtual void send(Response response) = 0;
    /// Runs `make` where the request is served (its connection's I/O thread), and sends what it
    /// returns: the thread that completed the work (the group commit's) only hands it over.
    virtual void send_from(std::function<Response()> make) = 0;
  };
  explicit Reply(std::shared_ptr<Target> target) : target_(std::move(target)) {}
  void operator()(Response response) const { target_->send(std::move(response)); }
  void from(std::function<Response()> make) const { target_->send_from(std::move(make)); }

 private:
  std::shared_ptr<Target> target_;
};

/// Escapes text for HTML element content and attribute values.
std::string html_escape(std::string_view text);

}  // namespace alter::server::http
