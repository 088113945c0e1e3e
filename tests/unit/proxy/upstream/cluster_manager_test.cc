#include "proxy/upstream/cluster_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;
using upstream::testing::runUntil;

config::Cluster staticCluster() {
  config::Cluster c;
  c.name = "static";
  c.endpoints = {{"127.0.0.1", 8080}, {"::1", 9090}};
  c.circuit_breakers.max_connections = 7;
  return c;
}

TEST(ClusterManager, StaticClusterHostsComeFromIpLiterals) {
  event::Dispatcher dispatcher("main");
  int published = 0;
  {
    ClusterManager cm(dispatcher, {staticCluster()},
                      [&](const std::string&, HostSetConstSharedPtr) { ++published; });
    cm.start();
    HostSetConstSharedPtr hosts = cm.hosts("static");
    ASSERT_EQ(hosts->hosts.size(), 2u);
    EXPECT_EQ(hosts->hosts[0]->address().toString(), "127.0.0.1:8080");
    EXPECT_EQ(hosts->hosts[1]->address().toString(), "[::1]:9090");
    EXPECT_EQ(hosts->hosts[0]->clusterName(), "static");
    EXPECT_EQ(hosts->hosts[0]->hostname(), "127.0.0.1");
    ASSERT_NE(cm.resources("static"), nullptr);
    EXPECT_EQ(cm.resources("static")->maxConnections(), 7u);
    // Unknown clusters: an empty set, never null.
    ASSERT_NE(cm.hosts("nope"), nullptr);
    EXPECT_TRUE(cm.hosts("nope")->hosts.empty());
    EXPECT_EQ(cm.resources("nope"), nullptr);
    cm.stop();
  }
  EXPECT_EQ(published, 0);  // static sets are read at worker construction, never republished
  EXPECT_TRUE(dispatcher.shutdown());
}

TEST(ClusterManager, StrictDnsResolvesOnMainLoopAndPublishesOnlyChanges) {
  event::Dispatcher dispatcher("main");
  config::Cluster c;
  c.name = "dns";
  c.type = config::Cluster::Type::kStrictDns;
  c.endpoints = {{"localhost", 8080}};
  c.dns_refresh_rate = 20ms;
  std::vector<std::pair<std::string, HostSetConstSharedPtr>> published;
  ClusterManager cm(dispatcher, {c}, [&](const std::string& name, HostSetConstSharedPtr hosts) {
    published.emplace_back(name, std::move(hosts));
  });
  EXPECT_TRUE(cm.hosts("dns")->hosts.empty());  // nothing before the first resolution
  cm.start();
  ASSERT_TRUE(runUntil(dispatcher, [&] { return !published.empty(); }));
  EXPECT_EQ(published[0].first, "dns");
  bool has_v4 = false;
  for (const auto& h : published[0].second->hosts) {
    if (h->address().toString() == "127.0.0.1:8080") has_v4 = true;
    EXPECT_EQ(h->hostname(), "localhost");
  }
  EXPECT_TRUE(has_v4);
  EXPECT_EQ(cm.hosts("dns"), published[0].second);

  // Later rounds return the same addresses: nothing new goes to the workers.
  ASSERT_TRUE(runUntil(dispatcher, [&] { return cm.dnsResolutions() >= 4; }));
  EXPECT_EQ(published.size(), 1u);
  EXPECT_EQ(cm.dnsFailures(), 0u);
  cm.stop();
  // Let a lookup that was already running in the thread pool call back.
  runUntil(
      dispatcher, [] { return false; }, 100ms);
  EXPECT_TRUE(dispatcher.shutdown());
}

}  // namespace
}  // namespace podproxy::upstream
