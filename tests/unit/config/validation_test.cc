// Validation of the top level, admin, listeners and clusters: every error names its position.

#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::kClusterColumn;
using testing::kClusterLine;
using testing::kListenerColumn;
using testing::kListenerLine;
using testing::loadOk;
using testing::withClusters;
using testing::withListeners;

constexpr int L = kListenerLine;
constexpr int LC = kListenerColumn;
constexpr int C = kClusterLine;
constexpr int CC = kClusterColumn;

// --- top level ---------------------------------------------------------------------------------

TEST(ConfigValidation, RejectsUnknownTopLevelField) {
  EXPECT_CONFIG_ERROR("log_level: info\nlog_levle: debug\n", 2, 1, "log_levle", "unknown field");
}

TEST(ConfigValidation, RejectsFieldGivenTwice) {
  EXPECT_CONFIG_ERROR("log_level: info\nlog_level: debug\n", 2, 1, "log_level",
                      "field given twice");
}

TEST(ConfigValidation, ConcurrencyIsBetween0And256) {
  ASSERT_NE(loadOk("concurrency: 256\n"), nullptr);
  EXPECT_EQ(loadOk("concurrency: 256\n")->concurrency, 256u);
  EXPECT_CONFIG_ERROR("concurrency: 257\n", 1, 14, "concurrency", "must be between 0 and 256");
  EXPECT_CONFIG_ERROR("concurrency: -1\n", 1, 14, "concurrency", "expected a non-negative integer");
}

TEST(ConfigValidation, LogLevelMustBeKnown) {
  EXPECT_EQ(loadOk("log_level: off\n")->log_level, "off");
  EXPECT_CONFIG_ERROR("log_level: verbose\n", 1, 12, "log_level",
                      "log_level must be one of trace, debug, info, warn, error, off");
}

TEST(ConfigValidation, DurationsAcceptUnitsAndPlainMilliseconds) {
  EXPECT_EQ(loadOk("drain_timeout: 1m\n")->drain_timeout, Duration(60000));
  EXPECT_EQ(loadOk("drain_timeout: 1500\n")->drain_timeout, Duration(1500));
  EXPECT_EQ(loadOk("drain_timeout: \"250ms\"\n")->drain_timeout, Duration(250));
  EXPECT_CONFIG_ERROR("drain_timeout: 5 seconds\n", 1, 16, "drain_timeout",
                      "expected a duration like 250ms or 5s");
  EXPECT_CONFIG_ERROR("drain_timeout: [5s]\n", 1, 16, "drain_timeout", "got a list");
}

TEST(ConfigValidation, NullValueIsReportedAtItsKey) {
  EXPECT_CONFIG_ERROR("log_level: info\ndrain_timeout:\nconcurrency: 1\n", 2, 1, "drain_timeout",
                      "got nothing");
}

TEST(ConfigValidation, ListsMustBeLists) {
  EXPECT_CONFIG_ERROR("listeners: {name: x}\n", 1, 12, "listeners",
                      "expected a list, got a mapping");
}

// --- admin -------------------------------------------------------------------------------------

TEST(ConfigValidation, AdminAddressMustBeAnIpLiteral) {
  EXPECT_CONFIG_ERROR("admin:\n  address: localhost:15000\n", 2, 12, "admin.address",
                      "'localhost' is not an IP address");
}

TEST(ConfigValidation, AdminAcceptsPortZeroAndIpv6) {
  EXPECT_EQ(loadOk("admin: {address: 127.0.0.1:0}\n")->admin.address.port, 0);
  EXPECT_EQ(loadOk("admin: {address: \"[::1]:15000\"}\n")->admin.address.host, "::1");
}

TEST(ConfigValidation, BooleansAreTrueOrFalse) {
  EXPECT_FALSE(loadOk("admin: {enabled: false}\n")->admin.enabled);
  EXPECT_CONFIG_ERROR("admin: {enabled: yes}\n", 1, 18, "admin.enabled",
                      "expected true or false, got 'yes'");
}

TEST(ConfigValidation, RejectsUnknownAdminField) {
  EXPECT_CONFIG_ERROR("admin: {address: 127.0.0.1:1, port: 2}\n", 1, 31, "admin.port",
                      "unknown field (expected one of: address, enabled, stats_address, "
                      "health_address)");
}

