#include "proxy/stats/prometheus_exporter.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/stats/internal_metrics.h"

namespace podproxy::stats {
namespace {

config::Bootstrap twoListenerConfig() {
  config::Bootstrap b;
  b.telemetry.workload.name = "productpage-v1";
  b.telemetry.workload.namespace_name = "shop";
  b.telemetry.workload.app = "productpage";
  config::Listener out;
  out.name = "outbound";
  out.http = config::HttpConnectionManagerConfig{};
  config::Listener in;
  in.name = "inbound_tcp";
  in.direction = config::TrafficDirection::kInbound;
  in.tcp = config::TcpProxyConfig{};
  b.listeners = {out, in};
  config::Cluster reviews;
  reviews.name = "reviews";
  reviews.type = config::Cluster::Type::kStrictDns;
  reviews.endpoints = {{"reviews.shop.svc.cluster.local", 9080}};
  config::Cluster local;
  local.name = "local_app";
  local.endpoints = {{"127.0.0.1", 8080}};
  b.clusters = {reviews, local};
  return b;
}

WorkerStatsSnapshot worker(uint32_t index, uint64_t ok_requests, uint64_t failed) {
  WorkerStatsSnapshot w;
  w.worker = index;
  w.listeners.resize(2);
  w.clusters.resize(2);
  HttpSeriesKey ok;
  ok.response_code = 200;
  ok.cluster = 0;
  HttpSeries& s = w.listeners[0].istio.httpSeries(ok);
  for (uint64_t i = 0; i < ok_requests; ++i) {
    ++s.requests;
    s.duration_ms.observe(3);
    s.response_bytes.observe(100);
  }
  HttpSeriesKey nr;
  nr.response_code = 404;
  nr.response_flags = responseFlagBits("NR");
  w.listeners[0].istio.httpSeries(nr).requests += failed;
  w.listeners[0].http.downstream_rq_total = ok_requests + failed;
  w.listeners[0].router.no_route = failed;
  TcpSeries& t = w.listeners[1].istio.tcpSeries({0, 1});
  t.opened = 1;
  t.bytes.received = 5;
  w.clusters[0].pool.cx_total = 1;
  w.listeners[0].http.http2.streams_total = 4;
  w.listeners[0].http.http2.rx_reset = 2;
  w.listeners[0].http.http2.rapid_reset = 1;
  w.clusters[0].http2.goaway_received = 1;
  w.clusters[0].http2.streams_total = 7;
  return w;
}

std::string render() {
  const config::Bootstrap b = twoListenerConfig();
  ServerStats server;
  server.ready = true;
  server.concurrency = 2;
  server.listeners = {{"outbound", 3, 0}, {"inbound_tcp", 0, 1}};
  return renderPrometheus(b, {worker(0, 2, 1), worker(1, 3, 0)}, server);
}

bool hasLine(const std::string& text, const std::string& prefix, const std::string& value) {
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.size() >= value.size() &&
        line.compare(line.size() - value.size(), value.size(), value) == 0 &&
        line[line.size() - value.size() - 1] == ' ') {
      return true;
    }
    at = end;
  }
  return false;
}

TEST(PrometheusExporter, SumsWorkersIntoIstioRequestsTotalWithIstioLabels) {
  const std::string text = render();
  EXPECT_NE(text.find("# TYPE istio_requests_total counter"), std::string::npos);
  // Labels come out sorted by name (prometheus-cpp); the outbound listener reports as source.
  const std::string ok =
      "istio_requests_total{connection_security_policy=\"unknown\","
      "destination_app=\"unknown\",destination_canonical_revision=\"unknown\","
      "destination_canonical_service=\"unknown\",destination_cluster=\"unknown\","
      "destination_principal=\"unknown\",destination_service=\"reviews.shop.svc.cluster.local\","
      "destination_service_name=\"reviews\",destination_service_namespace=\"shop\","
      "destination_version=\"unknown\",destination_workload=\"unknown\","
      "destination_workload_namespace=\"unknown\",grpc_response_status=\"\","
      "reporter=\"source\",request_protocol=\"http\",response_code=\"200\","
      "response_flags=\"-\",source_app=\"productpage\","
      "source_canonical_revision=\"latest\",source_canonical_service=\"productpage\","
      "source_cluster=\"unknown\",source_principal=\"unknown\",source_version=\"unknown\","
      "source_workload=\"productpage-v1\",source_workload_namespace=\"shop\"}";
  EXPECT_TRUE(hasLine(text, ok, "5")) << text;
  EXPECT_NE(text.find("response_code=\"404\",response_flags=\"NR\""), std::string::npos);
  EXPECT_NE(text.find("destination_service=\"unknown\""), std::string::npos);  // no cluster
}

