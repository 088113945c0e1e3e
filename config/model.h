#pragma once

// The configuration model: plain immutable values built once by the loader (config/loader.h)
// and shared with workers as std::shared_ptr<const Bootstrap>. A request keeps the snapshot it
// started with, so a reload never changes a request in flight. Defaults documented here are the
// defaults documented in README.md; keep both in step.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
  std::string path = "/";  // prefix, exact path, or RE2 pattern (full match on path
                           // without query string)
  bool case_sensitive = true;
  // Envoy's connect_matcher: the route takes CONNECT requests (which have no path) and only
  // those; path matchers never match a CONNECT.
  bool connect_matcher = false;
  std::vector<std::string> methods;  // empty: any method
  std::vector<HeaderMatcher> headers;
};

struct WeightedCluster {
  std::string name;
  uint32_t weight = 0;
};

struct RouteAction {
  // Exactly one of cluster / weighted_clusters / original_destination.
  std::string cluster;
  std::vector<WeightedCluster> weighted_clusters;
  // Capture listeners only: the cluster the connection's original destination picked
  // (a cluster listing it in service_addresses, else passthrough).
  bool original_destination = false;
  std::optional<std::string> prefix_rewrite;  // replaces the matched prefix
  std::optional<std::string> host_rewrite;    // replaces :authority / Host
  Duration timeout{15000};                    // upstream response timeout; 0 disables
  Duration idle_timeout{0};                   // per-stream idle timeout; 0 disables
  // Upgrade protocols forwarded on this route ("websocket", ...; lower-case), from HTTP/1.1
  // Upgrade offers and HTTP/2 extended CONNECTs alike. An HTTP/1.1 request offering another one is
  // forwarded as plain HTTP with Upgrade removed (Envoy's default); an extended CONNECT gets 403.
  // "connect" (connect_matcher routes only) terminates CONNECT: a TCP tunnel to the cluster.
  std::vector<std::string> upgrade_types;
};

