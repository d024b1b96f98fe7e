#pragma once
// The web console's files (console/, built by esbuild at build time), embedded in the binary.
#include <string_view>

namespace alter::server::console {

struct Asset {
  std::string_view body;
  std::string_view content_type;
  std::string_view etag;  // "\"<sha-256 prefix>\"", for conditional GETs
};

/// "index.html", "console.js" or "console.css"; nullptr for any other name, and for every name
/// when the vault was built without the console (-DALTER_BUILD_CONSOLE=OFF).
const Asset* find_asset(std::string_view name);

}  // namespace alter::server::console
