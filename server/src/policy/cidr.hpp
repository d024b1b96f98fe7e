#pragma once
// IP addresses and CIDR blocks for the `source_ips` condition. Parsing goes through inet_pton.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace alter::server::policy {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4

  /// IPv4 ("10.1.2.3") or IPv6 ("2001:db8::1"). An IPv4-mapped IPv6 address ("::ffff:10.1.2.3")
  /// is taken as the IPv4 address it carries, so IPv4 blocks apply to it.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
};

class Cidr {
 public:
  /// "10.0.0.0/8", "2001:db8::/32", or a single address (a /32 or /128). Host bits below the
  /// prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8).
  static std::optional<Cidr> parse(std::string_view text, std::string* error);
  bool contains(const IpAddress& address) const;
  /// The canonical text ("10.0.0.0/8").
  std::string to_string() const;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

}  // namespace alter::server::policy
