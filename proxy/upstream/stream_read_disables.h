#pragma once

// The read-disables one stream holds on its upstream connection (backpressure from a slow
// client), counted so that when the stream lets go of the connection every one it took is given
// back: the connection's next user must not inherit a reader stopped on someone else's behalf.

#include <cstdint>

#include "proxy/network/connection.h"

namespace podproxy::upstream {

class StreamReadDisables {
 public:
  void apply(network::Connection& connection, bool disable) {
    if (disable) {
      ++held_;
      connection.readDisable(true);
    } else if (held_ > 0) {
      --held_;
      connection.readDisable(false);
    }
  }
  // Gives back every disable held; a null `connection` (closed already) only forgets them.
  void releaseAll(network::Connection* connection) {
    if (connection != nullptr) {
      for (; held_ > 0; --held_) connection->readDisable(false);
    }
    held_ = 0;
  }

 private:
  uint32_t held_ = 0;
};

}  // namespace podproxy::upstream
