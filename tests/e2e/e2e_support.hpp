#pragma once
// Small helpers the e2e tests share: paths from the environment, random test values, and waiting
// for an event (never for a fixed time).
#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace alter::e2e {

/// The environment variable `name`, or `fallback` (a path CMake compiled in) when unset or empty.
inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

/// `bytes` random bytes as lower-case hex.
inline std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

/// Polls `condition` until it holds or `timeout` passes: waiting for an observable event (with a
/// short pause between looks), never for a fixed time.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds every = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace alter::e2e