TEST(PrometheusExporter, DurationHistogramHasIstioBucketsAndFoldedCounts) {
  const std::string text = render();
  for (const char* le : {"0.5",   "1",      "5",      "10",      "25",      "50",    "100",
                         "250",   "500",    "1000",   "2500",    "5000",    "10000", "30000",
                         "60000", "300000", "600000", "1800000", "3600000", "+Inf"}) {
    EXPECT_NE(text.find(std::string("le=\"") + le + "\""), std::string::npos) << le;
  }
  // Five observations of 3 ms: none at le=1, all at le=5.
  const std::string bucket = "istio_request_duration_milliseconds_bucket{";
  size_t at = text.find(bucket);
  ASSERT_NE(at, std::string::npos);
  bool saw_le1 = false;
  bool saw_le5 = false;
  for (; at != std::string::npos; at = text.find(bucket, at + 1)) {
    const std::string line = text.substr(at, text.find('\n', at) - at);
    if (line.find("response_code=\"200\"") == std::string::npos) continue;
    if (line.find("le=\"1\"") != std::string::npos) {
      saw_le1 = true;
      EXPECT_EQ(line.substr(line.rfind(' ') + 1), "0");
    }
    if (line.find("le=\"5\"") != std::string::npos) {
      saw_le5 = true;
      EXPECT_EQ(line.substr(line.rfind(' ') + 1), "5");
    }
  }
  EXPECT_TRUE(saw_le1 && saw_le5);
  EXPECT_NE(text.find("istio_request_bytes_bucket"), std::string::npos);
  EXPECT_NE(text.find("le=\"1000000000\""), std::string::npos);
}

TEST(PrometheusExporter, InboundTcpListenerReportsAsDestinationWithLocalWorkload) {
  const std::string text = render();
  const size_t at = text.find("istio_tcp_connections_opened_total{");
  ASSERT_NE(at, std::string::npos);
  const std::string line = text.substr(at, text.find('\n', at) - at);
  EXPECT_NE(line.find("reporter=\"destination\""), std::string::npos) << line;
  EXPECT_NE(line.find("destination_workload=\"productpage-v1\""), std::string::npos);
  EXPECT_NE(line.find("source_workload=\"unknown\""), std::string::npos);
  EXPECT_NE(line.find("request_protocol=\"tcp\""), std::string::npos);
  EXPECT_NE(line.find("connection_security_policy=\"none\""), std::string::npos);
  EXPECT_EQ(line.find("response_code"), std::string::npos);
  EXPECT_EQ(line.substr(line.rfind(' ') + 1), "2");
  EXPECT_NE(text.find("istio_tcp_received_bytes_total{"), std::string::npos);
}

TEST(PrometheusExporter, InternalMetricsComeFromTheDeclaredTables) {
  const std::string text = render();
  EXPECT_TRUE(hasLine(text, "podproxy_downstream_rq_total{listener=\"outbound\"}", "6"));
  EXPECT_TRUE(hasLine(
      text, "podproxy_local_replies_total{listener=\"outbound\",response_flags=\"NR\"}", "1"));
  EXPECT_TRUE(hasLine(text, "podproxy_downstream_cx_active{listener=\"outbound\"}", "3"));
  EXPECT_TRUE(
      hasLine(text, "podproxy_downstream_cx_overflow_total{listener=\"inbound_tcp\"}", "1"));
  EXPECT_TRUE(hasLine(text, "podproxy_upstream_cx_total{cluster=\"reviews\"}", "2"));
  EXPECT_TRUE(hasLine(text, "podproxy_server_ready", "1"));
  EXPECT_NE(text.find("# HELP podproxy_downstream_cx_total " +
                      std::string(familyDef(InternalFamily::kDownstreamCxTotal).help)),
            std::string::npos);
  EXPECT_NE(text.find("podproxy_worker_loop_lag_seconds_bucket{worker=\"1\",le=\"0.001\"}"),
            std::string::npos);
}

TEST(PrometheusExporter, Http2CountersOfBothSidesAreExported) {
  const std::string text = render();
  EXPECT_TRUE(hasLine(text, "podproxy_downstream_http2_streams_total{listener=\"outbound\"}", "8"));
  EXPECT_TRUE(hasLine(
      text, "podproxy_downstream_http2_resets_total{listener=\"outbound\",side=\"remote\"}", "4"));
  EXPECT_TRUE(hasLine(
      text, "podproxy_downstream_http2_errors_total{listener=\"outbound\",reason=\"rapid_reset\"}",
      "2"));
  EXPECT_TRUE(hasLine(text, "podproxy_upstream_http2_streams_total{cluster=\"reviews\"}", "14"));
  EXPECT_TRUE(hasLine(
      text, "podproxy_upstream_http2_goaway_total{cluster=\"reviews\",direction=\"received\"}",
      "2"));
  EXPECT_TRUE(hasLine(
      text, "podproxy_upstream_http2_goaway_total{cluster=\"local_app\",direction=\"received\"}",
      "0"));
}

