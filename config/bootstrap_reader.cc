#include "config/bootstrap_reader.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "config/route_reader.h"
#include "config/telemetry_reader.h"
#include "config/tls_reader.h"
#include "config/values.h"
#include "proxy/network/address.h"

namespace podproxy::config {
namespace {

constexpr uint32_t kMaxConcurrency = 256;

SocketAddress readListenAddress(const YamlNode& node) {
  // Port 0 asks the kernel for an ephemeral port (tests rely on it).
  auto address = parseSocketAddress(node.asNonEmptyString(), HostKind::kIpOnly,
                                    /*allow_port_zero=*/true);
  if (!address) node.fail(address.error());
  return *address;
}

std::string readStatPrefix(const YamlNode& node) {
  std::string prefix = node.asNonEmptyString();
  for (char c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) node.fail("stat_prefix may contain only letters, digits, '_', '.' and '-'");
  }
  return prefix;
}

Http2Keepalive readHttp2Keepalive(const YamlNode& node) {
  node.allowOnly({"interval", "timeout"});
  Http2Keepalive k;
  k.interval = node.require("interval").asPositiveDuration();
  if (auto v = node.get("timeout")) k.timeout = v->asPositiveDuration();
  return k;
}

Http2Options readHttp2Options(const YamlNode& node) {
  node.allowOnly({"max_concurrent_streams", "initial_stream_window_size",
                  "initial_connection_window_size", "connection_keepalive"});
  Http2Options o;
  if (auto v = node.get("max_concurrent_streams")) o.max_concurrent_streams = v->asUint32(1);
  // RFC 9113 6.9.2: windows are at most 2^31-1; below 65535 only slows everyone down.
  if (auto v = node.get("initial_stream_window_size")) {
    o.initial_stream_window_size = v->asSize(65535);
    if (o.initial_stream_window_size > 0x7fffffffu) v->fail("must be at most 2147483647");
  }
  if (auto v = node.get("initial_connection_window_size")) {
    o.initial_connection_window_size = v->asSize(65535);
    if (o.initial_connection_window_size > 0x7fffffffu) v->fail("must be at most 2147483647");
  }
  if (auto v = node.get("connection_keepalive")) o.connection_keepalive = readHttp2Keepalive(*v);
  return o;
}

HttpConnectionManagerConfig readHttp(const YamlNode& node, const std::string& listener_name,
                                     ReadContext& context) {
  node.allowOnly({"stat_prefix", "route_config", "max_request_headers_bytes",
                  "max_request_headers_count", "request_headers_timeout", "idle_timeout",
                  "request_timeout", "max_request_body_buffer_bytes", "max_requests_per_connection",
                  "preserve_host", "generate_request_id", "use_remote_address", "server_name",
                  "http2"});
  HttpConnectionManagerConfig http;
  http.stat_prefix = listener_name;
  if (auto v = node.get("stat_prefix")) http.stat_prefix = readStatPrefix(*v);
  HttpOptions& o = http.options;
  if (auto v = node.get("max_request_headers_bytes")) o.max_request_headers_bytes = v->asSize(1);
  if (auto v = node.get("max_request_headers_count")) o.max_request_headers_count = v->asUint32(1);
  if (auto v = node.get("request_headers_timeout")) o.request_headers_timeout = v->asDuration();
  if (auto v = node.get("idle_timeout")) o.idle_timeout = v->asDuration();
  if (auto v = node.get("request_timeout")) o.request_timeout = v->asDuration();
  if (auto v = node.get("max_request_body_buffer_bytes")) {
    o.max_request_body_buffer_bytes = v->asSize();
  }
  if (auto v = node.get("max_requests_per_connection"))
    o.max_requests_per_connection = v->asUint32();
  if (auto v = node.get("preserve_host")) o.preserve_host = v->asBool();
  if (auto v = node.get("generate_request_id")) o.generate_request_id = v->asBool();
  if (auto v = node.get("use_remote_address")) o.use_remote_address = v->asBool();
  if (auto v = node.get("server_name")) {
    o.server_name = v->asNonEmptyString();
    if (!isValidHeaderValue(o.server_name)) v->fail("may not contain CR, LF or NUL");
  }
  if (auto v = node.get("http2")) o.http2 = readHttp2Options(*v);
  http.route_config = readRouteConfig(node.require("route_config"), listener_name, context);
  return http;
}

TcpProxyConfig readTcp(const YamlNode& node, const std::string& listener_name,
                       ReadContext& context) {
  node.allowOnly({"stat_prefix", "cluster", "original_destination", "idle_timeout"});
  TcpProxyConfig tcp;
  tcp.stat_prefix = listener_name;
  if (auto v = node.get("stat_prefix")) tcp.stat_prefix = readStatPrefix(*v);
  if (*node.oneOf({"cluster", "original_destination"}) == "cluster") {
    const YamlNode cluster = node.require("cluster");
    tcp.cluster = cluster.asNonEmptyString();
    context.cluster_references.push_back({tcp.cluster, cluster});
  } else {
    const YamlNode flag = node.require("original_destination");
    if (!flag.asBool()) flag.fail("original_destination must be true (or name a cluster instead)");
    tcp.original_destination = true;
    context.original_destination_uses.push_back(flag);
  }
  if (auto v = node.get("idle_timeout")) tcp.idle_timeout = v->asDuration();
  return tcp;
}

CaptureOptions readCapture(const YamlNode& node) {
  node.allowOnly({"direction", "detection_timeout", "tcp_ports", "inbound_target"});
  CaptureOptions capture;
  if (auto v = node.get("direction")) {
    const std::string direction = v->asString();
    if (direction == "outbound") {
      capture.direction = CaptureOptions::Direction::kOutbound;
    } else if (direction == "inbound") {
      capture.direction = CaptureOptions::Direction::kInbound;
    } else {
      v->fail("direction must be outbound or inbound");
    }
  }
  if (auto v = node.get("detection_timeout")) capture.detection_timeout = v->asPositiveDuration();
  if (auto v = node.get("tcp_ports")) {
    for (const YamlNode& item : v->items()) {
      capture.tcp_ports.push_back(static_cast<uint16_t>(item.asUnsigned(1, 65535)));
    }
  }
  if (auto v = node.get("inbound_target")) {
    const std::string target = v->asString();
    if (target == "loopback") {
      capture.inbound_target = CaptureOptions::InboundTarget::kLoopback;
    } else if (target == "original") {
      capture.inbound_target = CaptureOptions::InboundTarget::kOriginal;
    } else {
      v->fail("inbound_target must be loopback or original");
    }
  }
  return capture;
}

// tls: listeners' alternative chains, chosen by SNI; names are unique across the listener.
std::vector<FilterChain> readFilterChains(const YamlNode& node, const std::string& listener_name,
                                          ReadContext& context) {
  std::vector<FilterChain> chains;
  std::set<std::string> names;
  for (const YamlNode& item : node.nonEmptyItems()) {
    item.allowOnly({"server_names", "http", "tcp"});
    FilterChain chain;
    for (const YamlNode& name : item.require("server_names").nonEmptyItems()) {
      chain.server_names.push_back(readServerName(name));
      if (!names.insert(chain.server_names.back()).second) {
        name.fail("server name '" + chain.server_names.back() +
                  "' is already used by another filter chain of this listener");
      }
    }
    if (*item.oneOf({"http", "tcp"}) == "http") {
      chain.http = readHttp(item.require("http"), listener_name, context);
    } else {
      chain.tcp = readTcp(item.require("tcp"), listener_name, context);
    }
    chains.push_back(std::move(chain));
  }
  return chains;
}

// What a capture listener does when its file leaves http/tcp out: everything goes where the
// original destination points.
HttpConnectionManagerConfig defaultCaptureHttp(const std::string& listener_name) {
  HttpConnectionManagerConfig http;
  http.stat_prefix = listener_name;
  http.route_config.name = listener_name;
  VirtualHost all;
  all.name = "all";
  all.domains = {"*"};
  Route route;
  route.name = "original_destination";
  RouteAction action;
  action.original_destination = true;
  route.action = action;
  all.routes.push_back(std::move(route));
  http.route_config.virtual_hosts.push_back(std::move(all));
  return http;
}

// Listener names and bound addresses must be unique; port 0 never clashes (each bind gets its own
// ephemeral port).
struct ListenerIndex {
  std::set<std::string> names;
  std::map<std::string, std::string> addresses;  // normalized "ip:port" -> listener name
};

std::string normalizedAddress(const SocketAddress& address) {
  auto parsed = network::Address::fromIp(address.host, address.port);
  return parsed ? parsed->toString() : formatSocketAddress(address);
}

Listener readListener(const YamlNode& node, ListenerIndex& index, ReadContext& context) {
  node.allowOnly({"name", "address", "max_connections", "per_connection_buffer_limit_bytes", "http",
                  "tcp", "capture", "direction", "access_log", "tls", "mtls", "authorization",
                  "filter_chains"});
  Listener listener;
  const YamlNode name = node.require("name");
  listener.name = name.asNonEmptyString();
  if (!index.names.insert(listener.name).second) {
    name.fail("listener name '" + listener.name + "' is used twice");
  }
  const YamlNode address = node.require("address");
  listener.address = readListenAddress(address);
  if (listener.address.port != 0) {
    auto [owner, inserted] =
        index.addresses.emplace(normalizedAddress(listener.address), listener.name);
    if (!inserted) {
      address.fail("address " + owner->first + " is already used by listener '" + owner->second +
                   "'");
    }
  }
  if (auto v = node.get("max_connections")) listener.max_connections = v->asUint32(1);
  if (auto v = node.get("per_connection_buffer_limit_bytes")) {
    listener.per_connection_buffer_limit_bytes = v->asSize(1);
  }
  const size_t original_destination_uses = context.original_destination_uses.size();
  if (auto v = node.get("capture")) {
    // Capture listeners take both chains: detected HTTP gets http, everything else tcp.
    listener.capture = readCapture(*v);
    if (auto h = node.get("http")) listener.http = readHttp(*h, listener.name, context);
    if (auto t = node.get("tcp")) listener.tcp = readTcp(*t, listener.name, context);
    if (!listener.http) listener.http = defaultCaptureHttp(listener.name);
    if (!listener.tcp) {
      listener.tcp = TcpProxyConfig{};
      listener.tcp->stat_prefix = listener.name;
      listener.tcp->original_destination = true;
    }
  } else {
    if (*node.oneOf({"http", "tcp"}) == "http") {
      listener.http = readHttp(node.require("http"), listener.name, context);
    } else {
      listener.tcp = readTcp(node.require("tcp"), listener.name, context);
    }
    if (context.original_destination_uses.size() > original_destination_uses) {
      context.original_destination_uses[original_destination_uses].fail(
          "original_destination needs a capture listener (add capture:)");
    }
  }
  // Telemetry: the direction sets Istio's reporter label; capture listeners imply theirs.
  if (listener.capture && listener.capture->direction == CaptureOptions::Direction::kInbound) {
    listener.direction = TrafficDirection::kInbound;
  }
  if (auto v = node.get("direction")) listener.direction = readDirection(*v);
  if (auto v = node.get("access_log")) listener.access_log = readAccessLog(*v);
  // TLS: termination, or mesh mTLS with the workload certificate; authorization.
  if (auto v = node.get("tls")) {
    // ALPN is negotiated before the chain is chosen: offer http/1.1 when any chain is HTTP.
    bool http = listener.http.has_value();
    if (auto chains = node.get("filter_chains"); chains && chains->raw().IsSequence()) {
      for (const YamlNode& item : chains->items()) http = http || item.get("http").has_value();
    }
    listener.tls = readDownstreamTls(*v, http);
  }
  if (auto v = node.get("mtls")) {
    listener.mtls = readMtlsMode(*v);
    if (listener.tls && listener.mtls != MtlsMode::kDisabled) {
      v->fail("mtls uses the workload certificate: not together with tls");
    }
  }
  if (auto v = node.get("authorization")) listener.authorization = readAuthorization(*v);
  if (auto v = node.get("filter_chains")) {
    if (!listener.tls) v->fail("filter_chains are chosen by TLS server name: they need tls:");
    if (listener.capture) v->fail("filter_chains do not apply to capture listeners");
    listener.filter_chains = readFilterChains(*v, listener.name, context);
    if (context.original_destination_uses.size() > original_destination_uses) {
      context.original_destination_uses[original_destination_uses].fail(
          "original_destination needs a capture listener (add capture:)");
    }
  }
  return listener;
}

CircuitBreakers readCircuitBreakers(const YamlNode& node) {
  node.allowOnly({"max_connections", "max_pending_requests", "max_requests"});
  CircuitBreakers breakers;
  if (auto v = node.get("max_connections")) breakers.max_connections = v->asUint32(1);
  // 0 pending requests is meaningful: fail fast instead of queueing for a connection.
  if (auto v = node.get("max_pending_requests")) breakers.max_pending_requests = v->asUint32(0);
  if (auto v = node.get("max_requests")) breakers.max_requests = v->asUint32(1);
  return breakers;
}

Cluster readCluster(const YamlNode& node, std::set<std::string>& names) {
  node.allowOnly({"name", "type", "lb_policy", "endpoints", "service_addresses", "connect_timeout",
                  "idle_timeout", "dns_refresh_rate", "max_requests_per_connection",
                  "circuit_breakers", "protocol", "http2", "tls", "mutual", "peer_spiffe_ids",
                  "peer_trust_domains"});
  Cluster cluster;
  const YamlNode name = node.require("name");
  cluster.name = name.asNonEmptyString();
  if (!names.insert(cluster.name).second) {
    name.fail("cluster name '" + cluster.name + "' is used twice");
  }
  if (auto v = node.get("type")) {
    const std::string type = v->asString();
    if (type == "static") {
      cluster.type = Cluster::Type::kStatic;
    } else if (type == "strict_dns") {
      cluster.type = Cluster::Type::kStrictDns;
    } else if (type == "original_dst") {
      cluster.type = Cluster::Type::kOriginalDst;
    } else {
      v->fail("type must be static, strict_dns or original_dst");
    }
  }
  if (auto v = node.get("lb_policy")) {
    const std::string policy = v->asString();
    if (policy == "round_robin") {
      cluster.lb_policy = Cluster::LbPolicy::kRoundRobin;
    } else if (policy == "random") {
      cluster.lb_policy = Cluster::LbPolicy::kRandom;
    } else if (policy == "least_request") {
      cluster.lb_policy = Cluster::LbPolicy::kLeastRequest;
    } else {
      v->fail("lb_policy must be round_robin, random or least_request");
    }
  }
  const HostKind kind =
      cluster.type == Cluster::Type::kStatic ? HostKind::kIpOnly : HostKind::kIpOrDnsName;
  if (auto v = node.get("service_addresses")) {
    for (const YamlNode& item : v->nonEmptyItems()) {
      auto address = parseSocketAddress(item.asNonEmptyString(), HostKind::kIpOnly, false);
      if (!address) item.fail(address.error());
      cluster.service_addresses.push_back(std::move(*address));
    }
  }
  if (cluster.type == Cluster::Type::kOriginalDst) {
    // Each connection names its own host: there is nothing to list.
    if (auto v = node.get("endpoints")) v->fail("original_dst clusters take no endpoints");
  }
  for (const YamlNode& item : cluster.type == Cluster::Type::kOriginalDst
                                  ? std::vector<YamlNode>{}
                                  : node.require("endpoints").nonEmptyItems()) {
    auto endpoint = parseSocketAddress(item.asNonEmptyString(), kind, /*allow_port_zero=*/false);
    if (!endpoint) {
      if (kind == HostKind::kIpOnly &&
          parseSocketAddress(item.asString(), HostKind::kIpOrDnsName, false)) {
        item.fail("'" + item.asString() +
                  "' is not an IP address: static clusters need IP endpoints (use type: "
                  "strict_dns for host names)");
      }
      item.fail(endpoint.error());
    }
    cluster.endpoints.push_back(std::move(*endpoint));
  }
  if (auto v = node.get("connect_timeout")) cluster.connect_timeout = v->asPositiveDuration();
  if (auto v = node.get("idle_timeout")) cluster.idle_timeout = v->asDuration();
  if (auto v = node.get("dns_refresh_rate")) cluster.dns_refresh_rate = v->asPositiveDuration();
  if (auto v = node.get("max_requests_per_connection")) {
    cluster.max_requests_per_connection = v->asUint32();
  }
  if (auto v = node.get("circuit_breakers")) cluster.circuit_breakers = readCircuitBreakers(*v);
  if (auto v = node.get("protocol")) {
    const std::string protocol = v->asString();
    if (protocol == "http1") {
      cluster.protocol = Cluster::Protocol::kHttp1;
    } else if (protocol == "http2") {
      cluster.protocol = Cluster::Protocol::kHttp2;
    } else if (protocol == "auto") {
      cluster.protocol = Cluster::Protocol::kAuto;
    } else {
      v->fail("protocol must be http1, http2 or auto");
    }
  }
  if (auto v = node.get("http2")) cluster.http2 = readHttp2Options(*v);
  // TLS to the hosts, or mesh mTLS with the workload certificate.
  if (auto v = node.get("tls")) cluster.tls = readUpstreamTls(*v, cluster.protocol);
  if (auto v = node.get("mutual")) {
    cluster.mutual = v->asBool();
    if (cluster.mutual && cluster.tls) {
      v->fail("mutual uses the workload certificate: not together with tls");
    }
  }
  for (const char* field : {"peer_spiffe_ids", "peer_trust_domains"}) {
    if (auto v = node.get(field); v && !cluster.mutual) v->fail("needs mutual: true");
  }
  if (auto v = node.get("peer_spiffe_ids")) cluster.peer_spiffe_ids = readSpiffeIds(*v);
  if (auto v = node.get("peer_trust_domains")) cluster.peer_trust_domains = readTrustDomains(*v);
  return cluster;
}

Admin readAdmin(const YamlNode& node) {
  node.allowOnly({"address", "enabled", "stats_address", "health_address"});
  Admin admin;
  if (auto v = node.get("address")) admin.address = readListenAddress(*v);
  if (auto v = node.get("enabled")) admin.enabled = v->asBool();
  if (auto v = node.get("stats_address")) admin.stats_address = readTelemetryAddress(*v);
  if (auto v = node.get("health_address")) admin.health_address = readTelemetryAddress(*v);
  return admin;
}

}  // namespace

