#include "proxy/upstream/load_balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace podproxy::upstream {
namespace {

using Policy = config::Cluster::LbPolicy;

HostSetConstSharedPtr makeHosts(size_t count) {
  auto set = std::make_shared<HostSet>();
  for (size_t i = 0; i < count; ++i) {
    auto address = network::Address::fromIp("10.0.0." + std::to_string(i + 1), 8080);
    set->hosts.push_back(std::make_shared<const Host>("backend", *address, address->ip()));
  }
  return set;
}

size_t indexOf(const HostSet& set, const HostConstSharedPtr& host) {
  for (size_t i = 0; i < set.hosts.size(); ++i) {
    if (set.hosts[i] == host) return i;
  }
  return set.hosts.size();
}

TEST(Host, ExposesWhatItWasBuiltWith) {
  auto address = network::Address::fromIp("127.0.0.1", 9000);
  ASSERT_TRUE(address.has_value());
  Host host("cluster-a", *address, "svc.local");
  EXPECT_EQ(host.clusterName(), "cluster-a");
  EXPECT_EQ(host.hostname(), "svc.local");
  EXPECT_EQ(host.address().toString(), "127.0.0.1:9000");
}

TEST(RoundRobinLoadBalancer, CyclesEvenlyInOrder) {
  Random random(1);
  auto hosts = makeHosts(3);
  auto lb = createLoadBalancer(Policy::kRoundRobin, hosts, random, nullptr);
  size_t previous = indexOf(*hosts, lb->chooseHost());
  std::map<size_t, int> counts{{previous, 1}};
  for (int i = 1; i < 300; ++i) {
    const size_t current = indexOf(*hosts, lb->chooseHost());
    EXPECT_EQ(current, (previous + 1) % 3);
    previous = current;
    counts[current]++;
  }
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 100);
}

TEST(RoundRobinLoadBalancer, StartIndexIsRandomizedPerInstance) {
  auto hosts = makeHosts(8);
  std::set<size_t> starts;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    Random random(seed);
    auto lb = createLoadBalancer(Policy::kRoundRobin, hosts, random, nullptr);
    starts.insert(indexOf(*hosts, lb->chooseHost()));
  }
  EXPECT_GT(starts.size(), 4u);
}

TEST(RoundRobinLoadBalancer, FollowsNewHostSet) {
  Random random(7);
  auto lb = createLoadBalancer(Policy::kRoundRobin, makeHosts(3), random, nullptr);
  auto replacement = makeHosts(1);
  lb->setHostSet(replacement);
  EXPECT_EQ(lb->chooseHost(), replacement->hosts[0]);
  EXPECT_EQ(lb->chooseHost(), replacement->hosts[0]);
}

TEST(RandomLoadBalancer, CoversAllHosts) {
  Random random(42);
  auto hosts = makeHosts(5);
  auto lb = createLoadBalancer(Policy::kRandom, hosts, random, nullptr);
  std::map<size_t, int> counts;
  for (int i = 0; i < 5000; ++i) counts[indexOf(*hosts, lb->chooseHost())]++;
  ASSERT_EQ(counts.size(), 5u);
  for (const auto& [index, count] : counts) {
    EXPECT_LT(index, 5u);
    EXPECT_GT(count, 800) << "host " << index;  // expected 1000 each
    EXPECT_LT(count, 1200) << "host " << index;
  }
}

TEST(LeastRequestLoadBalancer, PrefersTheLessLoadedHost) {
  Random random(3);
  auto hosts = makeHosts(2);
  const std::map<const Host*, uint32_t> load{{hosts->hosts[0].get(), 0},
                                             {hosts->hosts[1].get(), 100}};
  auto lb = createLoadBalancer(Policy::kLeastRequest, hosts, random,
                               [&](const Host& host) { return load.at(&host); });
  int picked_idle = 0;
  for (int i = 0; i < 1000; ++i) picked_idle += lb->chooseHost() == hosts->hosts[0];
  // Two distinct hosts out of two: the idle one always wins.
  EXPECT_EQ(picked_idle, 1000);
}

TEST(LeastRequestLoadBalancer, AvoidsTheBusiestOfMany) {
  Random random(5);
  auto hosts = makeHosts(4);
  auto lb = createLoadBalancer(Policy::kLeastRequest, hosts, random, [&](const Host& host) {
    return host.address() == hosts->hosts[2]->address() ? 50u : 1u;
  });
  std::map<size_t, int> counts;
  for (int i = 0; i < 4000; ++i) counts[indexOf(*hosts, lb->chooseHost())]++;
  // The busy host only wins when both choices are itself, which P2C with distinct picks forbids.
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[0] + counts[1] + counts[3], 4000);
  EXPECT_GT(counts[0], 1000);
  EXPECT_GT(counts[1], 1000);
  EXPECT_GT(counts[3], 1000);
}

TEST(LeastRequestLoadBalancer, SingleHostIsAlwaysChosen) {
  Random random(9);
  auto hosts = makeHosts(1);
  auto lb =
      createLoadBalancer(Policy::kLeastRequest, hosts, random, [](const Host&) { return 1000u; });
  EXPECT_EQ(lb->chooseHost(), hosts->hosts[0]);
}

TEST(LoadBalancer, EmptyHostSetReturnsNull) {
  Random random(11);
  for (Policy policy : {Policy::kRoundRobin, Policy::kRandom, Policy::kLeastRequest}) {
    auto lb = createLoadBalancer(policy, std::make_shared<HostSet>(), random,
                                 [](const Host&) { return 0u; });
    EXPECT_EQ(lb->chooseHost(), nullptr);
    lb->setHostSet(makeHosts(2));
    EXPECT_NE(lb->chooseHost(), nullptr);
    lb->setHostSet(nullptr);
    EXPECT_EQ(lb->chooseHost(), nullptr);
  }
}

}  // namespace
}  // namespace podproxy::upstream
