#pragma once

// The process: the main thread's loop (signals, admin, DNS refresh, drain) and the workers.

#include <atomic>
#include <memory>
#include <vector>

#include "config/model.h"
#include "proxy/admin/admin_filter.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/connection_manager.h"
#include "proxy/server/active_listener.h"
#include "proxy/server/server_snapshot.h"
#include "proxy/server/worker.h"
#include "proxy/upstream/cluster_manager.h"

namespace podproxy::server {

// CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (cpu.max), at
// least 1. The default for --concurrency.
uint32_t defaultConcurrency();

class Server final : public admin::AdminHandler {
 public:
  explicit Server(std::shared_ptr<const config::Bootstrap> config);
  ~Server() override;

  // Runs until shut down; returns the process exit code.
  int run();

  // admin::AdminHandler
  bool ready() const override { return ready_.load(std::memory_order_relaxed); }
  std::string configDumpJson() const override;
  std::string statsText() const override;
  void requestShutdown() override;

 private:
  bool buildSnapshot(uint32_t concurrency);
  bool startAdmin();
  void startSignals();
  void onWorkerStarted(uint32_t index, bool ok);
  void beginDrain(std::string_view reason);
  void onWorkerDrained(uint32_t index);
  void finish();

  std::shared_ptr<const config::Bootstrap> config_;
  event::Dispatcher main_;
  std::unique_ptr<upstream::ClusterManager> clusters_;
  std::shared_ptr<ServerSnapshot> snapshot_;
  std::vector<std::unique_ptr<Worker>> workers_;

  // Admin listener, on the main thread.
  config::HttpConnectionManagerConfig admin_http_config_;
  http::ConnectionManagerStats admin_stats_;
  Random admin_random_;
  std::unique_ptr<admin::AdminFilterFactory> admin_factory_;
  std::unique_ptr<http::ConnectionManagerContext> admin_context_;
  ListenerShared admin_shared_;
  std::unique_ptr<ActiveListener> admin_listener_;

  uv_signal_t* sigterm_ = nullptr;
  uv_signal_t* sigint_ = nullptr;
  std::unique_ptr<event::Timer> drain_timer_;

  std::atomic<bool> ready_{false};
  uint32_t workers_started_ = 0;
  uint32_t workers_drained_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace podproxy::server
