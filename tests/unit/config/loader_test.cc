#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <variant>

namespace podproxy::config {
namespace {

using ::testing::HasSubstr;

std::string sourceDir() {
#ifdef PODPROXY_SOURCE_DIR
  return PODPROXY_SOURCE_DIR;
#else
  // tests/unit/config/loader_test.cc -> the repository root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
#endif
}

BootstrapPtr loadDefault(const CliOverrides& overrides = {}) {
  auto loaded = loadEmbeddedDefault(overrides);
  EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : loaded.error().toString());
  return loaded ? *loaded : nullptr;
}

ConfigError overrideError(const CliOverrides& overrides) {
  auto loaded = loadEmbeddedDefault(overrides);
  EXPECT_FALSE(loaded.has_value());
  return loaded ? ConfigError{} : loaded.error();
}

TEST(ConfigLoader, EmbeddedDefaultMatchesDocumentedValues) {
  BootstrapPtr config = loadDefault();
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->source, "<embedded default>");
  EXPECT_EQ(config->concurrency, 0u);
  EXPECT_EQ(config->drain_timeout, Duration(15000));
  EXPECT_EQ(config->log_level, "info");
  EXPECT_TRUE(config->admin.enabled);
  EXPECT_EQ(config->admin.address.host, "127.0.0.1");
  EXPECT_EQ(config->admin.address.port, 15000);

  ASSERT_EQ(config->listeners.size(), 1u);
  const Listener& ingress = config->listeners[0];
  EXPECT_EQ(ingress.name, "ingress");
  EXPECT_EQ(ingress.address.host, "127.0.0.1");
  EXPECT_EQ(ingress.address.port, 10000);
  EXPECT_FALSE(ingress.tcp.has_value());
  ASSERT_TRUE(ingress.http.has_value());
  EXPECT_EQ(ingress.http->stat_prefix, "ingress");
  EXPECT_EQ(ingress.http->options.max_request_headers_bytes, 60u * 1024);
  ASSERT_EQ(ingress.http->route_config.virtual_hosts.size(), 1u);
  const VirtualHost& host = ingress.http->route_config.virtual_hosts[0];
  EXPECT_EQ(host.name, "local");
  EXPECT_EQ(host.domains, std::vector<std::string>{"*"});
  ASSERT_EQ(host.routes.size(), 1u);
  EXPECT_EQ(host.routes[0].name, "default");
  EXPECT_EQ(host.routes[0].match.path_kind, RouteMatch::PathKind::kPrefix);
  EXPECT_EQ(host.routes[0].match.path, "/");
  const auto* action = std::get_if<RouteAction>(&host.routes[0].action);
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->cluster, "local_app");
  EXPECT_EQ(action->timeout, Duration(15000));

  ASSERT_EQ(config->clusters.size(), 1u);
  const Cluster& app = config->clusters[0];
  EXPECT_EQ(app.name, "local_app");
  EXPECT_EQ(app.type, Cluster::Type::kStatic);
  EXPECT_EQ(app.lb_policy, Cluster::LbPolicy::kRoundRobin);
  ASSERT_EQ(app.endpoints.size(), 1u);
  EXPECT_EQ(app.endpoints[0].host, "127.0.0.1");
  EXPECT_EQ(app.endpoints[0].port, 8080);
}

TEST(ConfigLoader, EmbeddedDefaultIsPrintableYaml) {
  EXPECT_THAT(std::string(embeddedDefaultYaml()), HasSubstr("name: ingress"));
  EXPECT_THAT(std::string(embeddedDefaultYaml()), HasSubstr("\"127.0.0.1:8080\""));
}

TEST(ConfigLoader, OverridesReplaceListenUpstreamAdminConcurrencyAndLogLevel) {
  BootstrapPtr config = loadDefault({.listen = "[::1]:0",
                                     .upstream = "10.1.2.3:9090",
                                     .admin = "127.0.0.1:0",
                                     .concurrency = 4,
                                     .log_level = "debug"});
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].address.host, "::1");
  EXPECT_EQ(config->listeners[0].address.port, 0);
  ASSERT_EQ(config->clusters[0].endpoints.size(), 1u);
  EXPECT_EQ(config->clusters[0].endpoints[0].host, "10.1.2.3");
  EXPECT_EQ(config->clusters[0].endpoints[0].port, 9090);
  EXPECT_EQ(config->clusters[0].type, Cluster::Type::kStatic);
  EXPECT_EQ(config->admin.address.port, 0);
  EXPECT_EQ(config->concurrency, 4u);
  EXPECT_EQ(config->log_level, "debug");
}

TEST(ConfigLoader, UpstreamHostNameMakesTheClusterStrictDns) {
  BootstrapPtr config = loadDefault({.upstream = "app:8080"});
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->clusters[0].endpoints[0].host, "app");
  EXPECT_EQ(config->clusters[0].type, Cluster::Type::kStrictDns);
}

