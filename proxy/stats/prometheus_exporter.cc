#include "proxy/stats/prometheus_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <sstream>

#include "proxy/stats/internal_metrics.h"

namespace podproxy::stats {

namespace {

constexpr std::string_view kUnknown = "unknown";

struct ServiceNames {
  std::string host = std::string(kUnknown);
  std::string name = std::string(kUnknown);
  std::string ns = std::string(kUnknown);
};

bool looksLikeIp(std::string_view host) {
  return host.find(':') != std::string_view::npos ||
         host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// "reviews.default.svc.cluster.local" -> (reviews, default); anything else keeps its name and an
// unknown namespace.
ServiceNames serviceFromHost(std::string host) {
  ServiceNames s;
  s.host = host;
  const size_t first = host.find('.');
  if (first == std::string::npos) {
    s.name = host;
    return s;
  }
  s.name = host.substr(0, first);
  const size_t second = host.find('.', first + 1);
  const std::string ns =
      host.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
  if (second != std::string::npos && host.compare(second + 1, 3, "svc") == 0) s.ns = ns;
  return s;
}

// A cluster stands for the service its DNS name names (strict_dns), else for its own name.
ServiceNames serviceOfCluster(const config::Bootstrap& config, uint16_t cluster) {
  if (cluster >= config.clusters.size()) return ServiceNames{};
  const config::Cluster& c = config.clusters[cluster];
  if (c.type == config::Cluster::Type::kStrictDns && !c.endpoints.empty() &&
      !looksLikeIp(c.endpoints[0].host)) {
    return serviceFromHost(c.endpoints[0].host);
  }
  return serviceFromHost(c.name);
}

std::string orUnknown(const std::string& s) {
  return s.empty() ? std::string(kUnknown) : s;
}

std::string canonicalService(const config::WorkloadIdentity& w) {
  return w.app != kUnknown ? w.app : w.name;
}
std::string canonicalRevision(const config::WorkloadIdentity& w) {
  return w.version != kUnknown ? w.version : "latest";
}

}  // namespace

IstioLabeler::IstioLabeler(const config::Bootstrap& config) : config_(config) {}

prometheus::Labels IstioLabeler::common(size_t listener, uint16_t cluster,
                                        std::string_view protocol, uint32_t identity,
                                        const PrincipalTable& principals) const {
  const config::WorkloadIdentity& w = config_.telemetry.workload;
  const bool inbound = listener < config_.listeners.size() &&
                       config_.listeners[listener].direction == config::TrafficDirection::kInbound;
  prometheus::Labels l;
  // Peers' workload labels need metadata exchange (not built): Istio reports "unknown". Their
  // principals are the SPIFFE IDs mTLS verified (set below from the series' identity).
  auto setPeer = [&](const std::string& prefix) {
    for (const char* f : {"workload", "workload_namespace", "principal", "app", "version",
                          "canonical_service", "canonical_revision", "cluster"}) {
      l[prefix + f] = std::string(kUnknown);
    }
  };
  auto setLocal = [&](const std::string& prefix) {
    l[prefix + "workload"] = orUnknown(w.name);
    l[prefix + "workload_namespace"] = orUnknown(w.namespace_name);
    l[prefix + "principal"] = std::string(kUnknown);  // from the identity below when mTLS
    l[prefix + "app"] = orUnknown(w.app);
    l[prefix + "version"] = orUnknown(w.version);
    l[prefix + "canonical_service"] = orUnknown(canonicalService(w));
    l[prefix + "canonical_revision"] = canonicalRevision(w);
    l[prefix + "cluster"] = orUnknown(w.cluster_id);
  };
  ServiceNames service = serviceOfCluster(config_, cluster);
  if (inbound) {
    l["reporter"] = "destination";
    setPeer("source_");
    setLocal("destination_");
    if (w.service != kUnknown) service = serviceFromHost(w.service);
    if (service.ns == kUnknown) service.ns = orUnknown(w.namespace_name);
  } else {
    l["reporter"] = "source";
    setLocal("source_");
    setPeer("destination_");
  }
  const IdentityKey id = IdentityKey::unpack(identity);
  l["source_principal"] = orUnknown(principals.name(id.source_principal));
  l["destination_principal"] = orUnknown(principals.name(id.destination_principal));
  // As Istio: the destination reporter says "none" for plaintext, the source reporter "unknown".
  l["connection_security_policy"] = id.mutual_tls ? "mutual_tls"
                                    : inbound     ? "none"
                                                  : std::string(kUnknown);
  l["destination_service"] = service.host;
  l["destination_service_name"] = service.name;
  l["destination_service_namespace"] = service.ns;
  l["request_protocol"] = std::string(protocol);
  return l;
}

prometheus::Labels IstioLabeler::http(size_t listener, const HttpSeriesKey& key,
                                      const PrincipalTable& principals) const {
  prometheus::Labels l =
      common(listener, key.cluster, key.protocol == RequestProtocol::kGrpc ? "grpc" : "http",
             key.identity, principals);
  l["response_code"] = std::to_string(key.response_code);
  l["grpc_response_status"] = grpcStatusLabel(key.grpc_status);
  l["response_flags"] = responseFlagsLabel(key.response_flags);
  return l;
}

prometheus::Labels IstioLabeler::tcp(size_t listener, const TcpSeriesKey& key,
                                     const PrincipalTable& principals) const {
  prometheus::Labels l = common(listener, key.cluster, "tcp", key.identity, principals);
  l["response_flags"] = responseFlagsLabel(key.response_flags);
  return l;
}

namespace {

template <typename Stats, size_t N>
void addFields(Stats& into, const Stats& from, const FieldMetric<Stats> (&table)[N]) {
  for (const auto& m : table) into.*m.field += from.*m.field;
}

void addPool(upstream::PoolStats& into, const upstream::PoolStats& from) {
  addFields(into, from, kPoolMetrics);
}

}  // namespace

FoldedStats fold(const std::vector<WorkerStatsSnapshot>& workers, size_t listeners,
                 size_t clusters) {
  FoldedStats out;
  out.listeners.resize(listeners);
  out.clusters.resize(clusters);
  for (const WorkerStatsSnapshot& w : workers) {
    for (size_t i = 0; i < listeners && i < w.listeners.size(); ++i) {
      ListenerStats& into = out.listeners[i];
      const ListenerStats& from = w.listeners[i];
      into.istio.merge(from.istio);
      addFields(into.http, from.http, kConnectionManagerMetrics);
      addFields(into.http.http2, from.http.http2, kDownstreamHttp2Metrics);
      into.http.downstream_cx_active += from.http.downstream_cx_active;
      addFields(into.router, from.router, kRouterMetrics);
      addFields(into.tcp, from.tcp, kTcpProxyMetrics);
      addFields(into.detection, from.detection, kDetectionMetrics);
    }
    for (size_t i = 0; i < clusters && i < w.clusters.size(); ++i) {
      ClusterStatsSnapshot& into = out.clusters[i];
      const ClusterStatsSnapshot& from = w.clusters[i];
      addPool(into.pool, from.pool);
      addFields(into.http2, from.http2, kUpstreamHttp2Metrics);
      into.hosts = std::max(into.hosts, from.hosts);
      for (const HostStatsSnapshot& h : from.host_stats) {
        auto it = std::find_if(into.host_stats.begin(), into.host_stats.end(),
                               [&](const HostStatsSnapshot& x) { return x.address == h.address; });
        if (it == into.host_stats.end()) {
          into.host_stats.push_back(h);
        } else {
          it->rq_active += h.rq_active;
          it->pending_active += h.pending_active;
          it->cx_active += h.cx_active;
          it->rq_total += h.rq_total;
        }
      }
    }
  }
  return out;
}

namespace {

// Families of one scrape, created on first use.
class Families {
 public:
  explicit Families(prometheus::Registry& registry) : registry_(registry) {}

