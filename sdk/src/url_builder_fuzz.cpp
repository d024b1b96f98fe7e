// libFuzzer: URL templating and base-URL parsing never crash, and a built URL always parses again
// with the same scheme rules.
#include <cstddef>
#include <cstdint>
#include <string>

#include "url_builder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\n');
  const std::string tmpl = input.substr(0, split);
  const std::string value = split == std::string::npos ? "" : input.substr(split + 1);
  auto built = alter::internal::build_url(tmpl, {{"id", value}}, {{"q", value}});
  if (built) {
    auto again = alter::internal::build_url(built->url, {}, {});
    if (!again) __builtin_trap();  // what we built must itself be acceptable
  }
  (void)alter::internal::build_url(input, {}, {});
  (void)alter::internal::normalize_base_url(input);
  return 0;
}
