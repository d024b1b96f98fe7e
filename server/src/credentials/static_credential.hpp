#pragma once
// Credentials that are not OAuth grants (the catalog's `credential.kind`): an API key sent in a
// header or a query parameter, HTTP Basic, an AWS access key (Signature Version 4). A user or an
// app supplies one (admin API / CLI import); it is checked here, sealed like a token set (the
// fields' JSON in the connection's sealed blob), never readable back, and put on each call by the
// vault's proxy: the secret never leaves the vault.
#include <alter/common/secret.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"
#include "oauth/catalog.hpp"
#include "transport.hpp"

namespace alter::server::credentials {

/// The fields a kind takes: api_key {api_key, and one per more_headers entry}; basic {username, password}; aws_sigv4
/// {access_key_id, secret_access_key, session_token?}; oauth2_client_credentials {client_id,
/// client_secret} (the vault gets its access tokens with them).
using Fields = std::map<std::string, common::SecretString>;

/// Checks `fields` against the kind: every required field present, no unknown one, no empty value,
/// no CR/LF or other control character, the kind's own rules (no ':' in a Basic user name, an AWS
/// key id of 16 to 128 upper-case letters and digits). Answers the text to seal. 400
/// invalid_request naming the field, never its value.
Result<common::SecretString> pack(const oauth::CredentialSpec& spec, const Fields& fields);

/// The fields of a sealed credential made by pack().
Result<Fields> unpack(std::string_view packed);

/// What the caller sent that carries the provider's credential (its header, its query parameter,
/// Authorization for Basic, the headers SigV4 sets), said as the reason to refuse the call:
/// refused, never overridden, so nobody is surprised by which one was used. std::nullopt: none.
std::optional<std::string> clash(const oauth::ProviderDef& provider, const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& url);

/// Puts the credential on `request` (whose URL the guard checked): the header, the query
/// parameter, `Authorization: Basic`, or the SigV4 headers (the body signed as it will be sent).
/// `variables`: the connection's (the AWS region may be one). 400 invalid_request when the caller
/// sent the credential's own header or query parameter (clash()), or the request cannot be signed.
Result<void> apply(const oauth::ProviderDef& provider, const Fields& fields, const std::map<std::string, std::string>& variables,
                   internal::HttpRequest& request, std::chrono::system_clock::time_point now);

}  // namespace alter::server::credentials
