#include "admin_client.hpp"

#include <alter/common/secret.hpp>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "curl_transport.hpp"

namespace alter::cli {

std::string encode(const std::string& value) { return boost::urls::encode(value, boost::urls::unreserved_chars); }

AdminClient::AdminClient(std::string base_url, std::string admin_token)
    : base_url_(std::move(base_url)),
      token_(std::move(admin_token)),
      transport_(alter::internal::make_curl_transport({"", "alter-vault-cli", 256 * 1024 * 1024, 4})) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

AdminClient::~AdminClient() { common::secure_wipe(token_); }

ApiAnswer AdminClient::try_call(const std::string& method, const std::string& path, const nlohmann::json* body) {
  alter::internal::HttpRequest req;
  req.method = method;
  req.url = base_url_ + path;
  req.timeout = std::chrono::seconds(120);
  req.headers.emplace_back("Accept", "application/json");
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  if (body != nullptr) {
    req.body = body->dump();
    req.has_body = true;
    req.headers.emplace_back("Content-Type", "application/json");
  }
  auto res = transport_->send(req);
  for (auto& [k, v] : req.headers) {
    if (k == "Authorization") common::secure_wipe(v);
  }
  if (!res) throw CliError{"cannot reach the vault at " + base_url_ + ": " + res.error().message, 1};
  ApiAnswer a;
  a.status = res->status;
  a.text = std::move(res->body);
  a.body = nlohmann::json::parse(a.text, nullptr, false);
  if (a.body.is_discarded()) a.body = nlohmann::json();
  return a;
}

ApiAnswer AdminClient::call(const std::string& method, const std::string& path, const nlohmann::json* body) {
  ApiAnswer a = try_call(method, path, body);
  if (a.status >= 400) {
    std::string message = a.body.is_object() && a.body.contains("message") && a.body["message"].is_string()
                              ? a.body["message"].get<std::string>()
                              : "HTTP " + std::to_string(a.status);
    if (a.status == 401) message += " (set --admin-token, ALTER_VAULT_ADMIN_TOKEN, or --data-dir holding admin.token)";
    throw CliError{message, 1};
  }
  return a;
}

}  // namespace alter::cli
