#pragma once
// Buffers that hold secrets (tokens, keys) are wiped with OPENSSL_cleanse when dropped, so a token
// does not linger in freed heap memory.
#include <openssl/crypto.h>

#include <string>
#include <string_view>
#include <utility>

namespace alter::common {

/// Overwrites the whole capacity of `s` (the bytes past size() may still hold older contents).
inline void secure_wipe(std::string& s) noexcept {
  if (s.capacity() > 0) OPENSSL_cleanse(s.data(), s.capacity());
  s.clear();
}

/// A move-only string that wipes itself. It has no operator<< and no implicit conversion, so it
/// cannot end up in a log line or an exception text by accident.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) { secure_wipe(other.value_); }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      secure_wipe(value_);
      value_ = std::move(other.value_);
      secure_wipe(other.value_);
    }
    return *this;
  }
  ~SecretString() { secure_wipe(value_); }

  /// Deliberately verbose name: every read of a secret is visible in review.
  std::string_view reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  std::size_t size() const noexcept { return value_.size(); }
  void wipe() noexcept { secure_wipe(value_); }

 private:
  std::string value_;
};

}  // namespace alter::common
