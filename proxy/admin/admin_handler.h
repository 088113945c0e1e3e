#pragma once

// What the admin endpoints can see and do in the server; implemented by server::Server.
// Admin requests run on the main thread only, never on a worker loop. Answers that need the
// workers' stats arrive later through a callback (on the main thread), so the admin filter can
// wait for them without blocking anything.

#include <cstdint>
#include <functional>
#include <string>

namespace podproxy::admin {

struct AdminResponse {
  uint16_t status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

using AdminCallback = std::function<void(AdminResponse)>;

class AdminHandler {
 public:
  virtual ~AdminHandler() = default;
  // Listeners bound and workers running, and not draining.
  virtual bool ready() const = 0;
  // The effective configuration as JSON.
  virtual std::string configDumpJson() const = 0;
  // Plain-text counters ("name: value" lines), gathered from every worker.
  virtual void statsText(AdminCallback done) = 0;
  // The Prometheus text exposition (Istio's standard metrics and podproxy's own).
  virtual void statsPrometheus(AdminCallback done) = 0;
  // Every cluster's hosts with health and per-host active requests; JSON when `json`.
  virtual void clusters(bool json, AdminCallback done) = 0;
  // Listeners and the addresses they bound; JSON when `json`.
  virtual std::string listeners(bool json) const = 0;
  // Stop accepting on every listener and drain connections, without exiting.
  virtual void drainListeners() = 0;
  // Begins a graceful shutdown, as SIGTERM does.
  virtual void requestShutdown() = 0;
};

}  // namespace podproxy::admin