TEST(ConfigLoader, OverridesDoNotChangeTheBaseSnapshot) {
  auto base = loadString(embeddedDefaultYaml(), "base.yaml");
  ASSERT_TRUE(base.has_value());
  auto changed = applyOverrides(**base, {.listen = "127.0.0.1:10001"});
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ((*changed)->listeners[0].address.port, 10001);
  EXPECT_EQ((*base)->listeners[0].address.port, 10000);
  EXPECT_EQ((*changed)->source, "base.yaml");
}

TEST(ConfigLoader, RejectsBadOverrides) {
  ConfigError e = overrideError({.listen = "localhost:10000"});
  EXPECT_EQ(e.field, "--listen");
  EXPECT_EQ(e.file, "<command line>");
  EXPECT_EQ(e.line, 0);
  EXPECT_THAT(e.message, HasSubstr("not an IP address"));

  e = overrideError({.upstream = "127.0.0.1:0"});
  EXPECT_EQ(e.field, "--upstream");
  EXPECT_EQ(e.message, "port must be between 1 and 65535");

  e = overrideError({.admin = "127.0.0.1"});
  EXPECT_EQ(e.field, "--admin");

  e = overrideError({.concurrency = 257});
  EXPECT_EQ(e.field, "--concurrency");

  e = overrideError({.log_level = "verbose"});
  EXPECT_EQ(e.field, "--log-level");

  e = overrideError({.admin = "127.0.0.1:10000"});
  EXPECT_EQ(e.field, "--admin");
  EXPECT_THAT(e.message, HasSubstr("already used by listener 'ingress'"));
  EXPECT_EQ(e.toString(),
            "<command line>: --admin: admin address 127.0.0.1:10000 is already used by "
            "listener 'ingress'");
}

TEST(ConfigLoader, OverridesNeedTheNamedListenerAndCluster) {
  auto base = loadString(R"(listeners:
  - name: edge
    address: 127.0.0.1:0
    tcp: {cluster: db}
clusters:
  - name: db
    endpoints: ["127.0.0.1:5432"]
)",
                         "t.yaml");
  ASSERT_TRUE(base.has_value()) << base.error().toString();
  auto listen = applyOverrides(**base, {.listen = "127.0.0.1:1"});
  ASSERT_FALSE(listen.has_value());
  EXPECT_EQ(listen.error().field, "--listen");
  EXPECT_THAT(listen.error().message, HasSubstr("'ingress'"));
  auto upstream = applyOverrides(**base, {.upstream = "127.0.0.1:1"});
  ASSERT_FALSE(upstream.has_value());
  EXPECT_THAT(upstream.error().message, HasSubstr("'local_app'"));
}

TEST(ConfigLoader, ToStringHasFileLineColumnFieldAndMessage) {
  ConfigError e{"a.yaml", 3, 7, "listeners[0].name", "must not be empty"};
  EXPECT_EQ(e.toString(), "a.yaml:3:7: listeners[0].name: must not be empty");
  ConfigError no_field{"a.yaml", 0, 0, "", "cannot open: No such file or directory"};
  EXPECT_EQ(no_field.toString(), "a.yaml: cannot open: No such file or directory");
}

TEST(ConfigLoader, MissingFileNamesPathAndReason) {
  auto loaded = loadFile("/nonexistent/podproxy.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().file, "/nonexistent/podproxy.yaml");
  EXPECT_EQ(loaded.error().line, 0);
  EXPECT_EQ(loaded.error().message, "cannot open: No such file or directory");
}

TEST(ConfigLoader, DirectoryIsNotAConfigFile) {
  auto loaded = loadFile("/tmp");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().message, "cannot read: Is a directory");
}

TEST(ConfigLoader, LoadFileRecordsThePathAsSource) {
  const std::string path = ::testing::TempDir() + "podproxy_loader_test.yaml";
  {
    std::ofstream out(path);
    out << "log_level: warn\n";
  }
  auto loaded = loadFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().toString();
  EXPECT_EQ((*loaded)->source, path);
  EXPECT_EQ((*loaded)->log_level, "warn");
  EXPECT_TRUE((*loaded)->listeners.empty());
}

