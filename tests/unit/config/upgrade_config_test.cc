// Route `upgrade_types`, and the HTTP/2 and upgrade fields in the JSON dump of a config.

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
using testing::withRoutes;

const RouteAction& firstAction(const Bootstrap& b) {
  return std::get<RouteAction>(b.listeners[0].http->route_config.virtual_hosts[0].routes[0].action);
}

TEST(UpgradeConfig, UpgradeTypesAreReadLowerCased) {
  auto config = loadOk(withRoutes(
      "- match: {prefix: /}\n  route: {cluster: app, upgrade_types: [WebSocket, foo-bar]}\n"));
  EXPECT_EQ(firstAction(*config).upgrade_types, (std::vector<std::string>{"websocket", "foo-bar"}));
}

TEST(UpgradeConfig, NoUpgradeTypesByDefault) {
  auto config = loadOk(withRoutes("- match: {prefix: /}\n  route: {cluster: app}\n"));
  EXPECT_TRUE(firstAction(*config).upgrade_types.empty());
}

TEST(UpgradeConfig, RejectsWhatIsNotAProtocolName) {
  for (const char* bad : {"[\"web socket\"]", "[\"\"]", "[websocket, WEBSOCKET]", "websocket"}) {
    const ConfigError error =
        loadError(withRoutes("- match: {prefix: /}\n  route: {cluster: app, upgrade_types: " +
                             std::string(bad) + "}\n"));
    EXPECT_NE(error.field.find("upgrade_types"), std::string::npos)
        << bad << ": " << error.toString();
  }
}

TEST(UpgradeConfig, JsonDumpShowsUpgradeTypesAndHttp2Settings) {
  auto routes = loadOk(
      withRoutes("- match: {prefix: /}\n  route: {cluster: app, upgrade_types: [websocket]}\n"));
  const std::string json = toJson(*routes);
  EXPECT_NE(json.find("\"upgrade_types\":[\"websocket\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"http2\":{\"max_concurrent_streams\":100,\"initial_stream_window_size\":"
                      "262144,\"initial_connection_window_size\":1048576}"),
            std::string::npos)
      << json;

  auto clusters =
      loadOk(withClusters("- {name: a, endpoints: [\"127.0.0.1:1\"], protocol: http2,\n"
                          "   http2: {max_concurrent_streams: 50}}\n"
                          "- {name: b, endpoints: [\"127.0.0.1:2\"], protocol: auto}\n"));
  const std::string cluster_json = toJson(*clusters);
  EXPECT_NE(cluster_json.find("\"protocol\":\"http2\",\"http2\":{\"max_concurrent_streams\":50,"),
            std::string::npos)
      << cluster_json;
  EXPECT_NE(cluster_json.find("\"protocol\":\"auto\""), std::string::npos);
}

TEST(UpgradeConfig, ConnectMatcherRouteTerminatesConnect) {
  auto config = loadOk(
      withRoutes("- match: {connect_matcher: {}, headers: [{name: x-tunnel, present: true}]}\n"
                 "  route: {cluster: app, upgrade_types: [CONNECT]}\n"
                 "- match: {prefix: /}\n  route: {cluster: app}\n"));
  const auto& routes = config->listeners[0].http->route_config.virtual_hosts[0].routes;
  EXPECT_TRUE(routes[0].match.connect_matcher);
  EXPECT_EQ(std::get<RouteAction>(routes[0].action).upgrade_types,
            (std::vector<std::string>{"connect"}));
  EXPECT_FALSE(routes[1].match.connect_matcher);
  const std::string json = toJson(*config);
  EXPECT_NE(json.find("\"match\":{\"connect_matcher\":{},"), std::string::npos) << json;
}

TEST(UpgradeConfig, ConnectUpgradeNeedsAConnectMatcher) {
  const ConfigError error = loadError(withRoutes(
      "- match: {prefix: /}\n  route: {cluster: app, upgrade_types: [websocket, CONNECT]}\n"));
  EXPECT_NE(error.field.find("upgrade_types[1]"), std::string::npos) << error.toString();
  EXPECT_NE(error.message.find("connect_matcher"), std::string::npos) << error.toString();
  EXPECT_GT(error.line, 0) << error.toString();
}

TEST(UpgradeConfig, RejectsMisusedConnectMatcher) {
  struct Case {
    const char* routes;
    const char* field;
  };
  for (const Case& c : {
           Case{"- match: {connect_matcher: {x: 1}}\n  route: {cluster: app}\n", "connect_matcher"},
           Case{"- match: {connect_matcher: true}\n  route: {cluster: app}\n", "connect_matcher"},
           Case{"- match: {connect_matcher: {}, prefix: /}\n  route: {cluster: app}\n", "match"},
           Case{"- match: {connect_matcher: {}, methods: [GET]}\n  route: {cluster: app}\n",
                "methods"},
           Case{"- match: {connect_matcher: {}, case_sensitive: false}\n  route: {cluster: app}\n",
                "case_sensitive"},
           Case{"- match: {connect_matcher: {}}\n  route: {cluster: app, prefix_rewrite: /x}\n",
                "prefix_rewrite"},
       }) {
    const ConfigError error = loadError(withRoutes(c.routes));
    EXPECT_NE(error.field.find(c.field), std::string::npos) << c.routes << error.toString();
    EXPECT_GT(error.line, 0) << error.toString();
  }
}

}  // namespace
}  // namespace podproxy::config
