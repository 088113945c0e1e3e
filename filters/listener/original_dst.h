#pragma once

// Recovers the destination a connection had before iptables REDIRECT sent it to us
// (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6).

#include <optional>

#include "proxy/network/address.h"

namespace podproxy::filters {

// The original destination of an accepted socket, or nullopt when it was not redirected (a
// direct connection to the listener) or the kernel cannot tell (no conntrack entry).
std::optional<network::Address> originalDestination(int fd, int family);

}  // namespace podproxy::filters
