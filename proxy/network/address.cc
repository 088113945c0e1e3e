#include "proxy/network/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace podproxy::network {

Address::Address(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in6));
  }
}

std::optional<Address> Address::fromIp(std::string_view ip, uint16_t port) {
  std::string s(ip);
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

std::optional<Address> Address::parse(std::string_view host_port) {
  std::string_view host;
  std::string_view port_str;
  if (!host_port.empty() && host_port.front() == '[') {
    const size_t close = host_port.find(']');
    if (close == std::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return std::nullopt;
    }
    host = host_port.substr(1, close - 1);
    port_str = host_port.substr(close + 2);
  } else {
    const size_t colon = host_port.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = host_port.substr(0, colon);
    port_str = host_port.substr(colon + 1);
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), port);
  if (ec != std::errc() || ptr != port_str.data() + port_str.size() || port > 65535) {
    return std::nullopt;
  }
  return fromIp(host, static_cast<uint16_t>(port));
}

socklen_t Address::sockLen() const {
  return storage_.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t Address::port() const {
  if (storage_.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (storage_.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

void Address::setPort(uint16_t port) {
  if (storage_.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  } else if (storage_.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  }
}

void Address::appendIp(std::string& out) const {
  if (storage_.ss_family == AF_INET) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
    char buf[INET_ADDRSTRLEN];
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *p++ = '.';
      const unsigned octet = bytes[i];
      if (octet >= 100) *p++ = static_cast<char>('0' + octet / 100);
      if (octet >= 10) *p++ = static_cast<char>('0' + octet / 10 % 10);
      *p++ = static_cast<char>('0' + octet % 10);
    }
    out.append(buf, p);
  } else if (storage_.ss_family == AF_INET6) {
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
    out.append(buf);
  }
}

void Address::appendTo(std::string& out) const {
  const bool v6 = storage_.ss_family == AF_INET6;
  if (v6) out += '[';
  appendIp(out);
  if (v6) out += ']';
  out += ':';
  char buf[8];
  out.append(buf, std::to_chars(buf, buf + sizeof(buf), port()).ptr);
}

std::string Address::ip() const {
  std::string out;
  appendIp(out);
  return out;
}

std::string Address::toString() const {
  std::string out;
  appendTo(out);
  return out;
}

bool Address::isLoopback() const {
  if (storage_.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage_);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (storage_.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return v6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

bool Address::operator==(const Address& other) const {
  return family() == other.family() && port() == other.port() && ip() == other.ip();
}

}  // namespace podproxy::network
