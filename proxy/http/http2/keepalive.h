#pragma once

// HTTP/2 connection keepalive (Envoy's connection_keepalive, gRPC's keepalive): finds peers that
// vanished without a FIN or RST (a node gone, a dropped conntrack entry, a partition), whose
// connections would otherwise take new streams and hang them until each one's timeout.
//
// Silence-based: a PING goes out only once the peer has sent nothing for `interval`, so a busy
// connection never pings. Any bytes from the peer after that PING count as an answer, not only
// its PING ACK (a large frame ahead of the ACK is no sign of death). Nothing within `timeout`
// ends the connection.
//
// Only the timer lives here; the owner (the downstream connection manager, an upstream pool's
// connection) reports input, sends the PING through its codec and closes the connection.

#include <chrono>
#include <cstdint>

#include "proxy/event/dispatcher.h"
#include "proxy/event/timer_wheel.h"

namespace podproxy::http::http2 {

class ConnectionKeepalive final : private event::WheelTimer {
 public:
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    virtual void sendKeepalivePing() = 0;
    // Nothing arrived within the timeout after a PING. The keepalive is stopped.
    virtual void onKeepaliveTimeout() = 0;
  };

  // Starts watching at once: the first PING goes out after `interval` of silence from now.
  ConnectionKeepalive(event::Dispatcher& dispatcher, std::chrono::milliseconds interval,
                      std::chrono::milliseconds timeout, Callbacks& callbacks);

  // The peer sent bytes. Cheap enough for every read: it only notes the loop's time.
  void onInput() { last_input_ms_ = dispatcher_.nowMs(); }

 private:
  void onWheelTimeout() override;
  void arm(uint64_t ms);

  event::Dispatcher& dispatcher_;
  const uint64_t interval_ms_;
  const uint64_t timeout_ms_;
  Callbacks& callbacks_;
  uint64_t last_input_ms_;
  uint64_t ping_sent_ms_ = 0;
  bool awaiting_answer_ = false;
};

}  // namespace podproxy::http::http2
