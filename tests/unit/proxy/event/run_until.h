#pragma once

// Runs a test's loop until a condition holds, bounded in time.

#include <chrono>
#include <functional>

#include "proxy/event/dispatcher.h"

namespace podproxy::event::testing {

// Runs the loop until `pred` holds or `timeout` passes; returns pred().
inline bool runUntil(Dispatcher& dispatcher, const std::function<bool()>& pred,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  if (pred()) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto timer = dispatcher.createTimer([&] {
    if (pred() || std::chrono::steady_clock::now() > deadline) dispatcher.exit();
  });
  timer->enableRepeating(std::chrono::milliseconds(1));
  dispatcher.run();
  return pred();
}

}  // namespace podproxy::event::testing
