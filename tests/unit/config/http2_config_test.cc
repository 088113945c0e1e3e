// HTTP/2 fields in the config loader: listener `http.http2` and cluster `protocol` / `http2`.

#include <gtest/gtest.h>

#include <string>

#include "config/json_dump.h"
#include "config/loader.h"
#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::loadError;
using testing::loadOk;
using testing::withClusters;
using testing::withListeners;

std::string listenerWith(std::string_view http_extra) {
  return "- name: ingress\n"
         "  address: 127.0.0.1:10000\n"
         "  http:\n" +
         std::string(http_extra) +
         "    route_config:\n"
         "      virtual_hosts: [{name: all, domains: [\"*\"], routes: [{match: {prefix: /}, "
         "route: {cluster: app}}]}]\n";
}

TEST(Http2Config, ListenerHttp2OptionsAreRead) {
  auto config = loadOk(withListeners(
      listenerWith("    http2: {max_concurrent_streams: 7, initial_stream_window_size: 1MiB,\n"
                   "            initial_connection_window_size: 4194304}\n")));
  const Http2Options& h2 = config->listeners[0].http->options.http2;
  EXPECT_EQ(h2.max_concurrent_streams, 7u);
  EXPECT_EQ(h2.initial_stream_window_size, 1024u * 1024);
  EXPECT_EQ(h2.initial_connection_window_size, 4194304u);
}

TEST(Http2Config, DefaultsWhenAbsent) {
  auto config = loadOk(withListeners(listenerWith("")));
  const Http2Options& h2 = config->listeners[0].http->options.http2;
  EXPECT_EQ(h2.max_concurrent_streams, 100u);
  EXPECT_EQ(h2.initial_stream_window_size, 256u * 1024);
  EXPECT_EQ(config->clusters[0].protocol, Cluster::Protocol::kHttp1);
}

TEST(Http2Config, WindowBelowTheProtocolMinimumIsAnError) {
  const ConfigError error =
      loadError(withListeners(listenerWith("    http2: {initial_stream_window_size: 1000}\n")));
  EXPECT_NE(error.field.find("http2.initial_stream_window_size"), std::string::npos)
      << error.toString();
}

TEST(Http2Config, ClusterProtocolIsRead) {
  auto config =
      loadOk(withClusters("- {name: a, endpoints: [\"127.0.0.1:1\"], protocol: http2,\n"
                          "   http2: {max_concurrent_streams: 50}}\n"
                          "- {name: b, endpoints: [\"127.0.0.1:2\"], protocol: auto}\n"
                          "- {name: c, endpoints: [\"127.0.0.1:3\"], protocol: http1}\n"));
  EXPECT_EQ(config->clusters[0].protocol, Cluster::Protocol::kHttp2);
  EXPECT_EQ(config->clusters[0].http2.max_concurrent_streams, 50u);
  EXPECT_EQ(config->clusters[1].protocol, Cluster::Protocol::kAuto);
  EXPECT_EQ(config->clusters[2].protocol, Cluster::Protocol::kHttp1);
}

TEST(Http2Config, UnknownClusterProtocolIsAnError) {
  const ConfigError error =
      loadError(withClusters("- {name: a, endpoints: [\"127.0.0.1:1\"], protocol: h3}\n"));
  EXPECT_EQ(error.field, "clusters[0].protocol");
  EXPECT_NE(error.message.find("http1, http2 or auto"), std::string::npos);
}

TEST(Http2Config, KeepaliveIsOffUnlessConfigured) {
  auto config = loadOk(withListeners(listenerWith("")));
  EXPECT_FALSE(config->listeners[0].http->options.http2.connection_keepalive.enabled());
  EXPECT_FALSE(config->clusters[0].http2.connection_keepalive.enabled());
}

TEST(Http2Config, KeepaliveIsReadOnListenersAndClusters) {
  auto config = loadOk(withListeners(
      listenerWith("    http2: {connection_keepalive: {interval: 10s, timeout: 2s}}\n")));
  const Http2Keepalive& downstream = config->listeners[0].http->options.http2.connection_keepalive;
  EXPECT_EQ(downstream.interval, std::chrono::seconds(10));
  EXPECT_EQ(downstream.timeout, std::chrono::seconds(2));
  config =
      loadOk(withClusters("- {name: a, endpoints: [\"127.0.0.1:1\"], protocol: http2,\n"
                          "   http2: {connection_keepalive: {interval: 30s}}}\n"));
  const Http2Keepalive& upstream = config->clusters[0].http2.connection_keepalive;
  EXPECT_EQ(upstream.interval, std::chrono::seconds(30));
  EXPECT_EQ(upstream.timeout, std::chrono::seconds(3));  // the default
  const std::string json = toJson(*config);
  EXPECT_NE(json.find("\"connection_keepalive\":{\"interval\":\"30000ms\",\"timeout\":\"3000ms\"}"),
            std::string::npos)
      << json;
}

TEST(Http2Config, KeepaliveNeedsAPositiveIntervalAndTimeout) {
  for (const char* keepalive : {"{timeout: 2s}", "{interval: 0s}", "{interval: 1s, timeout: 0s}",
                                "{interval: 1s, every: 2s}"}) {
    const ConfigError error = loadError(withListeners(
        listenerWith(std::string("    http2: {connection_keepalive: ") + keepalive + "}\n")));
    EXPECT_NE(error.field.find("http2.connection_keepalive."), std::string::npos)
        << keepalive << ": " << error.toString();
  }
}

}  // namespace
}  // namespace podproxy::config
