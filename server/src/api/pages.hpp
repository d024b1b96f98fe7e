#pragma once
// The few HTML pages the vault serves to people (connect results, approvals). Every value is
// escaped; pages carry a strict Content-Security-Policy and no script.
#include <string>

#include "http/types.hpp"

namespace alter::server::api {

http::Response page(int status, const std::string& title, const std::string& body_html);
/// "<p>message</p>" with the message escaped.
std::string para(const std::string& text);

}  // namespace alter::server::api
