// libFuzzer: a provider definition of any bytes (the admin API accepts custom ones) is parsed or
// refused; a parsed one survives its own JSON round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "oauth/catalog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto def = alter::server::oauth::parse_provider_text(text, "fuzz.json");
  if (def) {
    auto again = alter::server::oauth::parse_provider(def->to_json());
    if (!again || again->to_json() != def->to_json()) __builtin_trap();
    for (const auto& h : def->api_hosts) (void)alter::server::oauth::host_matches(h, text);
  }
  (void)alter::server::oauth::substitute(text, {{"shop", "acme"}});
  return 0;
}