  prometheus::Counter& counter(std::string_view name, std::string_view help,
                               const prometheus::Labels& labels) {
    auto& family = counters_[std::string(name)];
    if (family == nullptr) {
      family = &prometheus::BuildCounter()
                    .Name(std::string(name))
                    .Help(std::string(help))
                    .Register(registry_);
    }
    return family->Add(labels);
  }
  prometheus::Gauge& gauge(std::string_view name, std::string_view help,
                           const prometheus::Labels& labels) {
    auto& family = gauges_[std::string(name)];
    if (family == nullptr) {
      family = &prometheus::BuildGauge()
                    .Name(std::string(name))
                    .Help(std::string(help))
                    .Register(registry_);
    }
    return family->Add(labels);
  }
  void histogram(std::string_view name, std::string_view help, const prometheus::Labels& labels,
                 const Histogram& h) {
    auto& family = histograms_[std::string(name)];
    if (family == nullptr) {
      family = &prometheus::BuildHistogram()
                    .Name(std::string(name))
                    .Help(std::string(help))
                    .Register(registry_);
    }
    const auto bounds = h.bounds();
    std::vector<double> increments(bounds.size() + 1);
    for (size_t i = 0; i <= bounds.size(); ++i) increments[i] = static_cast<double>(h.bucket(i));
    family->Add(labels, prometheus::Histogram::BucketBoundaries(bounds.begin(), bounds.end()))
        .ObserveMultiple(increments, h.sum());
  }

