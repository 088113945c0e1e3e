#pragma once

// The process: the main thread's loop (signals, admin, DNS refresh, drain) and the workers.

#include <atomic>
#include <memory>
#include <vector>

#include "config/model.h"
#include "proxy/access_log/access_log_writer.h"
#include "proxy/admin/admin_filter.h"
#include "proxy/common/log_sink.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/connection_manager.h"
#include "proxy/server/active_listener.h"
#include "proxy/server/server_snapshot.h"
#include "proxy/server/worker.h"
#include "proxy/stats/prometheus_exporter.h"
#include "proxy/tls/certificate_watcher.h"
#include "proxy/tls/tls_context_manager.h"
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
  void statsText(admin::AdminCallback done) override;
  void statsPrometheus(admin::AdminCallback done) override;
  void clusters(bool json, admin::AdminCallback done) override;
  std::string listeners(bool json) const override;
  void drainListeners() override;
  void requestShutdown() override;

 private:
  // A listener served by the main thread's loop (admin, stats, health): never on a worker.
  struct MainListener {
    config::HttpConnectionManagerConfig http_config;
    http::ConnectionManagerStats stats;
    std::unique_ptr<admin::AdminFilterFactory> factory;
    std::unique_ptr<http::ConnectionManagerContext> context;
    ListenerShared shared;
    std::unique_ptr<ActiveListener> listener;
  };
  // One scrape's wait for every worker's stats copy (bounded by a timer).
  struct StatsCollection {
    std::vector<stats::WorkerStatsSnapshot> snapshots;
    size_t remaining = 0;
    std::function<void(std::vector<stats::WorkerStatsSnapshot>)> done;
    std::unique_ptr<event::Timer> timeout;
  };

  bool buildSnapshot(uint32_t concurrency);
  bool startAdmin();
  bool startMainListener(std::string_view name, const config::SocketAddress& address,
                         admin::AdminMode mode);
  void stopMainListeners();
  // Asks every worker for a copy of its stats; `done` runs on the main thread with the copies
  // that arrived (all of them, unless a worker did not answer within a second).
  void collectWorkerStats(std::function<void(std::vector<stats::WorkerStatsSnapshot>)> done);
  void completeCollection(const std::shared_ptr<StatsCollection>& collection);
  stats::ServerStats serverStats() const;
  void startSignals();
  // TLS: watches the certificate files; a change rebuilds contexts and posts them to workers.
  void startCertificateWatcher();
  std::string tlsPlainStats() const;
  void onWorkerStarted(uint32_t index, bool ok);
  void beginDrain(std::string_view reason);
  void onWorkerDrained(uint32_t index);
  void finish();

  std::shared_ptr<const config::Bootstrap> config_;
  event::Dispatcher main_;
  std::unique_ptr<upstream::ClusterManager> clusters_;
  std::shared_ptr<ServerSnapshot> snapshot_;
  std::unique_ptr<tls::TlsContextManager> tls_;  // main thread only
  std::unique_ptr<tls::CertificateWatcher> cert_watcher_;
  std::vector<std::unique_ptr<Worker>> workers_;

  // Admin, stats and health listeners, on the main thread.
  Random admin_random_;
  std::vector<std::unique_ptr<MainListener>> main_listeners_;
  std::vector<std::pair<std::string, std::string>> bound_addresses_;  // listener -> "ip:port"

  // Telemetry. The log sink carries every thread's log lines while run() runs.
  LogSink log_sink_;
  std::unique_ptr<access_log::AccessLogWriter> access_log_;
  std::vector<std::shared_ptr<StatsCollection>> collections_;
  uint32_t concurrency_ = 0;
  int64_t start_time_seconds_ = 0;
  bool listeners_drained_ = false;  // /drain_listeners

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
