#pragma once

// Circuit breakers of one cluster: limits on upstream connections, pending requests and requests
// in flight, shared by every worker of the process.
//
// These counters are the only cross-thread atomics on the request path: a worker touches them
// with relaxed read-modify-writes when it opens or closes a connection and when a request starts
// or ends. Everything else a worker uses (pools, load balancers, stats) is its own. Relaxed
// ordering is enough: the counters guard no other memory, and a limit that is briefly exceeded
// by a race between workers is undone at once by the loser.

#include <atomic>
#include <cstdint>

#include "config/model.h"

namespace podproxy::upstream {

class ResourceManager {
 public:
  explicit ResourceManager(const config::CircuitBreakers& limits)
      : max_connections_(limits.max_connections),
        max_pending_requests_(limits.max_pending_requests),
        max_requests_(limits.max_requests) {}

  ResourceManager(const ResourceManager&) = delete;
  ResourceManager& operator=(const ResourceManager&) = delete;

  // Each tryAcquireX() that returns true must be matched by one releaseX().
  // `count_overflow` false: a retry of an earlier refusal (a pool re-checking for its queued
  // requests), which must not count as a new overflow.
  bool tryAcquireConnection(bool count_overflow = true) {
    return tryAcquire(connections_, max_connections_,
                      count_overflow ? &connection_overflows_ : nullptr);
  }
  void releaseConnection() { connections_.fetch_sub(1, std::memory_order_relaxed); }

  bool tryAcquirePendingRequest() {
    return tryAcquire(pending_requests_, max_pending_requests_, &pending_overflows_);
  }
  void releasePendingRequest() { pending_requests_.fetch_sub(1, std::memory_order_relaxed); }

  bool tryAcquireRequest() { return tryAcquire(requests_, max_requests_, &request_overflows_); }
  void releaseRequest() { requests_.fetch_sub(1, std::memory_order_relaxed); }

  uint32_t connections() const { return connections_.load(std::memory_order_relaxed); }
  uint32_t pendingRequests() const { return pending_requests_.load(std::memory_order_relaxed); }
  uint32_t requests() const { return requests_.load(std::memory_order_relaxed); }

  uint32_t maxConnections() const { return max_connections_; }
  uint32_t maxPendingRequests() const { return max_pending_requests_; }
  uint32_t maxRequests() const { return max_requests_; }

  // How often each limit refused something (for metrics; read on scrape).
  uint64_t connectionOverflows() const {
    return connection_overflows_.load(std::memory_order_relaxed);
  }
  uint64_t pendingOverflows() const { return pending_overflows_.load(std::memory_order_relaxed); }
  uint64_t requestOverflows() const { return request_overflows_.load(std::memory_order_relaxed); }

 private:
  static bool tryAcquire(std::atomic<uint32_t>& counter, uint32_t max,
                         std::atomic<uint64_t>* overflows) {
    // Optimistic: take the slot, then give it back if that went over the limit. Cheaper than a
    // compare-exchange loop under contention, and the overshoot is never visible to a caller.
    if (counter.fetch_add(1, std::memory_order_relaxed) >= max) {
      counter.fetch_sub(1, std::memory_order_relaxed);
      if (overflows != nullptr) overflows->fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  const uint32_t max_connections_;
  const uint32_t max_pending_requests_;
  const uint32_t max_requests_;

  std::atomic<uint32_t> connections_{0};
  std::atomic<uint32_t> pending_requests_{0};
  std::atomic<uint32_t> requests_{0};
  std::atomic<uint64_t> connection_overflows_{0};
  std::atomic<uint64_t> pending_overflows_{0};
  std::atomic<uint64_t> request_overflows_{0};
};

}  // namespace podproxy::upstream
