#pragma once
// Helpers shared by the Store implementations; not for the store's users.
#include <optional>
#include <string>

namespace alter::server::store_internal {

/// A random (version 4) UUID for a row the caller did not name, e.g. a new connection.
/// nullopt when the system has no randomness to give.
std::optional<std::string> new_row_id();

}  // namespace alter::server::store_internal
