// Small value types of the public API: enums, Response, the exceptions.
#include <alter/errors.hpp>
#include <alter/http_method.hpp>
#include <alter/provider.hpp>
#include <alter/response.hpp>

#include <alter/common/json.hpp>
#include <alter/common/strings.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>

#include "sdk_error.hpp"

namespace alter {

std::string_view to_string(Provider provider) noexcept {
  switch (provider) {
    case Provider::Google: return "google";
    case Provider::Github: return "github";
    case Provider::Slack: return "slack";
    case Provider::Microsoft: return "microsoft";
    case Provider::Salesforce: return "salesforce";
    case Provider::Sentry: return "sentry";
    case Provider::Notion: return "notion";
    case Provider::Gitlab: return "gitlab";
    case Provider::Bitbucket: return "bitbucket";
    case Provider::Atlassian: return "atlassian";
    case Provider::Asana: return "asana";
    case Provider::Linear: return "linear";
    case Provider::Hubspot: return "hubspot";
    case Provider::Zoom: return "zoom";
    case Provider::Dropbox: return "dropbox";
    case Provider::Box: return "box";
    case Provider::Discord: return "discord";
    case Provider::Spotify: return "spotify";
    case Provider::X: return "x";
    case Provider::Linkedin: return "linkedin";
    case Provider::Shopify: return "shopify";
    case Provider::Stripe: return "stripe";
    case Provider::Figma: return "figma";
    case Provider::Airtable: return "airtable";
    case Provider::Intercom: return "intercom";
    case Provider::Zendesk: return "zendesk";
    case Provider::Quickbooks: return "quickbooks";
    case Provider::Openai: return "openai";
    case Provider::Anthropic: return "anthropic";
    case Provider::Twilio: return "twilio";
    case Provider::Sendgrid: return "sendgrid";
    case Provider::Mailgun: return "mailgun";
    case Provider::Pagerduty: return "pagerduty";
    case Provider::AwsS3: return "aws-s3";
  }
  return "unknown";
}

std::string_view to_string(HttpMethod method) noexcept {
  switch (method) {
    case HttpMethod::Get: return "GET";
    case HttpMethod::Post: return "POST";
    case HttpMethod::Put: return "PUT";
    case HttpMethod::Patch: return "PATCH";
    case HttpMethod::Delete: return "DELETE";
    case HttpMethod::Head: return "HEAD";
    case HttpMethod::Options: return "OPTIONS";
  }
  return "GET";
}

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return common::ascii_lower(x) < common::ascii_lower(y);
  });
}

struct Response::ParsedBody {
  std::once_flag once;
  nlohmann::json value;
  bool ok = false;
};

Response::Response() : parsed_(std::make_unique<ParsedBody>()) {}

Response::Response(int status_code, Headers headers, std::string body, std::string url,
                   std::chrono::milliseconds elapsed, std::string request_id, int http_version)
    : status_code_(status_code),
      headers_(std::move(headers)),
      body_(std::move(body)),
      url_(std::move(url)),
      elapsed_(elapsed),
      request_id_(std::move(request_id)),
      http_version_(http_version),
      parsed_(std::make_unique<ParsedBody>()) {}

// A copy parses for itself: changes made through one copy's json() never show in another.
Response::Response(const Response& o)
    : status_code_(o.status_code_),
      headers_(o.headers_),
      body_(o.body_),
      url_(o.url_),
      elapsed_(o.elapsed_),
      request_id_(o.request_id_),
      http_version_(o.http_version_),
      parsed_(std::make_unique<ParsedBody>()) {}

Response::Response(Response&& o) noexcept = default;

Response& Response::operator=(const Response& o) {
  if (this != &o) *this = Response(o);
  return *this;
}

Response& Response::operator=(Response&& o) noexcept = default;
Response::~Response() = default;

std::optional<std::string> Response::header(std::string_view name) const {
  auto it = headers_.find(name);
  if (it == headers_.end()) return std::nullopt;
  return it->second;
}

const nlohmann::json& Response::json() const& {
  if (!parsed_) throw AlterSDKError("the Response was moved from");
  std::call_once(parsed_->once, [this] {
    // Provider bodies are the caller's data: generous limits, but nothing deep enough to
    // exhaust the stack of a recursive dump() in user code.
    auto parsed = common::parse_json(body_, {.max_depth = 512, .max_string = SIZE_MAX, .max_key = SIZE_MAX,
                                             .max_elements = SIZE_MAX});
    if (parsed) {
      parsed_->value = std::move(parsed.value());
      parsed_->ok = true;
    }
  });
  if (!parsed_->ok) {
    throw AlterSDKError("response body is not valid JSON",
                        {{"status_code", status_code_}, {"content_type", header("content-type").value_or("")}});
  }
  return parsed_->value;
}

