#pragma once

// What the admin endpoints can see and do in the server; implemented by server::Server.
// Admin requests run on the main thread only, never on a worker loop.

#include <string>

namespace podproxy::admin {

class AdminHandler {
 public:
  virtual ~AdminHandler() = default;
  // Listeners bound and workers running, and not draining.
  virtual bool ready() const = 0;
  // The effective configuration as JSON.
  virtual std::string configDumpJson() const = 0;
  // Plain-text counters ("name: value" lines).
  virtual std::string statsText() const = 0;
  // Begins a graceful shutdown, as SIGTERM does.
  virtual void requestShutdown() = 0;
};

}  // namespace podproxy::admin