Bootstrap readBootstrap(const YamlNode& root) {
  if (!root.raw().IsMap()) {
    root.fail("the configuration must be a mapping with fields like listeners: and clusters:");
  }
  root.allowOnly({"concurrency", "drain_timeout", "log_level", "admin", "listeners", "clusters",
                  "telemetry", "workload_identity"});
  Bootstrap bootstrap;
  if (auto v = root.get("concurrency")) {
    bootstrap.concurrency = static_cast<uint32_t>(v->asUnsigned(0, kMaxConcurrency));
  }
  if (auto v = root.get("drain_timeout")) bootstrap.drain_timeout = v->asDuration();
  if (auto v = root.get("log_level")) {
    bootstrap.log_level = v->asString();
    if (!isValidLogLevel(bootstrap.log_level)) {
      v->fail("log_level must be one of trace, debug, info, warn, error, off");
    }
  }
  if (auto v = root.get("admin")) bootstrap.admin = readAdmin(*v);
  bootstrap.telemetry = readTelemetry(root.get("telemetry"), [](const char* name) {
    return static_cast<const char*>(std::getenv(name));
  });
  bootstrap.workload_identity = readWorkloadIdentity(
      root.get("workload_identity"),
      [](const char* name) { return static_cast<const char*>(std::getenv(name)); });

  ReadContext context;
  ListenerIndex listeners;
  if (auto v = root.get("listeners")) {
    for (const YamlNode& item : v->items()) {
      bootstrap.listeners.push_back(readListener(item, listeners, context));
    }
  }
  if (bootstrap.admin.enabled && bootstrap.admin.address.port != 0) {
    auto owner = listeners.addresses.find(normalizedAddress(bootstrap.admin.address));
    if (owner != listeners.addresses.end()) {
      root.require("admin").require("address").fail(
          "address " + owner->first + " is already used by listener '" + owner->second + "'");
    }
  }

  std::set<std::string> cluster_names;
  std::map<std::string, std::string> service_owners;  // "ip:port" -> cluster
  if (auto v = root.get("clusters")) {
    for (const YamlNode& item : v->items()) {
      bootstrap.clusters.push_back(readCluster(item, cluster_names));
      const Cluster& cluster = bootstrap.clusters.back();
      for (size_t i = 0; i < cluster.service_addresses.size(); ++i) {
        auto [owner, inserted] =
            service_owners.emplace(normalizedAddress(cluster.service_addresses[i]), cluster.name);
        if (!inserted) {
          item.require("service_addresses")
              .items()[i]
              .fail("service address " + owner->first + " already belongs to cluster '" +
                    owner->second + "'");
        }
      }
    }
  }
  // Capture listeners pass unknown destinations through: give them the passthrough cluster
  // unless the file defines its own.
  const bool has_capture = std::any_of(bootstrap.listeners.begin(), bootstrap.listeners.end(),
                                       [](const Listener& l) { return l.capture.has_value(); });
  if (has_capture && !cluster_names.contains(std::string(kPassthroughCluster))) {
    Cluster passthrough;
    passthrough.name = kPassthroughCluster;
    passthrough.type = Cluster::Type::kOriginalDst;
    cluster_names.insert(passthrough.name);
    bootstrap.clusters.push_back(std::move(passthrough));
  }
  for (const ClusterReference& reference : context.cluster_references) {
    if (!cluster_names.contains(reference.cluster)) {
      reference.node.fail("cluster '" + reference.cluster + "' is not defined");
    }
  }
  return bootstrap;
}

}  // namespace podproxy::config
