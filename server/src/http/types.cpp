#include "http/types.hpp"

namespace alter::server::http {

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message, const nlohmann::json& details,
                         const nlohmann::json& extra) {
  nlohmann::json body = {{"error", code}, {"message", message},
                         {"details", details.is_object() ? details : nlohmann::json::object()}};
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
  }
  return json(status, body);
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::html(int status, std::string body) { return text(status, std::move(body), "text/html; charset=utf-8"); }

Response Response::redirect(const std::string& location, int status) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Location", location);
  r.content_type = "text/plain; charset=utf-8";
  r.body = "Redirecting\n";
  return r;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace alter::server::http
