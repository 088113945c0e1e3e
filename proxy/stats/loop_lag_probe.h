#pragma once

// Measures a worker's event-loop lag: a timer armed every `interval` records how late it fired
// (the time the loop spent busy or blocked past the deadline) into the worker's histogram.

#include <uv.h>

#include <chrono>
#include <memory>

#include "proxy/event/dispatcher.h"
#include "proxy/stats/histogram.h"

namespace podproxy::stats {

class LoopLagProbe {
 public:
  LoopLagProbe(event::Dispatcher& dispatcher, Histogram& lag_seconds,
               std::chrono::milliseconds interval = std::chrono::milliseconds(250))
      : lag_(lag_seconds), interval_(interval) {
    timer_ = dispatcher.createTimer([this] { onTimer(); });
    arm();
  }

 private:
  void arm() {
    due_ns_ =
        uv_hrtime() + static_cast<uint64_t>(
                          std::chrono::duration_cast<std::chrono::nanoseconds>(interval_).count());
    timer_->enable(interval_);
  }
  void onTimer() {
    const uint64_t now = uv_hrtime();
    // libuv fires on its cached loop time, never early by more than a millisecond of rounding.
    const double late = now > due_ns_ ? static_cast<double>(now - due_ns_) / 1e9 : 0.0;
    lag_.observe(late);
    arm();
  }

  Histogram& lag_;
  const std::chrono::milliseconds interval_;
  std::unique_ptr<event::Timer> timer_;
  uint64_t due_ns_ = 0;
};

}  // namespace podproxy::stats
