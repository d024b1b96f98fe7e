#include "api/pages.hpp"

namespace alter::server::api {

std::string para(const std::string& text) { return "<p>" + http::html_escape(text) + "</p>"; }

http::Response page(int status, const std::string& title, const std::string& body_html) {
  std::string html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<title>" + http::html_escape(title) + " - Alter Vault</title>"
                     "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
                     "color:#222}h1{font-size:1.4rem}code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}"
                     "table{border-collapse:collapse}td,th{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}"
                     "button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}</style></head><body>"
                     "<h1 id=\"title\">" + http::html_escape(title) + "</h1>" + body_html + "</body></html>";
  auto r = http::Response::html(status, std::move(html));
  r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace alter::server::api