TEST(ConfigValidation, AdminMayNotShareAListenerAddress) {
  const std::string yaml = "admin:\n  address: 127.0.0.1:9000\n" + withListeners(R"(- name: a
  address: 127.0.0.1:9000
  tcp: {cluster: app}
)");
  EXPECT_CONFIG_ERROR(yaml, 2, 12, "admin.address",
                      "address 127.0.0.1:9000 is already used by listener 'a'");
}

// --- listeners ---------------------------------------------------------------------------------

TEST(ConfigValidation, ListenerNameIsRequired) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- address: 127.0.0.1:0
  tcp: {cluster: app}
)"),
                      L + 1, LC + 3, "listeners[0].name", "missing required field");
}

TEST(ConfigValidation, ListenerAddressIsRequired) {
  EXPECT_CONFIG_ERROR(withListeners("- name: a\n  tcp: {cluster: app}\n"), L + 1, LC + 3,
                      "listeners[0].address", "missing required field");
}

TEST(ConfigValidation, ListenerNamesAreUnique) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  tcp: {cluster: app}
- name: a
  address: 127.0.0.1:0
  tcp: {cluster: app}
)"),
                      L + 4, LC + 9, "listeners[1].name", "listener name 'a' is used twice");
}

TEST(ConfigValidation, ListenerAddressesAreUnique) {
  // "[0:0::1]" is "[::1]" written differently: the comparison is on the parsed address.
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: "[::1]:10000"
  tcp: {cluster: app}
- name: b
  address: "[0:0::1]:10000"
  tcp: {cluster: app}
)"),
                      L + 5, LC + 12, "listeners[1].address",
                      "address [::1]:10000 is already used by listener 'a'");
}

TEST(ConfigValidation, EphemeralPortsNeverClash) {
  BootstrapPtr config = loadOk(withListeners(R"(- name: a
  address: 127.0.0.1:0
  tcp: {cluster: app}
- name: b
  address: 127.0.0.1:0
  tcp: {cluster: app}
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners.size(), 2u);
  EXPECT_EQ(config->listeners[1].address.port, 0);
}

TEST(ConfigValidation, ListenerAddressMustBeAnIpLiteralWithAValidPort) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: localhost:80
  tcp: {cluster: app}
)"),
                      L + 2, LC + 12, "listeners[0].address", "'localhost' is not an IP address");
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:65536
  tcp: {cluster: app}
)"),
                      L + 2, LC + 12, "listeners[0].address", "port must be between 0 and 65535");
}

TEST(ConfigValidation, ListenerNeedsExactlyOneOfHttpAndTcp) {
  EXPECT_CONFIG_ERROR(withListeners("- name: a\n  address: 127.0.0.1:0\n"), L + 1, LC + 3,
                      "listeners[0]", "one of http, tcp is required");
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  tcp: {cluster: app}
  http: {route_config: {virtual_hosts: []}}
)"),
                      L + 4, LC + 3, "listeners[0].http", "only one of http, tcp may be set");
}

TEST(ConfigValidation, TcpProxyClusterMustExist) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  tcp: {cluster: nope}
)"),
                      L + 3, LC + 18, "listeners[0].tcp.cluster", "cluster 'nope' is not defined");
}

TEST(ConfigValidation, TcpProxyDefaultsStatPrefixToListenerName) {
  BootstrapPtr config = loadOk(withListeners(R"(- name: db
  address: 127.0.0.1:0
  tcp: {cluster: app, idle_timeout: 2h}
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].tcp->stat_prefix, "db");
  EXPECT_EQ(config->listeners[0].tcp->idle_timeout, Duration(7200000));
}

TEST(ConfigValidation, ListenerLimitsParseSizesAndRejectZero) {
  BootstrapPtr config = loadOk(withListeners(R"(- name: a
  address: 127.0.0.1:0
  max_connections: 10
  per_connection_buffer_limit_bytes: 32KiB
  tcp: {cluster: app}
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].max_connections, 10u);
  EXPECT_EQ(config->listeners[0].per_connection_buffer_limit_bytes, 32u * 1024);
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  max_connections: 0
  tcp: {cluster: app}
)"),
                      L + 3, LC + 20, "listeners[0].max_connections",
                      "must be between 1 and 4294967295");
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  per_connection_buffer_limit_bytes: 1MB
  tcp: {cluster: app}
)"),
                      L + 3, LC + 38, "listeners[0].per_connection_buffer_limit_bytes",
                      "expected a size in bytes");
}

