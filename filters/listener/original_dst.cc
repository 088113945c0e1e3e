#include "filters/listener/original_dst.h"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace podproxy::filters {

std::optional<network::Address> originalDestination(int fd, int family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = -1;
  if (family == AF_INET) {
    rc = ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  } else if (family == AF_INET6) {
    rc = ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc != 0) return std::nullopt;
  network::Address address(reinterpret_cast<sockaddr*>(&ss));
  if (!address.valid()) return std::nullopt;
  return address;
}

}  // namespace podproxy::filters
