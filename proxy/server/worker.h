#pragma once

// A worker thread: one event loop owning its listeners' sockets, its connections, its
// per-cluster pools and load balancers, and its stats. Other threads reach it only via post().

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/server/server_snapshot.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/tls/tls_context.h"

namespace podproxy::server {

class WorkerState;

class Worker {
 public:
  Worker(uint32_t index, std::shared_ptr<const ServerSnapshot> snapshot);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. `on_started` runs on the worker once its listeners accept.
  void start(std::function<void(uint32_t index, bool ok)> on_started);
  // Thread-safe. Stop accepting and let connections finish; `on_drained` runs on the worker
  // when it holds no connection any more.
  void drain(std::function<void(uint32_t index)> on_drained);
  // Thread-safe. Close everything and stop the loop; join() returns afterwards.
  void stop();
  void join();
  // Thread-safe. A cluster's new host set (DNS refresh) reaches this worker's balancer.
  void updateHosts(const std::string& cluster, upstream::HostSetConstSharedPtr hosts);
  // Thread-safe. A reloaded TLS context (certificate rotation) for new connections.
  void updateTlsContext(int id, std::shared_ptr<const tls::TlsContext> context);

  // Thread-safe. `done` runs on the worker with a copy of its stats shard (the main thread folds
  // the copies on scrape); it never runs if the worker's loop has already stopped.
  void collectStats(std::function<void(stats::WorkerStatsSnapshot)> done);

  void post(std::function<void()> fn) { dispatcher_.post(std::move(fn)); }
  uint32_t index() const { return index_; }
  // Whether the loop closed with no libuv handle left (valid after join()).
  bool closedClean() const { return closed_clean_; }

 private:
  void threadMain(std::function<void(uint32_t, bool)> on_started);

  const uint32_t index_;
  std::shared_ptr<const ServerSnapshot> snapshot_;
  event::Dispatcher dispatcher_;
  std::unique_ptr<WorkerState> state_;  // lives on the worker thread
  std::thread thread_;
  bool closed_clean_ = false;
};

}  // namespace podproxy::server
