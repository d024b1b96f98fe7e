#pragma once
// Vocabulary shared by the server's parts.
#include <alter/common/result.hpp>

#include <chrono>
#include <map>
#include <string>

namespace alter::server {

using TimePoint = std::chrono::system_clock::time_point;
using Attributes = std::map<std::string, std::string>;

/// An error with the HTTP status and stable code it maps to when it reaches a client.
struct Error {
  int status = 500;
  std::string code;     // "invalid_request", "unavailable", ...
  std::string message;  // safe to show: never a secret
};

template <class T>
using Result = common::Result<T, Error>;

inline Error make_error(int status, std::string code, std::string message) {
  return Error{status, std::move(code), std::move(message)};
}

}  // namespace alter::server
