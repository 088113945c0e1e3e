#pragma once

// Listening sockets are created and bound on the main thread (so a busy port fails startup
// with a clear error), one per worker with SO_REUSEPORT, then handed to each worker's loop.

#include <expected>
#include <string>
#include <vector>

#include "proxy/network/address.h"

namespace podproxy::network {

struct ListenSockets {
  Address bound;         // the real address, with the port the kernel chose for port 0
  std::vector<int> fds;  // one per worker
};

// Creates `count` sockets bound to `address` with SO_REUSEPORT (the kernel spreads accepted
// connections across them). With port 0 the first socket picks the port and the others reuse it.
std::expected<ListenSockets, std::string> createListenSockets(const Address& address, int count,
                                                              int backlog = 1024);

void closeSockets(std::vector<int>& fds);

}  // namespace podproxy::network
