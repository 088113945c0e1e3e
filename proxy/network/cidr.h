#pragma once

// An IP prefix ("10.0.0.0/8", "::1/128", or a bare address meaning /32 or /128), for matching
// peer addresses (authorization source_ips).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/network/address.h"

namespace podproxy::network {

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  // IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 prefixes.
  bool contains(const Address& address) const;
  std::string toString() const;

 private:
  int family_ = 0;
  std::array<uint8_t, 16> bytes_{};
  uint32_t prefix_len_ = 0;
};

}  // namespace podproxy::network
