#pragma once
// Vocabulary of the domain layer: who calls, and a refusal with what its answer carries.
#include <nlohmann/json.hpp>

#include <string>

#include "core/types.hpp"

namespace alter::server::vault {

/// An app's API key, authenticated.
struct AppCaller {
  std::string app_id;
  std::string key_id;
};

/// An admin credential, authenticated.
struct AdminCaller {
  std::string id;
  std::string actor_id() const { return id; }
};

/// A domain error with the fields its answer carries besides it: `details` (policy rule,
/// approval id, ...) and top-level `extra` fields (request_id, approval_url, ...).
struct Refusal {
  Error error;
  nlohmann::json details = nlohmann::json::object();
  nlohmann::json extra = nlohmann::json::object();
};

template <class T>
using Decided = common::Result<T, Refusal>;

inline common::Unexpected<Refusal> refuse(Error e, nlohmann::json details = nlohmann::json::object(),
                                          nlohmann::json extra = nlohmann::json::object()) {
  return common::unexpected(Refusal{std::move(e), std::move(details), std::move(extra)});
}

}  // namespace alter::server::vault
