#pragma once
/// @file provider.hpp
/// Provider identifiers: the well-known ones as an enum, any other as a string.

#include <string>
#include <string_view>

namespace alter {

/// Well-known providers of the vault's catalog. Any other catalog entry is reachable by its string
/// id through `ProviderId` (e.g. `"notion"`).
enum class Provider {
  Google,
  Github,
  Slack,
  Microsoft,
  Salesforce,
  Sentry,
  Notion,
  Gitlab,
  Bitbucket,
  Atlassian,
  Asana,
  Linear,
  Hubspot,
  Zoom,
  Dropbox,
  Box,
  Discord,
  Spotify,
  X,
  Linkedin,
  Shopify,
  Stripe,
  Figma,
  Airtable,
  Intercom,
  Zendesk,
  Quickbooks,
  // API-key, Basic and AWS providers (their calls always go through the vault's proxy).
  Openai,
  Anthropic,
  Twilio,
  Sendgrid,
  Mailgun,
  Pagerduty,
  AwsS3,
};

/// The catalog id of a provider: `to_string(Provider::Google) == "google"`. Never throws.
std::string_view to_string(Provider provider) noexcept;

/// A provider's catalog id, constructible from `Provider` or from any string. Validation of the id
/// happens when it is used in `Vault::request` (an empty or malformed id is an `AlterSDKError`).
class ProviderId {
 public:
  ProviderId(Provider provider) : id_(to_string(provider)) {}  // NOLINT: implicit by design
  ProviderId(std::string id) : id_(std::move(id)) {}           // NOLINT
  ProviderId(std::string_view id) : id_(id) {}                 // NOLINT
  ProviderId(const char* id) : id_(id ? id : "") {}            // NOLINT

  const std::string& str() const noexcept { return id_; }
  friend bool operator==(const ProviderId&, const ProviderId&) = default;

 private:
  std::string id_;
};

}  // namespace alter
