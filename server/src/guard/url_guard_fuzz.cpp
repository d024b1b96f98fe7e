// libFuzzer: the guard's URL reading never crashes, and what it accepts is a fixed point that
// libcurl reads with the same host and port.
#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "guard/url_guard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  auto u = alter::server::guard::normalize_url(raw);
  if (!u) return 0;
  auto again = alter::server::guard::normalize_url(u->url);
  if (!again || again->url != u->url || again->host != u->host || again->port != u->port) __builtin_trap();
  CURLU* cu = curl_url();
  if (curl_url_set(cu, CURLUPART_URL, u->url.c_str(), 0) != CURLUE_OK) __builtin_trap();
  char* host = nullptr;
  curl_url_get(cu, CURLUPART_HOST, &host, 0);
  std::string h = host != nullptr ? host : "";
  curl_free(host);
  curl_url_cleanup(cu);
  if (u->host_kind == alter::server::guard::HostKind::kIpv6) h = h.size() > 2 ? h.substr(1, h.size() - 2) : h;
  if (h != u->host) __builtin_trap();
  (void)alter::server::guard::check_api_url(raw, {"www.googleapis.com", "*.example.com", "10.20.30.40"}, size % 2 == 0);
  return 0;
}