TEST(ConfigValidation, HttpOptionsSitBesideRouteConfig) {
  BootstrapPtr config = loadOk(withListeners(R"(- name: web
  address: 127.0.0.1:0
  http:
    max_request_headers_bytes: 8KiB
    max_request_headers_count: 50
    request_headers_timeout: 2s
    idle_timeout: 1m
    request_timeout: 30s
    max_request_body_buffer_bytes: 64KiB
    max_requests_per_connection: 100
    preserve_host: false
    generate_request_id: false
    use_remote_address: false
    server_name: edge
    route_config:
      virtual_hosts:
        - {name: all, domains: ["*"]}
)"));
  ASSERT_NE(config, nullptr);
  const HttpConnectionManagerConfig& http = *config->listeners[0].http;
  EXPECT_EQ(http.stat_prefix, "web");
  EXPECT_EQ(http.route_config.name, "web");
  EXPECT_EQ(http.options.max_request_headers_bytes, 8u * 1024);
  EXPECT_EQ(http.options.max_request_headers_count, 50u);
  EXPECT_EQ(http.options.request_headers_timeout, Duration(2000));
  EXPECT_EQ(http.options.idle_timeout, Duration(60000));
  EXPECT_EQ(http.options.request_timeout, Duration(30000));
  EXPECT_EQ(http.options.max_request_body_buffer_bytes, 64u * 1024);
  EXPECT_EQ(http.options.max_requests_per_connection, 100u);
  EXPECT_FALSE(http.options.preserve_host);
  EXPECT_FALSE(http.options.generate_request_id);
  EXPECT_FALSE(http.options.use_remote_address);
  EXPECT_EQ(http.options.server_name, "edge");
}

TEST(ConfigValidation, RejectsUnknownHttpOption) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: web
  address: 127.0.0.1:0
  http:
    max_header_bytes: 8KiB
    route_config: {virtual_hosts: [{name: all, domains: ["*"]}]}
)"),
                      L + 4, LC + 5, "listeners[0].http.max_header_bytes", "unknown field");
}

TEST(ConfigValidation, HttpNeedsRouteConfigWithVirtualHosts) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: web
  address: 127.0.0.1:0
  http: {stat_prefix: web}
)"),
                      L + 3, LC + 9, "listeners[0].http.route_config", "missing required field");
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: web
  address: 127.0.0.1:0
  http: {route_config: {virtual_hosts: []}}
)"),
                      L + 3, LC + 40, "listeners[0].http.route_config.virtual_hosts",
                      "must not be empty");
}

TEST(ConfigValidation, StatPrefixIsRestrictedToSafeCharacters) {
  EXPECT_CONFIG_ERROR(withListeners(R"(- name: a
  address: 127.0.0.1:0
  tcp: {cluster: app, stat_prefix: "a b"}
)"),
                      L + 3, LC + 36, "listeners[0].tcp.stat_prefix",
                      "stat_prefix may contain only");
}

// --- clusters ----------------------------------------------------------------------------------

TEST(ConfigValidation, ClusterEndpointsAreRequiredAndNonEmpty) {
  EXPECT_CONFIG_ERROR(withClusters("- name: a\n"), C + 1, CC + 3, "clusters[0].endpoints",
                      "missing required field");
  EXPECT_CONFIG_ERROR(withClusters("- name: a\n  endpoints: []\n"), C + 2, CC + 14,
                      "clusters[0].endpoints", "must not be empty");
}

TEST(ConfigValidation, ClusterNameIsAString) {
  EXPECT_CONFIG_ERROR(withClusters("- name: [a]\n  endpoints: [\"127.0.0.1:1\"]\n"), C + 1, CC + 9,
                      "clusters[0].name", "expected a string, got a list");
}

TEST(ConfigValidation, ClusterNamesAreUnique) {
  EXPECT_CONFIG_ERROR(withClusters(R"(- name: a
  endpoints: ["127.0.0.1:1"]
- name: a
  endpoints: ["127.0.0.1:2"]
)"),
                      C + 3, CC + 9, "clusters[1].name", "cluster name 'a' is used twice");
}

TEST(ConfigValidation, StaticClusterEndpointsAreIpLiterals) {
  EXPECT_CONFIG_ERROR(withClusters("- name: a\n  endpoints: [\"127.0.0.1:1\", \"localhost:80\"]\n"),
                      C + 2, CC + 30, "clusters[0].endpoints[1]",
                      "static clusters need IP endpoints");
}

