#include "policy/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace alter::server::policy {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton wants a NUL-terminated string; the longest textual IPv6 address is 45 characters.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  IpAddress address;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, address.bytes.data()) != 1) return std::nullopt;
    return address;
  }
  if (inet_pton(AF_INET6, buf, address.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes.data(), kMapped, sizeof(kMapped)) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    return address;
  }
  address.v6 = true;
  return address;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) == nullptr) return {};
  return buf;
}

namespace {
// Built by appending: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
std::string in_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out.append(s.substr(0, 64));
  out.push_back('"');
  return out;
}
}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* error) {
  const auto fail = [&](std::string message) -> std::optional<Cidr> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  const std::size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  auto address = IpAddress::parse(addr_text);
  if (!address) return fail(in_quotes(addr_text) + " is not an IPv4 or IPv6 address");

  Cidr cidr;
  cidr.base_ = *address;
  // An IPv4-mapped block is written in IPv6 but holds IPv4 addresses: its prefix counts 96 bits
  // of mapping first.
  const bool mapped = !address->v6 && addr_text.find(':') != std::string_view::npos;
  const int max_prefix = address->v6 ? 128 : 32;
  cidr.prefix_ = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view prefix_text = text.substr(slash + 1);
    int prefix = -1;
    const auto [ptr, ec] = std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
    const int limit = mapped ? 128 : max_prefix;
    if (prefix_text.empty() || ec != std::errc() || ptr != prefix_text.data() + prefix_text.size() ||
        prefix < 0 || prefix > limit || (mapped && prefix < 96)) {
      return fail(in_quotes(prefix_text) + " is not a prefix length from 0 to " +
                  std::to_string(limit) + (mapped ? " (96 at least for an IPv4-mapped block)" : ""));
    }
    cidr.prefix_ = mapped ? prefix - 96 : prefix;
  }
  // Clear the host bits.
  for (int i = 0; i < 16; ++i) {
    const int bits_left = cidr.prefix_ - i * 8;
    if (bits_left >= 8) continue;
    if (bits_left <= 0) {
      cidr.base_.bytes[static_cast<std::size_t>(i)] = 0;
    } else {
      cidr.base_.bytes[static_cast<std::size_t>(i)] &= static_cast<std::uint8_t>(0xff << (8 - bits_left));
    }
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.v6 != base_.v6) return false;
  int bits = prefix_;
  std::size_t i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (address.bytes[i] != base_.bytes[i]) return false;
  }
  if (bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
  return (address.bytes[i] & mask) == base_.bytes[i];
}

std::string Cidr::to_string() const { return base_.to_string() + "/" + std::to_string(prefix_); }

}  // namespace alter::server::policy
