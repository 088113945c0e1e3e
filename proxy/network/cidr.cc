#include "proxy/network/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace podproxy::network {

namespace {
// The address bytes of `a` (16 for IPv6, 4 for IPv4; IPv4-mapped IPv6 as IPv4).
int addressBytes(const Address& a, std::array<uint8_t, 16>& out) {
  if (a.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a.sockAddr());
    std::memcpy(out.data(), &sin->sin_addr, 4);
    return AF_INET;
  }
  if (a.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.sockAddr());
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      std::memcpy(out.data(), reinterpret_cast<const uint8_t*>(&sin6->sin6_addr) + 12, 4);
      return AF_INET;
    }
    std::memcpy(out.data(), &sin6->sin6_addr, 16);
    return AF_INET6;
  }
  return 0;
}
}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string ip(text.substr(0, slash));
  Cidr c;
  if (inet_pton(AF_INET, ip.c_str(), c.bytes_.data()) == 1) {
    c.family_ = AF_INET;
    c.prefix_len_ = 32;
  } else if (inet_pton(AF_INET6, ip.c_str(), c.bytes_.data()) == 1) {
    c.family_ = AF_INET6;
    c.prefix_len_ = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (len.empty() || ec != std::errc() || end != len.data() + len.size() || n > c.prefix_len_) {
      return std::nullopt;
    }
    c.prefix_len_ = n;
  }
  return c;
}

bool Cidr::contains(const Address& address) const {
  std::array<uint8_t, 16> bytes{};
  if (addressBytes(address, bytes) != family_) return false;
  const uint32_t full = prefix_len_ / 8;
  if (std::memcmp(bytes.data(), bytes_.data(), full) != 0) return false;
  const uint32_t rest = prefix_len_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (bytes_[full] & mask);
}

std::string Cidr::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_, bytes_.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(prefix_len_);
}

}  // namespace podproxy::network
