// libFuzzer: a configuration file of any bytes is applied or refused with an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.hpp"
#include "core/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  alter::server::Config config;
  (void)alter::server::apply_toml_text(config, text, "fuzz.toml");
  (void)alter::server::validate(config);
  (void)alter::server::parse_iso8601(text);
  (void)alter::server::parse_duration(text);
  return 0;
}
