#pragma once
// Where the examples get their settings: the API key from $ALTER_API_KEY (as printed by
// `alter-vault dev` or `alter-vault keys create`), the vault from $ALTER_VAULT_URL (SDK default).
#include <cstdlib>
#include <string>

inline std::string api_key() {
  const char* key = std::getenv("ALTER_API_KEY");
  return key != nullptr ? key : "alter_key_...";
}

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}
