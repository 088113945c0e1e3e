#pragma once

// Picks the upstream host for a request. One instance per worker and cluster: no locks, no
// atomics; the worker swaps in a new HostSet snapshot when the main thread publishes one.

#include <cstdint>
#include <functional>
#include <memory>

#include "config/model.h"
#include "proxy/common/random.h"
#include "proxy/upstream/host.h"

namespace podproxy::upstream {

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // nullptr when the host set is empty.
  virtual HostConstSharedPtr chooseHost() = 0;
  virtual void setHostSet(HostSetConstSharedPtr hosts) = 0;
};

// Requests in flight to `host` from this worker (from the worker's connection pools).
using ActiveRequestsFn = std::function<uint32_t(const Host&)>;

// `random` must outlive the load balancer (it is the worker's generator). `active_requests` is
// only used by kLeastRequest; a null function counts every host as idle.
std::unique_ptr<LoadBalancer> createLoadBalancer(config::Cluster::LbPolicy policy,
                                                 HostSetConstSharedPtr hosts, Random& random,
                                                 ActiveRequestsFn active_requests);

}  // namespace podproxy::upstream
