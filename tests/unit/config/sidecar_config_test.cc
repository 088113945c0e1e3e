// The embedded sidecar configuration and config/examples/sidecar.yaml describe the same proxy.

#include <gtest/gtest.h>

#include "config/embedded_default.h"
#include "config/json_dump.h"
#include "config/loader.h"

namespace podproxy::config {
namespace {

TEST(SidecarConfig, EmbeddedSidecarHasIstioPortsAndCapture) {
  auto loaded = loadEmbeddedSidecar({}, /*ipv6=*/false);
  ASSERT_TRUE(loaded) << loaded.error().toString();
  const Bootstrap& b = **loaded;
  ASSERT_EQ(b.listeners.size(), 2u);
  EXPECT_EQ(b.listeners[0].name, "outbound");
  EXPECT_EQ(b.listeners[0].address.port, 15001);
  EXPECT_EQ(b.listeners[0].capture->direction, CaptureOptions::Direction::kOutbound);
  EXPECT_EQ(b.listeners[0].capture->detection_timeout, Duration(100));
  EXPECT_EQ(b.listeners[1].name, "inbound");
  EXPECT_EQ(b.listeners[1].address.port, 15006);
  EXPECT_EQ(b.listeners[1].capture->direction, CaptureOptions::Direction::kInbound);
  EXPECT_EQ(b.admin.address.port, 15000);
  ASSERT_TRUE(b.admin.stats_address);
  EXPECT_EQ(b.admin.stats_address->port, 15090);
  ASSERT_TRUE(b.admin.health_address);
  EXPECT_EQ(b.admin.health_address->port, 15021);
  ASSERT_EQ(b.clusters.size(), 1u);
  EXPECT_EQ(b.clusters[0].type, Cluster::Type::kOriginalDst);
}

TEST(SidecarConfig, Ipv6AddsCaptureListenersOnTheAnyAddress) {
  auto loaded = loadEmbeddedSidecar({}, /*ipv6=*/true);
  ASSERT_TRUE(loaded) << loaded.error().toString();
  ASSERT_EQ((*loaded)->listeners.size(), 4u);
  EXPECT_EQ((*loaded)->listeners[2].address.host, "::");
  EXPECT_EQ((*loaded)->listeners[2].address.port, 15001);
}

TEST(SidecarConfig, InboundTargetOverrideChangesInboundListenersOnly) {
  auto loaded = loadEmbeddedSidecar({.inbound_target = "original"}, false);
  ASSERT_TRUE(loaded) << loaded.error().toString();
  EXPECT_EQ((*loaded)->listeners[1].capture->inbound_target,
            CaptureOptions::InboundTarget::kOriginal);
  auto bad = loadEmbeddedSidecar({.inbound_target = "sideways"}, false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "--inbound-target");
  auto none = loadEmbeddedDefault({.inbound_target = "original"});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no inbound capture listener"), std::string::npos);
}

TEST(SidecarConfig, ExampleFileIsTheEmbeddedSidecar) {
  auto example = loadFile(std::string(PODPROXY_SOURCE_DIR) + "/config/examples/sidecar.yaml");
  ASSERT_TRUE(example) << example.error().toString();
  auto embedded = loadEmbeddedSidecar({}, false);
  ASSERT_TRUE(embedded);
  // Compare effective configs, not text: the example carries more comments.
  std::string a = toJson(**example);
  std::string b = toJson(**embedded);
  a.erase(0, a.find(",\"concurrency\""));  // the "source" differs by design
  b.erase(0, b.find(",\"concurrency\""));
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace podproxy::config
