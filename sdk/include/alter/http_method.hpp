#pragma once
/// @file http_method.hpp

#include <string_view>

namespace alter {

/// HTTP methods accepted by `Vault::request`.
enum class HttpMethod { Get, Post, Put, Patch, Delete, Head, Options };

/// `"GET"`, `"POST"`, ... Never throws.
std::string_view to_string(HttpMethod method) noexcept;

}  // namespace alter
