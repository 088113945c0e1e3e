#pragma once

// The configuration model: plain immutable values built once by the loader (config/loader.h)
// and shared with workers as std::shared_ptr<const Bootstrap>. A request keeps the snapshot it
// started with, so a reload never changes a request in flight. Defaults documented here are the
// defaults documented in README.md; keep both in step.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace podproxy::config {

using Duration = std::chrono::milliseconds;

// "host:port"; host is an IPv4/IPv6 literal ("[::1]:80" in YAML) or, for DNS clusters, a name.
struct SocketAddress {
  std::string host;
  uint16_t port = 0;
};

struct HeaderValueOption {
  std::string name;  // lower-cased by the loader
  std::string value;
  bool append = true;  // false: replace any existing value
};

// Header edits applied at a virtual host or route level.
struct HeaderMutations {
  std::vector<HeaderValueOption> request_headers_to_add;
  std::vector<std::string> request_headers_to_remove;
  std::vector<HeaderValueOption> response_headers_to_add;
  std::vector<std::string> response_headers_to_remove;
};

struct HeaderMatcher {
  enum class Kind { kExact, kPrefix, kRegex, kPresent };
  std::string name;  // lower-cased
  Kind kind = Kind::kPresent;
  std::string value;    // exact value, prefix, or RE2 pattern (full match)
  bool invert = false;  // match when the header does NOT satisfy the matcher
};

struct RouteMatch {
  enum class PathKind { kPrefix, kExact, kRegex };
  PathKind path_kind = PathKind::kPrefix;
  std::string path = "/";            // prefix, exact path, or RE2 pattern (full match on path
                                     // without query string)
  bool case_sensitive = true;
  std::vector<std::string> methods;  // empty: any method
  std::vector<HeaderMatcher> headers;
};

struct WeightedCluster {
  std::string name;
  uint32_t weight = 0;
};

struct RouteAction {
  std::string cluster;                            // exactly one of cluster / weighted_clusters
  std::vector<WeightedCluster> weighted_clusters;
  std::optional<std::string> prefix_rewrite;      // replaces the matched prefix
  std::optional<std::string> host_rewrite;        // replaces :authority / Host
  Duration timeout{15000};                        // upstream response timeout; 0 disables
  Duration idle_timeout{0};                       // per-stream idle timeout; 0 disables
};

struct RedirectAction {
  std::optional<std::string> scheme;  // "https" for https redirects
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> path;           // replaces the whole path
  std::optional<std::string> prefix_rewrite; // replaces the matched prefix
  bool strip_query = false;
  uint16_t response_code = 301;  // 301, 302, 303, 307, 308
};

struct DirectResponseAction {
  uint16_t status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

struct Route {
  std::string name;
  RouteMatch match;
  std::variant<RouteAction, RedirectAction, DirectResponseAction> action;
  HeaderMutations headers;
};

struct VirtualHost {
  std::string name;
  // Exact ("api.local"), suffix wildcard ("*.local"), prefix wildcard ("api.*") or "*".
  // Matched case-insensitively against Host without its port; most specific wins as in Envoy:
  // exact, then longest suffix, then longest prefix, then "*".
  std::vector<std::string> domains;
  std::vector<Route> routes;  // first match wins
  HeaderMutations headers;
};

struct RouteConfig {
  std::string name;
  std::vector<VirtualHost> virtual_hosts;
};

struct HttpOptions {
  uint32_t max_request_headers_bytes = 60 * 1024;  // -> 431
  uint32_t max_request_headers_count = 100;        // -> 431
  Duration request_headers_timeout{10000};         // slowloris guard -> 408 and close
  Duration idle_timeout{300000};                   // keep-alive idle connection timeout
  Duration request_timeout{0};                     // whole request incl. body; 0 disables
  uint32_t max_request_body_buffer_bytes = 1024 * 1024;  // body buffered for retries -> 413
  uint32_t max_requests_per_connection = 0;        // 0: unlimited
  bool preserve_host = true;                       // forward Host as received
  bool generate_request_id = true;                 // x-request-id when absent
  bool use_remote_address = true;  // append the peer address to x-forwarded-for
  std::string server_name = "podproxy";  // "server" header on local replies
};

struct HttpConnectionManagerConfig {
  std::string stat_prefix;
  HttpOptions options;
  RouteConfig route_config;
};

struct TcpProxyConfig {
  std::string stat_prefix;
  std::string cluster;
  Duration idle_timeout{3600000};  // no bytes either way for this long closes both sides
};

struct Listener {
  std::string name;
  SocketAddress address;
  uint32_t max_connections = 100000;    // per listener, across workers
  uint32_t per_connection_buffer_limit_bytes = 1024 * 1024;  // high watermark
  // Exactly one of http / tcp.
  std::optional<HttpConnectionManagerConfig> http;
  std::optional<TcpProxyConfig> tcp;
};

struct CircuitBreakers {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  uint32_t max_requests = 1024;
};

struct Cluster {
  enum class Type { kStatic, kStrictDns };
  enum class LbPolicy { kRoundRobin, kRandom, kLeastRequest };
  std::string name;
  Type type = Type::kStatic;
  LbPolicy lb_policy = LbPolicy::kRoundRobin;
  std::vector<SocketAddress> endpoints;
  Duration connect_timeout{5000};
  Duration idle_timeout{60000};          // idle upstream keep-alive connection timeout
  Duration dns_refresh_rate{5000};       // strict_dns only
  uint32_t max_requests_per_connection = 0;  // 0: unlimited
  CircuitBreakers circuit_breakers;
};

struct Admin {
  SocketAddress address{"127.0.0.1", 15000};
  bool enabled = true;
};

struct Bootstrap {
  std::string source;              // file path, or "<embedded default>"
  uint32_t concurrency = 0;        // 0: CPUs the process may use (cgroup-aware)
  Duration drain_timeout{15000};   // SIGTERM: longest wait for requests in flight
  std::string log_level = "info";  // trace, debug, info, warn, error, off
  Admin admin;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
};

}  // namespace podproxy::config
