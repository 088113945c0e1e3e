// Capture listeners, original_dst clusters and service addresses in the config loader.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::loadOk;
using testing::withListeners;

TEST(CaptureConfig, CaptureListenerWithoutChainsGetsOriginalDestinationDefaults) {
  auto config = loadOk(withListeners(
      "- name: outbound\n"
      "  address: 0.0.0.0:15001\n"
      "  capture: {direction: outbound, detection_timeout: 250ms, tcp_ports: [3306, 25]}\n"));
  ASSERT_TRUE(config);
  const Listener& l = config->listeners[0];
  ASSERT_TRUE(l.capture);
  EXPECT_EQ(l.capture->direction, CaptureOptions::Direction::kOutbound);
  EXPECT_EQ(l.capture->detection_timeout, Duration(250));
  EXPECT_EQ(l.capture->tcp_ports, (std::vector<uint16_t>{3306, 25}));
  ASSERT_TRUE(l.http);
  ASSERT_TRUE(l.tcp);
  EXPECT_TRUE(l.tcp->original_destination);
  const auto& route = l.http->route_config.virtual_hosts.at(0).routes.at(0);
  ASSERT_TRUE(std::holds_alternative<RouteAction>(route.action));
  EXPECT_TRUE(std::get<RouteAction>(route.action).original_destination);
}

TEST(CaptureConfig, PassthroughClusterIsAddedForCaptureListeners) {
  auto config =
      loadOk(withListeners("- name: inbound\n"
                           "  address: 0.0.0.0:15006\n"
                           "  capture: {direction: inbound, inbound_target: original}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].capture->inbound_target, CaptureOptions::InboundTarget::kOriginal);
  const Cluster& passthrough = config->clusters.back();
  EXPECT_EQ(passthrough.name, "passthrough");
  EXPECT_EQ(passthrough.type, Cluster::Type::kOriginalDst);
  EXPECT_TRUE(passthrough.endpoints.empty());
}

TEST(CaptureConfig, NoPassthroughClusterWithoutCaptureListeners) {
  auto config =
      loadOk(withListeners("- name: plain\n"
                           "  address: 127.0.0.1:10000\n"
                           "  tcp: {cluster: app}\n"));
  ASSERT_TRUE(config);
  for (const Cluster& c : config->clusters) EXPECT_NE(c.name, "passthrough");
}

TEST(CaptureConfig, OriginalDestinationNeedsACaptureListener) {
  EXPECT_CONFIG_ERROR(withListeners("- name: plain\n"
                                    "  address: 127.0.0.1:10000\n"
                                    "  tcp: {original_destination: true}\n"),
                      4, 33, "listeners[0].tcp.original_destination",
                      "original_destination needs a capture listener");
}

TEST(CaptureConfig, CaptureFieldsAreValidated) {
  EXPECT_CONFIG_ERROR(withListeners("- name: out\n"
                                    "  address: 0.0.0.0:15001\n"
                                    "  capture: {direction: sideways}\n"),
                      4, 26, "listeners[0].capture.direction",
                      "direction must be outbound or inbound");
  EXPECT_CONFIG_ERROR(withListeners("- name: out\n"
                                    "  address: 0.0.0.0:15001\n"
                                    "  capture: {tcp_ports: [0]}\n"),
                      4, 27, "listeners[0].capture.tcp_ports[0]", "");
  EXPECT_CONFIG_ERROR(withListeners("- name: out\n"
                                    "  address: 0.0.0.0:15001\n"
                                    "  capture: {inbound_target: elsewhere}\n"),
                      4, 31, "listeners[0].capture.inbound_target",
                      "inbound_target must be loopback or original");
}

TEST(CaptureConfig, OriginalDstClustersTakeNoEndpointsAndServiceAddressesAreUnique) {
  EXPECT_CONFIG_ERROR(testing::withClusters("- name: pt\n"
                                            "  type: original_dst\n"
                                            "  endpoints: [\"127.0.0.1:1\"]\n"),
                      4, 16, "clusters[0].endpoints", "original_dst clusters take no endpoints");
  EXPECT_CONFIG_ERROR(testing::withClusters("- name: a\n"
                                            "  endpoints: [\"127.0.0.1:1\"]\n"
                                            "  service_addresses: [\"10.96.0.10:80\"]\n"
                                            "- name: b\n"
                                            "  endpoints: [\"127.0.0.1:2\"]\n"
                                            "  service_addresses: [\"10.96.0.10:80\"]\n"),
                      7, 25, "clusters[1].service_addresses[0]", "already belongs to cluster 'a'");
  auto config =
      loadOk(testing::withClusters("- name: svc\n"
                                   "  endpoints: [\"127.0.0.1:1\"]\n"
                                   "  service_addresses: [\"10.96.0.10:80\"]\n"));
  ASSERT_TRUE(config);
  ASSERT_EQ(config->clusters[0].service_addresses.size(), 1u);
  EXPECT_EQ(config->clusters[0].service_addresses[0].host, "10.96.0.10");
  EXPECT_EQ(config->clusters[0].service_addresses[0].port, 80);
}

}  // namespace
}  // namespace podproxy::config