TEST(ConfigLoader, YamlSyntaxErrorHasItsPosition) {
  auto loaded = loadString("log_level: info\nlisteners: [a, b}\n", "bad.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().file, "bad.yaml");
  EXPECT_EQ(loaded.error().line, 2);
  EXPECT_EQ(loaded.error().column, 17);
  EXPECT_EQ(loaded.error().message, "invalid YAML: illegal flow end");
}

TEST(ConfigLoader, EmptyDocumentIsAnError) {
  auto loaded = loadString("# nothing here\n", "empty.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().message, "the configuration is empty");
}

TEST(ConfigLoader, SeveralDocumentsAreAnError) {
  auto loaded = loadString("log_level: info\n---\nlog_level: warn\n", "two.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().line, 3);
  EXPECT_EQ(loaded.error().message, "expected one YAML document, found several");
}

TEST(ConfigLoader, TopLevelMustBeAMapping) {
  auto loaded = loadString("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().line, 1);
  EXPECT_EQ(loaded.error().column, 1);
  EXPECT_EQ(loaded.error().field, "");
}

TEST(ConfigLoader, MinimalExampleLoads) {
  auto loaded = loadFile(sourceDir() + "/config/examples/minimal.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().toString();
  const Bootstrap& config = **loaded;
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_EQ(config.listeners[0].http->route_config.name, "ingress");  // defaults to listener name
  EXPECT_EQ(config.clusters[0].connect_timeout, Duration(5000));
  EXPECT_EQ(config.clusters[0].circuit_breakers.max_requests, 1024u);
}

TEST(ConfigLoader, ReverseProxyExampleLoadsEveryFeature) {
  auto loaded = loadFile(sourceDir() + "/config/examples/reverse-proxy.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().toString();
  const Bootstrap& config = **loaded;
  EXPECT_EQ(config.concurrency, 2u);
  EXPECT_EQ(config.drain_timeout, Duration(20000));
  ASSERT_EQ(config.listeners.size(), 2u);

  const Listener& http = config.listeners[0];
  ASSERT_TRUE(http.http.has_value());
  EXPECT_EQ(http.per_connection_buffer_limit_bytes, 1024u * 1024);
  EXPECT_EQ(http.http->options.idle_timeout, Duration(300000));
  const auto& hosts = http.http->route_config.virtual_hosts;
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].headers.request_headers_to_add.size(), 1u);
  EXPECT_FALSE(hosts[0].headers.request_headers_to_add[0].append);

  const Route& health = hosts[0].routes[0];
  EXPECT_EQ(health.match.path_kind, RouteMatch::PathKind::kExact);
  const auto* direct = std::get_if<DirectResponseAction>(&health.action);
  ASSERT_NE(direct, nullptr);
  EXPECT_EQ(direct->body, "ok\n");

  const Route& canary = hosts[0].routes[1];
  ASSERT_EQ(canary.match.headers.size(), 2u);
  EXPECT_EQ(canary.match.headers[0].name, "content-type");  // lower-cased
  EXPECT_EQ(canary.match.headers[0].kind, HeaderMatcher::Kind::kPrefix);
  EXPECT_TRUE(canary.match.headers[1].invert);
  const auto* split = std::get_if<RouteAction>(&canary.action);
  ASSERT_NE(split, nullptr);
  ASSERT_EQ(split->weighted_clusters.size(), 2u);
  EXPECT_EQ(split->weighted_clusters[1].weight, 10u);
  EXPECT_EQ(split->prefix_rewrite, "/users");

  const Route& orders = hosts[0].routes[2];
  EXPECT_EQ(orders.match.path_kind, RouteMatch::PathKind::kRegex);
  EXPECT_EQ(orders.headers.request_headers_to_remove, std::vector<std::string>{"x-internal-token"});

  const auto* legacy = std::get_if<RedirectAction>(&hosts[0].routes[3].action);
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(legacy->response_code, 308);

  const auto* https = std::get_if<RedirectAction>(&hosts[1].routes[0].action);
  ASSERT_NE(https, nullptr);
  EXPECT_EQ(https->scheme, "https");
  EXPECT_EQ(https->port, 443);
  EXPECT_EQ(std::get<RouteAction>(hosts[1].routes[2].action).upgrade_types,
            std::vector<std::string>{"websocket"});
  const Route& tunnel = hosts[1].routes[3];
  EXPECT_TRUE(tunnel.match.connect_matcher);
  EXPECT_EQ(std::get<RouteAction>(tunnel.action).upgrade_types,
            std::vector<std::string>{"connect"});

  const Listener& tcp = config.listeners[1];
  ASSERT_TRUE(tcp.tcp.has_value());
  EXPECT_EQ(tcp.tcp->idle_timeout, Duration(3600000));

  ASSERT_EQ(config.clusters.size(), 5u);
  EXPECT_EQ(config.clusters[1].endpoints[0].host, "::1");
  EXPECT_EQ(config.clusters[2].type, Cluster::Type::kStrictDns);
  EXPECT_EQ(config.clusters[2].endpoints[0].host, "localhost");
  EXPECT_EQ(config.clusters[2].lb_policy, Cluster::LbPolicy::kLeastRequest);
}

}  // namespace
}  // namespace podproxy::config
