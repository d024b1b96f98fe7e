#pragma once
// The CLI's client of the admin API: JSON over libcurl (the SDK's transport), with the admin
// credential in the Authorization header.
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace alter::internal {
class Transport;
}

namespace alter::cli {

struct ApiAnswer {
  int status = 0;
  nlohmann::json body;
  std::string text;  // the raw body (exports)
};

class AdminClient {
 public:
  AdminClient(std::string base_url, std::string admin_token);
  ~AdminClient();
  /// Sends and returns the answer; throws CliError when the vault cannot be reached or answers an error.
  ApiAnswer call(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr);
  /// Like call() but returns error answers instead of throwing.
  ApiAnswer try_call(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr);
  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string token_;
  std::shared_ptr<alter::internal::Transport> transport_;
};

/// A failure to report: message on stderr, exit code.
struct CliError {
  std::string message;
  int exit_code = 1;
};

/// Percent-encodes a query or path value (Boost.URL).
std::string encode(const std::string& value);

}  // namespace alter::cli
