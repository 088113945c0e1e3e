#pragma once

// An IPv4 or IPv6 socket address (value type).

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podproxy::network {

class Address {
 public:
  Address() = default;
  explicit Address(const sockaddr* sa);

  // Parses an IP literal and port: ("127.0.0.1", 80), ("::1", 80). No name resolution.
  static std::optional<Address> fromIp(std::string_view ip, uint16_t port);
  // Parses "1.2.3.4:80" or "[::1]:80".
  static std::optional<Address> parse(std::string_view host_port);

  const sockaddr* sockAddr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t sockLen() const;
  int family() const { return storage_.ss_family; }
  bool valid() const { return storage_.ss_family == AF_INET || storage_.ss_family == AF_INET6; }
  uint16_t port() const;
  void setPort(uint16_t port);

  std::string ip() const;        // "127.0.0.1", "::1"
  std::string toString() const;  // "127.0.0.1:80", "[::1]:80"
  // The same, appended to a buffer the caller reuses: per-request paths (X-Forwarded-For, access
  // logs) format addresses without allocating, and IPv4 without printf.
  void appendIp(std::string& out) const;
  void appendTo(std::string& out) const;
  bool isLoopback() const;

  bool operator==(const Address& other) const;

 private:
  sockaddr_storage storage_{};
};

}  // namespace podproxy::network
