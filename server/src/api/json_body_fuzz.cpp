// libFuzzer: any request body is read into a bounded JSON object or refused with a 400 that quotes
// none of it; whatever is accepted serializes and parses back (no depth reaches the serializer).
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  alter::server::http::Request req;
  req.body.assign(reinterpret_cast<const char*>(data), size);
  auto body = alter::server::api::json_object_body(req);
  if (!body) {
    if (body.error().errc != alter::server::Errc::kInvalidArgument) __builtin_trap();
    return 0;
  }
  const std::string text = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)alter::server::api::string_field(*body, "provider_id", {.required = true, .max_size = 64});
  (void)alter::server::api::string_map_field(*body, "attributes", true);
  alter::server::http::Request again;
  again.body = text;
  if (!alter::server::api::json_object_body(again)) __builtin_trap();
  return 0;
}
