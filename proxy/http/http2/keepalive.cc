#include "proxy/http/http2/keepalive.h"

namespace podproxy::http::http2 {

ConnectionKeepalive::ConnectionKeepalive(event::Dispatcher& dispatcher,
                                         std::chrono::milliseconds interval,
                                         std::chrono::milliseconds timeout, Callbacks& callbacks)
    : dispatcher_(dispatcher),
      interval_ms_(static_cast<uint64_t>(interval.count())),
      timeout_ms_(static_cast<uint64_t>(timeout.count())),
      callbacks_(callbacks),
      last_input_ms_(dispatcher.nowMs()) {
  arm(interval_ms_);
}

void ConnectionKeepalive::arm(uint64_t ms) {
  dispatcher_.timerWheel().arm(*this, std::chrono::milliseconds(ms));
}

void ConnectionKeepalive::onWheelTimeout() {
  const uint64_t now = dispatcher_.nowMs();
  if (awaiting_answer_) {
    if (last_input_ms_ < ping_sent_ms_) {
      callbacks_.onKeepaliveTimeout();  // may destroy this
      return;
    }
    awaiting_answer_ = false;
  }
  // The wheel fires a little late and input moves the silence's start: measure it now.
  const uint64_t silent = now - last_input_ms_;
  if (silent < interval_ms_) {
    arm(interval_ms_ - silent);
    return;
  }
  awaiting_answer_ = true;
  ping_sent_ms_ = now;
  arm(timeout_ms_);
  callbacks_.sendKeepalivePing();
}

}  // namespace podproxy::http::http2