nlohmann::json& Response::json() & {
  return const_cast<nlohmann::json&>(static_cast<const Response&>(*this).json());
}

nlohmann::json Response::json() && {
  return std::move(const_cast<nlohmann::json&>(static_cast<const Response&>(*this).json()));
}

// ---- exceptions -------------------------------------------------------------------------------

struct AlterSDKError::Data {
  std::string message;
  nlohmann::json details;
};

AlterSDKError::AlterSDKError(const std::string& message, nlohmann::json details)
    : std::runtime_error(message), data_(std::make_shared<const Data>(Data{message, std::move(details)})) {}

const std::string& AlterSDKError::message() const noexcept { return data_->message; }
const nlohmann::json& AlterSDKError::details() const noexcept { return data_->details; }

int TokenRetrievalError::status() const noexcept {
  const auto& d = details();
  auto it = d.find("status");
  return (it != d.end() && it->is_number_integer()) ? it->get<int>() : 0;
}

std::string TokenRetrievalError::error_code() const {
  const auto& d = details();
  auto it = d.find("error");
  return (it != d.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

PolicyViolationError::PolicyViolationError(const std::string& message, std::string policy_error,
                                           nlohmann::json details)
    : TokenRetrievalError(message, std::move(details)),
      policy_error_(std::make_shared<const std::string>(std::move(policy_error))) {}
const std::string& PolicyViolationError::policy_error() const noexcept { return *policy_error_; }

TokenExpiredError::TokenExpiredError(const std::string& message, std::string connection_id, nlohmann::json details)
    : TokenRetrievalError(message, std::move(details)),
      connection_id_(std::make_shared<const std::string>(std::move(connection_id))) {}
const std::string& TokenExpiredError::connection_id() const noexcept { return *connection_id_; }

struct ApprovalRequiredError::Ids {
  std::string approval_id;
  std::string approval_url;
};
ApprovalRequiredError::ApprovalRequiredError(const std::string& message, std::string approval_id,
                                             std::string approval_url, nlohmann::json details)
    : TokenRetrievalError(message, std::move(details)),
      ids_(std::make_shared<const Ids>(Ids{std::move(approval_id), std::move(approval_url)})) {}
const std::string& ApprovalRequiredError::approval_id() const noexcept { return ids_->approval_id; }
const std::string& ApprovalRequiredError::approval_url() const noexcept { return ids_->approval_url; }

struct ProviderAPIError::Body {
  int status_code;
  std::string response_body;
};
ProviderAPIError::ProviderAPIError(const std::string& message, int status_code, std::string response_body,
                                   nlohmann::json details)
    : AlterSDKError(message, std::move(details)),
      body_(std::make_shared<const Body>(Body{status_code, std::move(response_body)})) {}
int ProviderAPIError::status_code() const noexcept { return body_->status_code; }
const std::string& ProviderAPIError::response_body() const noexcept { return body_->response_body; }

namespace internal {

void raise(const SdkError& e) {
  nlohmann::json details = e.details.is_object() ? e.details : nlohmann::json::object();
  if (e.status != 0) details["status"] = e.status;
  if (!e.code.empty()) details["error"] = e.code;
  switch (e.kind) {
    case ErrorKind::kValidation: throw AlterSDKError(e.message, std::move(details));
    case ErrorKind::kTokenRetrieval: throw TokenRetrievalError(e.message, std::move(details));
    case ErrorKind::kPolicy: throw PolicyViolationError(e.message, e.code, std::move(details));
    case ErrorKind::kConnectionNotFound: throw ConnectionNotFoundError(e.message, std::move(details));
    case ErrorKind::kTokenExpired: throw TokenExpiredError(e.message, e.connection_id, std::move(details));
    case ErrorKind::kApprovalRequired:
      throw ApprovalRequiredError(e.message, e.approval_id, e.approval_url, std::move(details));
    case ErrorKind::kNetwork: throw NetworkError(e.message, std::move(details));
    case ErrorKind::kTimeout: throw TimeoutError(e.message, std::move(details));
    case ErrorKind::kProviderApi: throw ProviderAPIError(e.message, e.status, e.response_body, std::move(details));
  }
  throw AlterSDKError(e.message, std::move(details));
}

}  // namespace internal
}  // namespace alter
