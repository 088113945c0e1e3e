#include "proxy/upstream/load_balancer.h"

#include <utility>

namespace podproxy::upstream {

namespace {

const HostSetConstSharedPtr& emptyHostSet() {
  static const HostSetConstSharedPtr kEmpty = std::make_shared<const HostSet>();
  return kEmpty;
}

class LoadBalancerBase : public LoadBalancer {
 public:
  LoadBalancerBase(HostSetConstSharedPtr hosts, Random& random)
      : hosts_(hosts ? std::move(hosts) : emptyHostSet()), random_(random) {}

  void setHostSet(HostSetConstSharedPtr hosts) override {
    hosts_ = hosts ? std::move(hosts) : emptyHostSet();
    onHostSetChanged();
  }

 protected:
  virtual void onHostSetChanged() {}

  const std::vector<HostConstSharedPtr>& hosts() const { return hosts_->hosts; }

  HostSetConstSharedPtr hosts_;
  Random& random_;
};

class RoundRobinLoadBalancer : public LoadBalancerBase {
 public:
  RoundRobinLoadBalancer(HostSetConstSharedPtr hosts, Random& random)
      : LoadBalancerBase(std::move(hosts), random) {
    onHostSetChanged();
  }

  HostConstSharedPtr chooseHost() override {
    const auto& set = hosts();
    if (set.empty()) return nullptr;
    if (next_ >= set.size()) next_ = 0;
    return set[next_++];
  }

 protected:
  // A random start per worker (and per update) so that N workers do not all send their first
  // request to host 0 after a start or a DNS refresh.
  void onHostSetChanged() override {
    next_ = hosts().empty() ? 0 : random_.next() % hosts().size();
  }

 private:
  size_t next_ = 0;
};

class RandomLoadBalancer : public LoadBalancerBase {
 public:
  using LoadBalancerBase::LoadBalancerBase;

  HostConstSharedPtr chooseHost() override {
    const auto& set = hosts();
    if (set.empty()) return nullptr;
    return set[random_.next() % set.size()];
  }
};

// Power of two choices: nearly as good as a full scan at spreading load, O(1), and it avoids the
// herd effect of always picking the single least loaded host.
class LeastRequestLoadBalancer : public LoadBalancerBase {
 public:
  LeastRequestLoadBalancer(HostSetConstSharedPtr hosts, Random& random,
                           ActiveRequestsFn active_requests)
      : LoadBalancerBase(std::move(hosts), random), active_requests_(std::move(active_requests)) {}

  HostConstSharedPtr chooseHost() override {
    const auto& set = hosts();
    const size_t n = set.size();
    if (n == 0) return nullptr;
    if (n == 1) return set[0];
    const size_t first = random_.next() % n;
    size_t second = random_.next() % (n - 1);
    if (second >= first) ++second;  // distinct from `first`, still uniform
    if (!active_requests_) return set[first];
    return active_requests_(*set[second]) < active_requests_(*set[first]) ? set[second]
                                                                          : set[first];
  }

 private:
  ActiveRequestsFn active_requests_;
};

}  // namespace

std::unique_ptr<LoadBalancer> createLoadBalancer(config::Cluster::LbPolicy policy,
                                                 HostSetConstSharedPtr hosts, Random& random,
                                                 ActiveRequestsFn active_requests) {
  switch (policy) {
    case config::Cluster::LbPolicy::kRandom:
      return std::make_unique<RandomLoadBalancer>(std::move(hosts), random);
    case config::Cluster::LbPolicy::kLeastRequest:
      return std::make_unique<LeastRequestLoadBalancer>(std::move(hosts), random,
                                                        std::move(active_requests));
    case config::Cluster::LbPolicy::kRoundRobin:
      break;
  }
  return std::make_unique<RoundRobinLoadBalancer>(std::move(hosts), random);
}

}  // namespace podproxy::upstream
