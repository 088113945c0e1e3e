// The telemetry parts of the config: workload identity (with environment defaults), tracing,
// listener access_log and direction, and the admin stats/health addresses.

#include <map>
#include <string>

#include "config/telemetry_reader.h"
#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::loadOk;
using testing::withListeners;

constexpr std::string_view kHttpListener =
    "- name: ingress\n"
    "  address: 127.0.0.1:10000\n"
    "  http:\n"
    "    route_config:\n"
    "      virtual_hosts:\n"
    "        - name: all\n"
    "          domains: [\"*\"]\n";

TEST(TelemetryConfig, DefaultsLogEveryFieldOutboundWithNoTelemetryPorts) {
  auto b = loadOk(withListeners(kHttpListener));
  ASSERT_NE(b, nullptr);
  const Listener& l = b->listeners[0];
  EXPECT_TRUE(l.access_log.enabled);
  EXPECT_TRUE(l.access_log.fields.empty());
  EXPECT_EQ(l.direction, TrafficDirection::kOutbound);
  EXPECT_FALSE(b->admin.stats_address.has_value());
  EXPECT_FALSE(b->admin.health_address.has_value());
  EXPECT_DOUBLE_EQ(b->telemetry.tracing.sampling, 1.0);
}

TEST(TelemetryConfig, ReadsListenerAccessLogAndDirection) {
  auto b = loadOk(withListeners(std::string(kHttpListener) +
                                "  direction: inbound\n"
                                "  access_log: {enabled: false, fields: [method, trace_id]}\n"));
  ASSERT_NE(b, nullptr);
  const Listener& l = b->listeners[0];
  EXPECT_EQ(l.direction, TrafficDirection::kInbound);
  EXPECT_FALSE(l.access_log.enabled);
  EXPECT_EQ(l.access_log.fields, (std::vector<std::string>{"method", "trace_id"}));
}

TEST(TelemetryConfig, RejectsUnknownAccessLogFieldsAndDirections) {
  // The listener fragment starts at line 2 column 3 (under "listeners:").
  EXPECT_CONFIG_ERROR(
      withListeners(std::string(kHttpListener) + "  access_log: {fields: [method, pth]}\n"), 9, 35,
      "listeners[0].access_log.fields[1]", "unknown access log field 'pth'");
  EXPECT_CONFIG_ERROR(withListeners(std::string(kHttpListener) + "  direction: sideways\n"), 9, 16,
                      "listeners[0].direction", "direction must be outbound or inbound");
}

TEST(TelemetryConfig, ReadsWorkloadTracingAndAdminPorts) {
  auto b = loadOk(
      "telemetry:\n"
      "  workload: {name: reviews-v1, namespace: shop, app: reviews, version: v1}\n"
      "  tracing: {sampling: 12.5}\n"
      "admin: {stats_address: 0.0.0.0:15090, health_address: \"127.0.0.1:0\"}\n");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->telemetry.workload.name, "reviews-v1");
  EXPECT_EQ(b->telemetry.workload.namespace_name, "shop");
  EXPECT_EQ(b->telemetry.workload.app, "reviews");
  EXPECT_DOUBLE_EQ(b->telemetry.tracing.sampling, 12.5);
  ASSERT_TRUE(b->admin.stats_address);
  EXPECT_EQ(b->admin.stats_address->port, 15090);
  ASSERT_TRUE(b->admin.health_address);
  EXPECT_EQ(b->admin.health_address->port, 0);
}

TEST(TelemetryConfig, SamplingIsAPercentage) {
  EXPECT_CONFIG_ERROR("telemetry: {tracing: {sampling: 101}}\n", 1, 33,
                      "telemetry.tracing.sampling", "between 0 and 100");
  EXPECT_CONFIG_ERROR("telemetry: {tracing: {sampling: often}}\n", 1, 33,
                      "telemetry.tracing.sampling", "between 0 and 100");
}

TEST(TelemetryConfig, WorkloadDefaultsComeFromTheDownwardApiEnvironment) {
  const std::map<std::string, std::string> env = {{"POD_NAME", "reviews-v1-5d8f7-abcde"},
                                                  {"POD_NAMESPACE", "shop"},
                                                  {"SERVICE_ACCOUNT", "bookinfo-reviews"}};
  const EnvLookup lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  WorkloadIdentity w;
  w.namespace_name = "from-config";  // the file wins over the environment
  applyWorkloadEnvironment(w, lookup);
  EXPECT_EQ(w.name, "reviews-v1-5d8f7-abcde");
  EXPECT_EQ(w.namespace_name, "from-config");
  EXPECT_EQ(w.service_account, "bookinfo-reviews");
  EXPECT_EQ(w.app, "unknown");
  EXPECT_EQ(w.cluster_id, "unknown");
}

}  // namespace
}  // namespace podproxy::config
