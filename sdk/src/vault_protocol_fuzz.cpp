// libFuzzer: any answer from a (possibly hostile) vault maps to a grant or a typed error.
#include <cstddef>
#include <cstdint>
#include <string>

#include <alter/common/strings.hpp>

#include "vault_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int status = 100 + (data[0] % 5) * 100 + data[1] % 30;
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  auto grant = alter::internal::parse_token_response(status, body);
  if (grant && !alter::common::is_safe_header_value(grant->access_token.reveal())) __builtin_trap();
  (void)alter::internal::map_vault_error(status, std::string(reinterpret_cast<const char*>(data + 2), size - 2));
  return 0;
}
