#pragma once
// The PostgreSQL schema as an ordered list of versioned migrations. Append only: a migration that
// has shipped is never edited; a change is a new version.
#include <span>
#include <string_view>

namespace alter::server::pg {

struct Migration {
  int version = 0;
  std::string_view sql;  // one or more statements, no values
};

/// Ascending by version, starting at 1, without gaps.
std::span<const Migration> migrations();

}  // namespace alter::server::pg