  void add(InternalFamily f, const prometheus::Labels& labels, double value) {
    const InternalFamilyDef& def = familyDef(f);
    if (def.type == MetricType::kCounter) {
      counter(def.name, def.help, labels).Increment(value);
    } else {
      gauge(def.name, def.help, labels).Set(value);
    }
  }

 private:
  prometheus::Registry& registry_;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters_;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> gauges_;
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms_;
};

template <typename Stats, size_t N>
void exportFields(Families& families, const Stats& stats, const FieldMetric<Stats> (&table)[N],
                  const char* scope_label, const std::string& scope) {
  for (const auto& m : table) {
    prometheus::Labels labels{{scope_label, scope}};
    if (!m.label.empty()) labels[std::string(m.label)] = std::string(m.value);
    families.add(m.family, labels, static_cast<double>(stats.*m.field));
  }
}

template <typename Stats, size_t N>
void plainFields(std::ostringstream& out, const Stats& stats, const FieldMetric<Stats> (&table)[N],
                 const std::string& prefix) {
  for (const auto& m : table) {
    if (!m.stat.empty()) out << prefix << m.stat << ": " << stats.*m.field << '\n';
  }
}

constexpr const char* kIstioRequestsHelp = "Total number of requests handled by the proxy.";

}  // namespace

std::string renderPrometheus(const config::Bootstrap& config,
                             const std::vector<WorkerStatsSnapshot>& workers,
                             const ServerStats& server) {
  const FoldedStats folded = fold(workers, config.listeners.size(), config.clusters.size());
  prometheus::Registry registry;
  Families families(registry);
  const IstioLabeler labeler(config);

  // Istio's standard metrics first: what dashboards and alerts read.
  for (size_t i = 0; i < folded.listeners.size(); ++i) {
    const IstioShard& shard = folded.listeners[i].istio;
    for (const auto& [id, series] : shard.http) {
      HttpSeriesKey key = HttpSeriesKey::unpack(id.key);
      key.identity = id.identity;
      const prometheus::Labels labels = labeler.http(i, key, shard.principals);
      families.counter("istio_requests_total", kIstioRequestsHelp, labels)
          .Increment(static_cast<double>(series.requests));
      families.histogram("istio_request_duration_milliseconds",
                         "Duration of requests, from the first request byte to the end of the "
                         "response, in milliseconds.",
                         labels, series.duration_ms);
      families.histogram("istio_request_bytes", "Sizes of HTTP request bodies, in bytes.", labels,
                         series.request_bytes);
      families.histogram("istio_response_bytes", "Sizes of HTTP response bodies, in bytes.", labels,
                         series.response_bytes);
    }
    for (const auto& [id, series] : shard.tcp) {
      TcpSeriesKey key = TcpSeriesKey::unpack(id.key);
      key.identity = id.identity;
      const prometheus::Labels labels = labeler.tcp(i, key, shard.principals);
      families.counter("istio_tcp_connections_opened_total", "TCP connections opened.", labels)
          .Increment(static_cast<double>(series.opened));
      families.counter("istio_tcp_connections_closed_total", "TCP connections closed.", labels)
          .Increment(static_cast<double>(series.closed));
      families
          .counter("istio_tcp_sent_bytes_total",
                   "Bytes sent to the downstream during TCP connections.", labels)
          .Increment(static_cast<double>(series.bytes.sent));
      families
          .counter("istio_tcp_received_bytes_total",
                   "Bytes received from the downstream during TCP connections.", labels)
          .Increment(static_cast<double>(series.bytes.received));
    }
    // Principals beyond the per-worker cap were reported as "unknown": say how many.
    if (shard.principals.overflow() > 0 && i < config.listeners.size()) {
      families
          .counter("podproxy_istio_principal_overflow_total",
                   "Series whose SPIFFE ID was reported as unknown because a worker already "
                   "tracked the maximum number of distinct principals for the listener.",
                   {{"listener", config.listeners[i].name}})
          .Increment(static_cast<double>(shard.principals.overflow()));
    }
  }

  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const config::Listener& l = config.listeners[i];
    const ListenerStats& s = folded.listeners[i];
    if (l.http) {
      exportFields(families, s.http, kConnectionManagerMetrics, "listener", l.name);
      exportFields(families, s.http.http2, kDownstreamHttp2Metrics, "listener", l.name);
      exportFields(families, s.router, kRouterMetrics, "listener", l.name);
    }
    if (l.tcp) exportFields(families, s.tcp, kTcpProxyMetrics, "listener", l.name);
    if (l.capture) exportFields(families, s.detection, kDetectionMetrics, "listener", l.name);
  }
  for (const ServerStats::Listener& l : server.listeners) {
    families.add(InternalFamily::kDownstreamCxActive, {{"listener", l.name}},
                 static_cast<double>(l.cx_active));
    families.add(InternalFamily::kDownstreamCxOverflow, {{"listener", l.name}},
                 static_cast<double>(l.cx_overflow));
  }
  for (size_t i = 0; i < config.clusters.size(); ++i) {
    const std::string& name = config.clusters[i].name;
    exportFields(families, folded.clusters[i].pool, kPoolMetrics, "cluster", name);
    exportFields(families, folded.clusters[i].http2, kUpstreamHttp2Metrics, "cluster", name);
    families.add(InternalFamily::kUpstreamHosts, {{"cluster", name}},
                 static_cast<double>(folded.clusters[i].hosts));
  }
  for (const ServerStats::Cluster& c : server.clusters) {
    families.add(InternalFamily::kUpstreamOverflow,
                 {{"cluster", c.name}, {"breaker", "max_connections"}},
                 static_cast<double>(c.cx_overflow));
    families.add(InternalFamily::kUpstreamOverflow,
                 {{"cluster", c.name}, {"breaker", "max_pending_requests"}},
                 static_cast<double>(c.pending_overflow));
    families.add(InternalFamily::kUpstreamOverflow,
                 {{"cluster", c.name}, {"breaker", "max_requests"}},
                 static_cast<double>(c.rq_overflow));
  }
  families.add(InternalFamily::kAccessLogLines, {}, static_cast<double>(server.access_log_lines));
  families.add(InternalFamily::kAccessLogDropped, {},
               static_cast<double>(server.access_log_dropped));
  families.add(InternalFamily::kLogDropped, {}, static_cast<double>(server.log_dropped));
  families.add(InternalFamily::kConfigLoads, {{"result", "success"}},
               static_cast<double>(server.config_loads));
  families.add(InternalFamily::kServerReady, {}, server.ready ? 1 : 0);
  families.add(InternalFamily::kServerDraining, {}, server.draining ? 1 : 0);
  families.add(InternalFamily::kServerConcurrency, {}, server.concurrency);
  families.add(InternalFamily::kServerStartTime, {},
               static_cast<double>(server.start_time_seconds));
  const InternalFamilyDef& lag = familyDef(InternalFamily::kWorkerLoopLag);
  for (const WorkerStatsSnapshot& w : workers) {
    families.histogram(lag.name, lag.help, {{"worker", std::to_string(w.worker)}},
                       w.loop_lag_seconds);
  }

