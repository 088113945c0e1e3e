#pragma once

// What the HTTP/1 and HTTP/2 pools of one host share: the host and its cluster's limits, the
// counters, the queue of requests waiting for a connection, the one-shot drain callback and the
// auto-protocol hand-off target. The pools differ only in their connections.

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/pending_requests.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class ConnPoolBase : public ConnPool {
 public:
  // No connection and no pending request.
  bool idle() const override { return connections() == 0 && pending_.empty(); }
  uint32_t activeRequests() const override {
    return static_cast<uint32_t>(stats_.rq_active + pending_.size());
  }
  const PoolStats& stats() const override { return stats_; }
  const Host& host() const override { return *host_; }
  const HostConstSharedPtr& hostPtr() const override { return host_; }

  // Auto protocol: a connection whose ALPN chose the other protocol goes to `handler` instead
  // of carrying this pool's. nullptr (the default): every connection speaks this pool's.
  void setAlpnMismatchHandler(AlpnMismatchHandler* handler) { alpn_mismatch_ = handler; }

 protected:
  // `cluster` and `resources` must outlive the pool.
  ConnPoolBase(event::Dispatcher& dispatcher, HostConstSharedPtr host,
               const config::Cluster& cluster, ResourceManager& resources)
      : dispatcher_(dispatcher),
        host_(std::move(host)),
        cluster_(cluster),
        resources_(resources),
        pending_(*host_, resources_, stats_, [this] { checkDrained(); }) {}
  // Gives back the circuit-breaker slots of active streams and of `connections` still open
  // (pending_ gives back those of requests still queued). Call from the pool's destructor.
  void releaseSlots(size_t connections) {
    for (uint64_t i = 0; i < stats_.rq_active; ++i) resources_.releaseRequest();
    for (size_t i = 0; i < connections; ++i) resources_.releaseConnection();
  }
  // Takes a request slot under the cluster's max_requests; on overflow tells `callbacks`.
  bool acquireRequest(PoolCallbacks& callbacks) {
    if (resources_.tryAcquireRequest()) return true;
    ++stats_.overflow;
    callbacks.onPoolFailure(PoolFailureReason::kOverflow, "upstream overflow: max_requests",
                            *host_);
    return false;
  }
  void startDrain(std::function<void()> on_drained) {
    draining_ = true;
    on_drained_ = std::move(on_drained);
  }
  // Runs the drain callback once the pool became idle while draining.
  void checkDrained() {
    if (draining_ && idle() && on_drained_) {
      auto cb = std::move(on_drained_);
      on_drained_ = nullptr;
      cb();
    }
  }

  event::Dispatcher& dispatcher_;
  HostConstSharedPtr host_;
  const config::Cluster& cluster_;
  ResourceManager& resources_;
  AlpnMismatchHandler* alpn_mismatch_ = nullptr;
  PoolStats stats_;
  PendingRequests pending_;  // after stats_: it counts into them
  bool draining_ = false;

 private:
  std::function<void()> on_drained_;
};

}  // namespace podproxy::upstream