struct RedirectAction {
  std::optional<std::string> scheme;  // "https" for https redirects
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> path;            // replaces the whole path
  std::optional<std::string> prefix_rewrite;  // replaces the matched prefix
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

// HTTP/2 settings of one side: on a listener what clients may do, on a cluster our client side.
// HTTP/2 PING keepalive (Envoy's connection_keepalive): a PING once the peer has sent nothing
// for `interval`; when nothing arrives within `timeout` after it, the peer is taken for gone
// and the connection closed. Off (interval 0) unless configured.
struct Http2Keepalive {
  Duration interval{0};
  Duration timeout{3000};
  bool enabled() const { return interval.count() > 0; }
};

struct Http2Options {
  uint32_t max_concurrent_streams = 100;                  // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_stream_window_size = 256 * 1024;       // 65535 .. 2^31-1
  uint32_t initial_connection_window_size = 1024 * 1024;  // 65535 .. 2^31-1
  Http2Keepalive connection_keepalive;
};

struct HttpOptions {
  uint32_t max_request_headers_bytes = 60 * 1024;        // -> 431
  uint32_t max_request_headers_count = 100;              // -> 431
  Duration request_headers_timeout{10000};               // slowloris guard -> 408 and close
  Duration idle_timeout{300000};                         // keep-alive idle connection timeout
  Duration request_timeout{0};                           // whole request incl. body; 0 disables
  uint32_t max_request_body_buffer_bytes = 1024 * 1024;  // body buffered for retries -> 413
  uint32_t max_requests_per_connection = 0;              // 0: unlimited
  bool preserve_host = true;                             // forward Host as received
  bool generate_request_id = true;                       // x-request-id when absent
  bool use_remote_address = true;        // append the peer address to x-forwarded-for
  std::string server_name = "podproxy";  // "server" header on local replies
  Http2Options http2;                    // h2 (ALPN) and h2c (prior knowledge) clients
};

struct HttpConnectionManagerConfig {
  std::string stat_prefix;
  HttpOptions options;
  RouteConfig route_config;
};

struct TcpProxyConfig {
  std::string stat_prefix;
  std::string cluster;                // or, on capture listeners, original_destination
  bool original_destination = false;  // see RouteAction::original_destination
  Duration idle_timeout{3600000};     // no bytes either way for this long closes both sides
};

// Transparent capture (iptables REDIRECT to this listener): the connection's original
// destination is recovered, its protocol detected, and its cluster chosen by that destination.
struct CaptureOptions {
  enum class Direction { kOutbound, kInbound };
  enum class InboundTarget { kLoopback, kOriginal };
  Direction direction = Direction::kOutbound;
  // Client-first sniff window; when the client sends nothing for this long the connection is
  // proxied as TCP (server-first protocols: MySQL, SMTP...).
  Duration detection_timeout{100};
  std::vector<uint16_t> tcp_ports;  // destination ports proxied as TCP with no sniffing
  // Inbound: forward to the app on 127.0.0.1:<original port> (loopback) or on the original
  // destination address itself (original).
  InboundTarget inbound_target = InboundTarget::kLoopback;
};

// --- Telemetry (access logs, metrics labels, tracing) ---

// Which side of the workload a listener serves: it sets Istio's `reporter` label ("source" for
// outbound, "destination" for inbound) and whether the local workload is the source or the
// destination of the traffic.
enum class TrafficDirection { kOutbound, kInbound };

// One JSON line per HTTP request / TCP session on stdout.
struct AccessLogConfig {
  bool enabled = true;
  std::vector<std::string> fields;  // empty: every field (proxy/access_log/access_log_fields.h)
};

// The local workload's identity for Istio's source_* / destination_* labels. The loader fills
// unset fields from the Kubernetes downward-API environment; "unknown" as Istio when absent.
struct WorkloadIdentity {
  std::string name = "unknown";             // WORKLOAD_NAME, else POD_NAME
  std::string namespace_name = "unknown";   // POD_NAMESPACE
  std::string service_account = "unknown";  // SERVICE_ACCOUNT
  std::string app = "unknown";              // APP (canonical service)
  std::string version = "unknown";          // VERSION (canonical revision)
  std::string cluster_id = "unknown";       // CLUSTER_ID
  std::string service = "unknown";          // SERVICE_NAME: this workload's service host (inbound)
};

struct TracingConfig {
  double sampling = 1.0;  // percent of new traces marked sampled (Istio's tracing.sampling)
};

struct Telemetry {
  WorkloadIdentity workload;
  TracingConfig tracing;
};

// --- end telemetry ---

// --- TLS, mTLS and authorization ---

enum class TlsVersion { kTls12, kTls13 };

// One certificate a TLS listener can present; chosen by the client's SNI.
struct TlsCertificate {
  std::string cert_file;  // PEM chain, leaf first
  std::string key_file;   // PEM private key
  // Exact ("api.example.com") or wildcard ("*.example.com") names this certificate answers;
  // empty: the default certificate (the first one is the default when none is empty).
  std::vector<std::string> server_names;
};

// Protocol settings shared by both sides.
struct TlsParameters {
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  std::string cipher_suites;        // TLS 1.2, OpenSSL syntax; empty: podproxy's defaults
  std::string tls13_cipher_suites;  // TLS 1.3; empty: OpenSSL's defaults
  bool session_tickets = true;      // resumption (server: issue tickets; client: reuse them)
};

// TLS termination on a listener.
struct DownstreamTls {
  std::vector<TlsCertificate> certificates;  // at least one
  std::string ca_file;                       // verifies client certificates when set
  bool require_client_certificate = false;   // needs ca_file
  std::vector<std::string> alpn;  // server preference order; empty: http/1.1 for HTTP, none for TCP
  TlsParameters parameters;
};

// Mesh mTLS on a listener, with the workload certificate (Bootstrap::workload_identity).
// strict: TLS with a verified client certificate only; permissive: that, or plaintext on the
// same port (the first bytes tell them apart, as Istio's PERMISSIVE).
enum class MtlsMode { kDisabled, kPermissive, kStrict };

// TLS origination to a cluster's hosts.
struct UpstreamTls {
  std::string sni;      // server name sent; also the name verified when the list below is empty
  std::string ca_file;  // trust anchors; empty: the system's (/etc/ssl/certs)
  // DNS names or URIs (spiffe://...) one of which the server's certificate must carry.
  std::vector<std::string> verify_subject_alt_names;
  std::vector<std::string> alpn;  // offered; empty: none
  TlsParameters parameters;
};

// The workload's own certificate (mounted from a Kubernetes Secret or written by a SPIFFE
// helper). Defaults: $PODPROXY_CERT_DIR (else /etc/podproxy/certs) + cert.pem, key.pem, ca.pem.
struct WorkloadCertificate {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;  // the mesh's trust bundle
};

// One principal of an authorization rule: the peer's verified SPIFFE ID.
struct AuthzPrincipal {
  enum class Kind { kExact, kPrefix, kTrustDomain, kNamespace };
  Kind kind = Kind::kExact;
  std::string value;  // an ID, an ID prefix, a trust domain, or a namespace
};

// A rule matches when every condition it sets matches (each list: any of its entries).
// paths, methods and headers are HTTP conditions: a rule with any of them never matches a TCP
// connection.
struct AuthzRule {
  std::string name;  // for logs; default "rules[i]"
  std::vector<AuthzPrincipal> principals;
  std::vector<std::string> source_ips;  // CIDRs ("10.0.0.0/8", "::1/128") or addresses
  std::vector<std::string> paths;       // exact, "/prefix/*", or "*"; query ignored
  std::vector<std::string> methods;
  std::vector<HeaderMatcher> headers;
};

// allow: only what some rule matches gets through; deny: what some rule matches is refused.
// Refused HTTP requests get 403, refused TCP connections are closed.
struct Authorization {
  enum class Action { kAllow, kDeny };
  Action action = Action::kAllow;
  std::vector<AuthzRule> rules;
};

// A listener's alternative chain, chosen by the TLS server name (SNI) the client sent.
// Exactly one of http / tcp. Names: exact ("api.example.com") or a leading wildcard
// ("*.example.com": any name under example.com), lower-case, unique across the listener's chains;
// exact beats wildcard, the longer wildcard beats the shorter.
struct FilterChain {
  std::vector<std::string> server_names;
  std::optional<HttpConnectionManagerConfig> http;
  std::optional<TcpProxyConfig> tcp;
};

// --- end TLS ---

struct Listener {
  std::string name;
  SocketAddress address;
  uint32_t max_connections = 100000;                         // per listener, across workers
  uint32_t per_connection_buffer_limit_bytes = 1024 * 1024;  // high watermark
  // Exactly one of http / tcp; capture listeners have both (detected HTTP takes http, the rest
  // tcp), filled with original_destination defaults when absent.
  std::optional<HttpConnectionManagerConfig> http;
  std::optional<TcpProxyConfig> tcp;
  std::optional<CaptureOptions> capture;
  // Telemetry: defaults to the capture direction, else outbound.
  TrafficDirection direction = TrafficDirection::kOutbound;
  AccessLogConfig access_log;
  // TLS (see the TLS block above): termination, mesh mTLS, authorization.
  std::optional<DownstreamTls> tls;
  MtlsMode mtls = MtlsMode::kDisabled;
  std::optional<Authorization> authorization;
  // tls: listeners only. The listener's own http / tcp is the default chain (no SNI, or no
  // chain names it); certificates stay in tls.certificates.
  std::vector<FilterChain> filter_chains;
};

// The cluster capture listeners use for destinations no cluster claims (added when absent).
inline constexpr std::string_view kPassthroughCluster = "passthrough";

struct CircuitBreakers {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  uint32_t max_requests = 1024;
};

struct Cluster {
  // original_dst: no endpoints; each connection goes to its own original destination
  // (the passthrough cluster of capture listeners).
  enum class Type { kStatic, kStrictDns, kOriginalDst };
  enum class LbPolicy { kRoundRobin, kRandom, kLeastRequest };
  std::string name;
  Type type = Type::kStatic;
  LbPolicy lb_policy = LbPolicy::kRoundRobin;
  std::vector<SocketAddress> endpoints;
  // Capture: outbound connections whose original destination is one of these IP:port pairs
  // (a Service's cluster IP) are routed to this cluster.
  std::vector<SocketAddress> service_addresses;
  Duration connect_timeout{5000};
  Duration idle_timeout{60000};              // idle upstream keep-alive connection timeout
  Duration dns_refresh_rate{5000};           // strict_dns only
  uint32_t max_requests_per_connection = 0;  // 0: unlimited
  CircuitBreakers circuit_breakers;
  // Upstream protocol. auto: HTTP/2 when TLS ALPN negotiates h2, else HTTP/1.1 (plaintext
  // clusters: HTTP/1.1, there is no negotiation without TLS).
  enum class Protocol { kHttp1, kHttp2, kAuto };
  Protocol protocol = Protocol::kHttp1;
  Http2Options http2;
  // TLS to the hosts: `tls`, or `mutual` (mesh mTLS with the workload certificate).
  std::optional<UpstreamTls> tls;
  bool mutual = false;
  // mutual: the peer's SPIFFE ID must be one of these or in one of these trust domains (both
  // empty: any ID in the workload certificate's own trust domain).
  std::vector<std::string> peer_spiffe_ids;
  std::vector<std::string> peer_trust_domains;
};

// What a cluster's TLS (`tls` without an `alpn` list, or `mutual`) offers by ALPN: what its
// `protocol` speaks.
inline std::vector<std::string> defaultUpstreamAlpn(Cluster::Protocol protocol) {
  switch (protocol) {
    case Cluster::Protocol::kAuto:
      return {"h2", "http/1.1"};  // the pool speaks whichever the upstream chose
    case Cluster::Protocol::kHttp2:
      return {"h2"};
    case Cluster::Protocol::kHttp1:
      break;
  }
  return {};
}

struct Admin {
  SocketAddress address{"127.0.0.1", 15000};
  bool enabled = true;
  // Pod-reachable telemetry ports, served on the main thread; absent: not served.
  std::optional<SocketAddress> stats_address;   // GET /stats/prometheus (Istio: 0.0.0.0:15090)
  std::optional<SocketAddress> health_address;  // GET /healthz/ready (Istio: 0.0.0.0:15021)
};

struct Bootstrap {
  std::string source;              // file path, or "<embedded default>"
  uint32_t concurrency = 0;        // 0: CPUs the process may use (cgroup-aware)
  Duration drain_timeout{15000};   // SIGTERM: longest wait for requests in flight
  std::string log_level = "info";  // trace, debug, info, warn, error, off
  Admin admin;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  Telemetry telemetry;
  // Used by mtls listeners and mutual clusters (see WorkloadCertificate for the defaults).
  WorkloadCertificate workload_identity;
};

}  // namespace podproxy::config