TEST(PrometheusExporter, EveryCounterFamilyEndsInTotal) {
  for (const InternalFamilyDef& def : kInternalFamilies) {
    if (def.type == MetricType::kCounter) {
      EXPECT_TRUE(def.name.ends_with("_total")) << def.name;
    } else {
      EXPECT_FALSE(def.name.ends_with("_total")) << def.name;
    }
  }
}

TEST(PrometheusExporter, PlainStatsUseEnvoyStyleNames) {
  const config::Bootstrap b = twoListenerConfig();
  ServerStats server;
  server.listeners = {{"outbound", 3, 0}, {"inbound_tcp", 0, 1}};
  const std::string text = renderPlainStats(b, {worker(0, 2, 1)}, server);
  EXPECT_NE(text.find("http.outbound.downstream_rq_total: 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("http.outbound.router.no_route: 1\n"), std::string::npos);
  EXPECT_NE(text.find("listener.inbound_tcp.downstream_cx_overflow: 1\n"), std::string::npos);
  EXPECT_NE(text.find("cluster.reviews.upstream_cx_total: 1\n"), std::string::npos);
  EXPECT_NE(text.find("http.outbound.http2.rx_reset: 2\n"), std::string::npos);
  EXPECT_NE(text.find("cluster.reviews.http2.goaway_received: 1\n"), std::string::npos);
}

TEST(PrometheusExporter, MtlsSeriesCarryPrincipalsAndMutualTlsPolicy) {
  const config::Bootstrap b = twoListenerConfig();
  WorkerStatsSnapshot w;
  w.listeners.resize(2);
  w.clusters.resize(2);
  // Outbound over a mutual cluster: we are the source, the upstream's ID the destination.
  HttpSeriesKey out;
  out.response_code = 200;
  out.cluster = 0;
  out.identity = w.listeners[0].istio.identity("spiffe://cluster.local/ns/shop/sa/productpage",
                                               "spiffe://cluster.local/ns/shop/sa/reviews", true);
  w.listeners[0].istio.httpSeries(out).requests = 4;
  // Inbound mTLS TCP: the client's verified ID is the source, ours the destination.
  TcpSeriesKey in{0, 1,
                  w.listeners[1].istio.identity("spiffe://cluster.local/ns/shop/sa/client",
                                                "spiffe://cluster.local/ns/shop/sa/pp", true)};
  w.listeners[1].istio.tcpSeries(in).opened = 1;
  w.listeners[1].istio.principals.addOverflow(3);
  ServerStats server;
  const std::string text = renderPrometheus(b, {w}, server);

  auto lineOf = [&](const std::string& metric) {
    const size_t at = text.find(metric + "{");
    EXPECT_NE(at, std::string::npos) << metric;
    return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
  };
  const std::string http = lineOf("istio_requests_total");
  EXPECT_NE(http.find("connection_security_policy=\"mutual_tls\""), std::string::npos) << http;
  EXPECT_NE(http.find("source_principal=\"spiffe://cluster.local/ns/shop/sa/productpage\""),
            std::string::npos)
      << http;
  EXPECT_NE(http.find("destination_principal=\"spiffe://cluster.local/ns/shop/sa/reviews\""),
            std::string::npos)
      << http;
  EXPECT_EQ(http.substr(http.rfind(' ') + 1), "4");
  const std::string tcp = lineOf("istio_tcp_connections_opened_total");
  EXPECT_NE(tcp.find("reporter=\"destination\""), std::string::npos) << tcp;
  EXPECT_NE(tcp.find("connection_security_policy=\"mutual_tls\""), std::string::npos) << tcp;
  EXPECT_NE(tcp.find("source_principal=\"spiffe://cluster.local/ns/shop/sa/client\""),
            std::string::npos)
      << tcp;
  EXPECT_NE(tcp.find("destination_principal=\"spiffe://cluster.local/ns/shop/sa/pp\""),
            std::string::npos)
      << tcp;
  EXPECT_TRUE(
      hasLine(text, "podproxy_istio_principal_overflow_total{listener=\"inbound_tcp\"}", "3"))
      << text;
}

}  // namespace
}  // namespace podproxy::stats
