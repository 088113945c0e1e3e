#include "config/json_dump.h"

#include <cstdio>
#include <type_traits>

#include "proxy/common/logger.h"

namespace podproxy::config {

namespace {

// A minimal streaming JSON writer: enough for a tree of objects, arrays, strings and numbers.
class JsonWriter {
 public:
  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }
  void key(std::string_view k) {
    separator();
    string(k);
    out_ += ':';
    after_key_ = true;
  }
  void value(std::string_view v) {
    separator();
    string(v);
  }
  void value(const char* v) { value(std::string_view(v)); }
  void value(bool v) {
    separator();
    out_ += v ? "true" : "false";
  }
  template <typename N>
  requires std::is_integral_v<N>
  void value(N v) {
    separator();
    out_ += std::to_string(v);
  }
  void value(double v) {
    separator();
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    out_ += buf;
  }
  void value(Duration d) {
    separator();
    out_ += '"' + std::to_string(d.count()) + "ms\"";
  }
  template <typename T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  std::string take() { return std::move(out_); }

 private:
  void open(char c) {
    separator();
    out_ += c;
    first_ = true;
  }
  void close(char c) {
    out_ += c;
    first_ = false;
  }
  void separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_ && !out_.empty()) out_ += ',';
    first_ = false;
  }
  void string(std::string_view s) {
    out_ += '"';
    Logger::appendJsonEscaped(out_, s);
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

std::string addressString(const SocketAddress& a) {
  if (a.host.find(':') != std::string::npos) return "[" + a.host + "]:" + std::to_string(a.port);
  return a.host + ":" + std::to_string(a.port);
}

void writeHeaderOptions(JsonWriter& w, std::string_view k,
                        const std::vector<HeaderValueOption>& v) {
  w.key(k);
  w.beginArray();
  for (const auto& h : v) {
    w.beginObject();
    w.field("name", h.name);
    w.field("value", h.value);
    w.field("append", h.append);
    w.endObject();
  }
  w.endArray();
}

void writeStrings(JsonWriter& w, std::string_view k, const std::vector<std::string>& v) {
  w.key(k);
  w.beginArray();
  for (const auto& s : v) w.value(s);
  w.endArray();
}

void writeHttp2Options(JsonWriter& w, const Http2Options& o) {
  w.key("http2");
  w.beginObject();
  w.field("max_concurrent_streams", o.max_concurrent_streams);
  w.field("initial_stream_window_size", o.initial_stream_window_size);
  w.field("initial_connection_window_size", o.initial_connection_window_size);
  if (o.connection_keepalive.enabled()) {
    w.key("connection_keepalive");
    w.beginObject();
    w.field("interval", o.connection_keepalive.interval);
    w.field("timeout", o.connection_keepalive.timeout);
    w.endObject();
  }
  w.endObject();
}

void writeMutations(JsonWriter& w, const HeaderMutations& m) {
  writeHeaderOptions(w, "request_headers_to_add", m.request_headers_to_add);
  writeStrings(w, "request_headers_to_remove", m.request_headers_to_remove);
  writeHeaderOptions(w, "response_headers_to_add", m.response_headers_to_add);
  writeStrings(w, "response_headers_to_remove", m.response_headers_to_remove);
}

void writeMatch(JsonWriter& w, const RouteMatch& m) {
  w.key("match");
  w.beginObject();
  if (m.connect_matcher) {
    w.key("connect_matcher");
    w.beginObject();
    w.endObject();
  } else {
    switch (m.path_kind) {
      case RouteMatch::PathKind::kPrefix:
        w.field("prefix", m.path);
        break;
      case RouteMatch::PathKind::kExact:
        w.field("path", m.path);
        break;
      case RouteMatch::PathKind::kRegex:
        w.field("regex", m.path);
        break;
    }
  }
  w.field("case_sensitive", m.case_sensitive);
  writeStrings(w, "methods", m.methods);
  w.key("headers");
  w.beginArray();
  for (const auto& h : m.headers) {
    w.beginObject();
    w.field("name", h.name);
    switch (h.kind) {
      case HeaderMatcher::Kind::kExact:
        w.field("exact", h.value);
        break;
      case HeaderMatcher::Kind::kPrefix:
        w.field("prefix", h.value);
        break;
      case HeaderMatcher::Kind::kRegex:
        w.field("regex", h.value);
        break;
      case HeaderMatcher::Kind::kPresent:
        w.field("present", true);
        break;
    }
    w.field("invert", h.invert);
    w.endObject();
  }
  w.endArray();
  w.endObject();
}

void writeRoute(JsonWriter& w, const Route& r) {
  w.beginObject();
  w.field("name", r.name);
  writeMatch(w, r.match);
  if (const auto* a = std::get_if<RouteAction>(&r.action)) {
    w.key("route");
    w.beginObject();
    if (!a->cluster.empty()) w.field("cluster", a->cluster);
    if (a->original_destination) w.field("original_destination", true);
    if (!a->weighted_clusters.empty()) {
      w.key("weighted_clusters");
      w.beginArray();
      for (const auto& wc : a->weighted_clusters) {
        w.beginObject();
        w.field("name", wc.name);
        w.field("weight", wc.weight);
        w.endObject();
      }
      w.endArray();
    }
    if (a->prefix_rewrite) w.field("prefix_rewrite", *a->prefix_rewrite);
    if (a->host_rewrite) w.field("host_rewrite", *a->host_rewrite);
    w.field("timeout", a->timeout);
    w.field("idle_timeout", a->idle_timeout);
    writeStrings(w, "upgrade_types", a->upgrade_types);
    w.endObject();
  } else if (const auto* rd = std::get_if<RedirectAction>(&r.action)) {
    w.key("redirect");
    w.beginObject();
    if (rd->scheme) w.field("scheme", *rd->scheme);
    if (rd->host) w.field("host", *rd->host);
    if (rd->port) w.field("port", *rd->port);
    if (rd->path) w.field("path", *rd->path);
    if (rd->prefix_rewrite) w.field("prefix_rewrite", *rd->prefix_rewrite);
    w.field("strip_query", rd->strip_query);
    w.field("response_code", rd->response_code);
    w.endObject();
  } else if (const auto* d = std::get_if<DirectResponseAction>(&r.action)) {
    w.key("direct_response");
    w.beginObject();
    w.field("status", d->status);
    w.field("body", d->body);
    w.field("content_type", d->content_type);
    w.endObject();
  }
  writeMutations(w, r.headers);
  w.endObject();
}

void writeTcp(JsonWriter& w, const TcpProxyConfig& tcp) {
  w.key("tcp");
  w.beginObject();
  w.field("stat_prefix", tcp.stat_prefix);
  if (tcp.original_destination) {
    w.field("original_destination", true);
  } else {
    w.field("cluster", tcp.cluster);
  }
  w.field("idle_timeout", tcp.idle_timeout);
  w.endObject();
}

void writeHttp(JsonWriter& w, const HttpConnectionManagerConfig& h) {
  w.key("http");
  w.beginObject();
  w.field("stat_prefix", h.stat_prefix);
  const HttpOptions& o = h.options;
  w.field("max_request_headers_bytes", o.max_request_headers_bytes);
  w.field("max_request_headers_count", o.max_request_headers_count);
  w.field("request_headers_timeout", o.request_headers_timeout);
  w.field("idle_timeout", o.idle_timeout);
  w.field("request_timeout", o.request_timeout);
  w.field("max_request_body_buffer_bytes", o.max_request_body_buffer_bytes);
  w.field("max_requests_per_connection", o.max_requests_per_connection);
  w.field("preserve_host", o.preserve_host);
  w.field("generate_request_id", o.generate_request_id);
  w.field("use_remote_address", o.use_remote_address);
  w.field("server_name", o.server_name);
  writeHttp2Options(w, o.http2);
  w.key("route_config");
  w.beginObject();
  w.field("name", h.route_config.name);
  w.key("virtual_hosts");
  w.beginArray();
  for (const auto& vh : h.route_config.virtual_hosts) {
    w.beginObject();
    w.field("name", vh.name);
    writeStrings(w, "domains", vh.domains);
    w.key("routes");
    w.beginArray();
    for (const auto& r : vh.routes) writeRoute(w, r);
    w.endArray();
    writeMutations(w, vh.headers);
    w.endObject();
  }
  w.endArray();
  w.endObject();
  w.endObject();
}

std::string_view lbName(Cluster::LbPolicy p) {
  switch (p) {
    case Cluster::LbPolicy::kRoundRobin:
      return "round_robin";
    case Cluster::LbPolicy::kRandom:
      return "random";
    case Cluster::LbPolicy::kLeastRequest:
      return "least_request";
  }
  return "round_robin";
}

void writeTelemetry(JsonWriter& w, const Telemetry& t) {
  w.key("telemetry");
  w.beginObject();
  w.key("workload");
  w.beginObject();
  w.field("name", t.workload.name);
  w.field("namespace", t.workload.namespace_name);
  w.field("service_account", t.workload.service_account);
  w.field("app", t.workload.app);
  w.field("version", t.workload.version);
  w.field("cluster_id", t.workload.cluster_id);
  w.field("service", t.workload.service);
  w.endObject();
  w.key("tracing");
  w.beginObject();
  w.field("sampling", t.tracing.sampling);
  w.endObject();
  w.endObject();
}

void writeListenerTelemetry(JsonWriter& w, const Listener& l) {
  w.field("direction", l.direction == TrafficDirection::kInbound ? "inbound" : "outbound");
  w.key("access_log");
  w.beginObject();
  w.field("enabled", l.access_log.enabled);
  w.key("fields");
  w.beginArray();
  for (const auto& f : l.access_log.fields) w.value(f);
  w.endArray();
  w.endObject();
}

// --- TLS ---

void writeTlsParameters(JsonWriter& w, const TlsParameters& p) {
  w.field("min_version", p.min_version == TlsVersion::kTls12 ? "1.2" : "1.3");
  w.field("max_version", p.max_version == TlsVersion::kTls12 ? "1.2" : "1.3");
  w.field("cipher_suites", p.cipher_suites);
  w.field("tls13_cipher_suites", p.tls13_cipher_suites);
  w.field("session_tickets", p.session_tickets);
}

void writeListenerTls(JsonWriter& w, const Listener& l) {
  if (l.tls) {
    w.key("tls");
    w.beginObject();
    w.key("certificates");
    w.beginArray();
    for (const auto& c : l.tls->certificates) {
      w.beginObject();
      w.field("cert_file", c.cert_file);
      w.field("key_file", c.key_file);
      writeStrings(w, "server_names", c.server_names);
      w.endObject();
    }
    w.endArray();
    w.field("ca_file", l.tls->ca_file);
    w.field("require_client_certificate", l.tls->require_client_certificate);
    writeStrings(w, "alpn", l.tls->alpn);
    writeTlsParameters(w, l.tls->parameters);
    w.endObject();
  }
  w.field("mtls", l.mtls == MtlsMode::kStrict       ? "strict"
                  : l.mtls == MtlsMode::kPermissive ? "permissive"
                                                    : "disabled");
  if (!l.authorization) return;
  static constexpr const char* kKinds[] = {"exact", "prefix", "trust_domain", "namespace"};
  w.key("authorization");
  w.beginObject();
  w.field("action", l.authorization->action == Authorization::Action::kAllow ? "allow" : "deny");
  w.key("rules");
  w.beginArray();
  for (const AuthzRule& r : l.authorization->rules) {
    w.beginObject();
    w.field("name", r.name);
    w.key("principals");
    w.beginArray();
    for (const auto& p : r.principals) {
      w.beginObject();
      w.field(kKinds[static_cast<int>(p.kind)], p.value);
      w.endObject();
    }
    w.endArray();
    writeStrings(w, "source_ips", r.source_ips);
    writeStrings(w, "paths", r.paths);
    writeStrings(w, "methods", r.methods);
    w.key("headers");
    w.beginArray();
    for (const auto& h : r.headers) w.value(h.name);
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
}

void writeClusterTls(JsonWriter& w, const Cluster& c) {
  if (c.tls) {
    w.key("tls");
    w.beginObject();
    w.field("sni", c.tls->sni);
    w.field("ca_file", c.tls->ca_file);
    writeStrings(w, "verify_subject_alt_names", c.tls->verify_subject_alt_names);
    writeStrings(w, "alpn", c.tls->alpn);
    writeTlsParameters(w, c.tls->parameters);
    w.endObject();
  }
  w.field("mutual", c.mutual);
  if (!c.mutual) return;
  writeStrings(w, "peer_spiffe_ids", c.peer_spiffe_ids);
  writeStrings(w, "peer_trust_domains", c.peer_trust_domains);
}

// --- end TLS ---

}  // namespace

std::string toJson(const Bootstrap& b) {
  JsonWriter w;
  w.beginObject();
  w.field("source", b.source);
  w.field("concurrency", b.concurrency);
  w.field("drain_timeout", b.drain_timeout);
  w.field("log_level", b.log_level);
  w.key("admin");
  w.beginObject();
  w.field("address", addressString(b.admin.address));
  w.field("enabled", b.admin.enabled);
  if (b.admin.stats_address) w.field("stats_address", addressString(*b.admin.stats_address));
  if (b.admin.health_address) w.field("health_address", addressString(*b.admin.health_address));
  w.endObject();
  writeTelemetry(w, b.telemetry);
  w.key("workload_identity");
  w.beginObject();
  w.field("cert_file", b.workload_identity.cert_file);
  w.field("key_file", b.workload_identity.key_file);
  w.field("ca_file", b.workload_identity.ca_file);
  w.endObject();
  w.key("listeners");
  w.beginArray();
  for (const auto& l : b.listeners) {
    w.beginObject();
    w.field("name", l.name);
    w.field("address", addressString(l.address));
    w.field("max_connections", l.max_connections);
    w.field("per_connection_buffer_limit_bytes", l.per_connection_buffer_limit_bytes);
    writeListenerTelemetry(w, l);
    writeListenerTls(w, l);
    if (l.capture) {
      const CaptureOptions& c = *l.capture;
      w.key("capture");
      w.beginObject();
      w.field("direction",
              c.direction == CaptureOptions::Direction::kInbound ? "inbound" : "outbound");
      w.field("detection_timeout", c.detection_timeout);
      w.key("tcp_ports");
      w.beginArray();
      for (uint16_t port : c.tcp_ports) w.value(port);
      w.endArray();
      w.field("inbound_target", c.inbound_target == CaptureOptions::InboundTarget::kOriginal
                                    ? "original"
                                    : "loopback");
      w.endObject();
    }
    if (l.http) writeHttp(w, *l.http);
    if (l.tcp) writeTcp(w, *l.tcp);
    if (!l.filter_chains.empty()) {
      w.key("filter_chains");
      w.beginArray();
      for (const FilterChain& chain : l.filter_chains) {
        w.beginObject();
        writeStrings(w, "server_names", chain.server_names);
        if (chain.http) writeHttp(w, *chain.http);
        if (chain.tcp) writeTcp(w, *chain.tcp);
        w.endObject();
      }
      w.endArray();
    }
    w.endObject();
  }
  w.endArray();
  w.key("clusters");
  w.beginArray();
  for (const auto& c : b.clusters) {
    w.beginObject();
    w.field("name", c.name);
    w.field("type", c.type == Cluster::Type::kStatic      ? "static"
                    : c.type == Cluster::Type::kStrictDns ? "strict_dns"
                                                          : "original_dst");
    w.field("lb_policy", lbName(c.lb_policy));
    w.key("endpoints");
    w.beginArray();
    for (const auto& e : c.endpoints) w.value(addressString(e));
    w.endArray();
    w.key("service_addresses");
    w.beginArray();
    for (const auto& e : c.service_addresses) w.value(addressString(e));
    w.endArray();
    w.field("connect_timeout", c.connect_timeout);
    w.field("idle_timeout", c.idle_timeout);
    w.field("dns_refresh_rate", c.dns_refresh_rate);
    w.field("max_requests_per_connection", c.max_requests_per_connection);
    w.key("circuit_breakers");
    w.beginObject();
    w.field("max_connections", c.circuit_breakers.max_connections);
    w.field("max_pending_requests", c.circuit_breakers.max_pending_requests);
    w.field("max_requests", c.circuit_breakers.max_requests);
    w.endObject();
    w.field("protocol", c.protocol == Cluster::Protocol::kHttp2  ? "http2"
                        : c.protocol == Cluster::Protocol::kAuto ? "auto"
                                                                 : "http1");
    writeHttp2Options(w, c.http2);
    writeClusterTls(w, c);
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return w.take();
}

}  // namespace podproxy::config