  return prometheus::TextSerializer().Serialize(registry.Collect());
}

std::string renderPlainStats(const config::Bootstrap& config,
                             const std::vector<WorkerStatsSnapshot>& workers,
                             const ServerStats& server) {
  const FoldedStats folded = fold(workers, config.listeners.size(), config.clusters.size());
  std::ostringstream out;
  for (const ServerStats::Listener& l : server.listeners) {
    out << "listener." << l.name << ".downstream_cx_active: " << l.cx_active << '\n';
    out << "listener." << l.name << ".downstream_cx_overflow: " << l.cx_overflow << '\n';
  }
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const config::Listener& l = config.listeners[i];
    if (l.http) {
      plainFields(out, folded.listeners[i].http, kConnectionManagerMetrics, "http." + l.name + ".");
      plainFields(out, folded.listeners[i].http.http2, kDownstreamHttp2Metrics,
                  "http." + l.name + ".");
      plainFields(out, folded.listeners[i].router, kRouterMetrics, "http." + l.name + ".router.");
    }
    if (l.tcp) plainFields(out, folded.listeners[i].tcp, kTcpProxyMetrics, "tcp." + l.name + ".");
    if (l.capture) {
      plainFields(out, folded.listeners[i].detection, kDetectionMetrics,
                  "listener." + l.name + ".protocol_detection.");
    }
  }
  for (size_t i = 0; i < config.clusters.size(); ++i) {
    const std::string prefix = "cluster." + config.clusters[i].name + ".";
    plainFields(out, folded.clusters[i].pool, kPoolMetrics, prefix);
    plainFields(out, folded.clusters[i].http2, kUpstreamHttp2Metrics, prefix);
    out << prefix << "membership_total: " << folded.clusters[i].hosts << '\n';
  }
  out << "access_log.lines: " << server.access_log_lines << '\n';
  out << "access_log.dropped: " << server.access_log_dropped << '\n';
  out << "log.dropped: " << server.log_dropped << '\n';
  return out.str();
}

}  // namespace podproxy::stats