TEST(ConfigValidation, StrictDnsClusterAcceptsHostNames) {
  BootstrapPtr config = loadOk(withClusters(R"(- name: a
  type: strict_dns
  endpoints: ["localhost:80", "127.0.0.1:81", "[::1]:82"]
  dns_refresh_rate: 30s
)"));
  ASSERT_NE(config, nullptr);
  const Cluster& cluster = config->clusters[0];
  EXPECT_EQ(cluster.type, Cluster::Type::kStrictDns);
  ASSERT_EQ(cluster.endpoints.size(), 3u);
  EXPECT_EQ(cluster.endpoints[0].host, "localhost");
  EXPECT_EQ(cluster.endpoints[2].host, "::1");
  EXPECT_EQ(cluster.endpoints[2].port, 82);
  EXPECT_EQ(cluster.dns_refresh_rate, Duration(30000));
}

TEST(ConfigValidation, StrictDnsClusterRejectsInvalidHostNames) {
  EXPECT_CONFIG_ERROR(withClusters(R"(- name: a
  type: strict_dns
  endpoints: ["bad_name:80"]
)"),
                      C + 3, CC + 15, "clusters[0].endpoints[0]",
                      "'bad_name' is not a valid host name");
}

TEST(ConfigValidation, EndpointPortZeroIsRejected) {
  EXPECT_CONFIG_ERROR(withClusters("- name: a\n  endpoints: [\"127.0.0.1:0\"]\n"), C + 2, CC + 15,
                      "clusters[0].endpoints[0]", "port must be between 1 and 65535");
}

TEST(ConfigValidation, ClusterTypeAndLbPolicyAreEnumerations) {
  EXPECT_CONFIG_ERROR(
      withClusters("- name: a\n  type: logical_dns\n  endpoints: [\"1.2.3.4:1\"]\n"), C + 2, CC + 9,
      "clusters[0].type", "type must be static, strict_dns or original_dst");
  EXPECT_CONFIG_ERROR(
      withClusters("- name: a\n  lb_policy: ring_hash\n  endpoints: [\"1.2.3.4:1\"]\n"), C + 2,
      CC + 14, "clusters[0].lb_policy", "lb_policy must be round_robin, random or least_request");
  EXPECT_EQ(loadOk(withClusters("- name: a\n  lb_policy: random\n  endpoints: [\"1.2.3.4:1\"]\n"))
                ->clusters[0]
                .lb_policy,
            Cluster::LbPolicy::kRandom);
}

TEST(ConfigValidation, ConnectTimeoutMustBePositive) {
  EXPECT_CONFIG_ERROR(
      withClusters("- name: a\n  endpoints: [\"1.2.3.4:1\"]\n  connect_timeout: 0s\n"), C + 3,
      CC + 20, "clusters[0].connect_timeout", "must be greater than 0");
}

TEST(ConfigValidation, CircuitBreakersAreReadAndChecked) {
  BootstrapPtr config = loadOk(withClusters(R"(- name: a
  endpoints: ["1.2.3.4:1"]
  max_requests_per_connection: 7
  idle_timeout: 90s
  circuit_breakers: {max_connections: 8, max_pending_requests: 0, max_requests: 9}
)"));
  ASSERT_NE(config, nullptr);
  const Cluster& cluster = config->clusters[0];
  EXPECT_EQ(cluster.max_requests_per_connection, 7u);
  EXPECT_EQ(cluster.idle_timeout, Duration(90000));
  EXPECT_EQ(cluster.circuit_breakers.max_connections, 8u);
  EXPECT_EQ(cluster.circuit_breakers.max_pending_requests, 0u);
  EXPECT_EQ(cluster.circuit_breakers.max_requests, 9u);
  EXPECT_CONFIG_ERROR(withClusters(R"(- name: a
  endpoints: ["1.2.3.4:1"]
  circuit_breakers: {max_retries: 3}
)"),
                      C + 3, CC + 22, "clusters[0].circuit_breakers.max_retries", "unknown field");
  EXPECT_CONFIG_ERROR(withClusters(R"(- name: a
  endpoints: ["1.2.3.4:1"]
  circuit_breakers:
    max_requests: 0
)"),
                      C + 4, CC + 19, "clusters[0].circuit_breakers.max_requests",
                      "must be between 1 and 4294967295");
}

}  // namespace
}  // namespace podproxy::config
