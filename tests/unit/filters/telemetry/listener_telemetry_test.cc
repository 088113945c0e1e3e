// The access log line of a listener: request fields found in one pass over the headers, the
// downstream address of each stream and session (never carried over from another).

#include "filters/telemetry/listener_telemetry.h"

#include <gtest/gtest.h>

#include <string>

namespace podproxy::telemetry {
namespace {

class TelemetryHarness {
 public:
  TelemetryHarness() : clusters_(clusterConfigs()), ring_(1 << 16) {
    listener_.name = "l";
    listener_.access_log.enabled = true;
    listener_.access_log.fields = {"x_forwarded_for",           "user_agent", "upstream_cluster",
                                   "downstream_remote_address", "request_id", "trace_id"};
    telemetry_ =
        std::make_unique<ListenerTelemetry>(dispatcher_, listener_, clusters_, shard_, &ring_);
  }
  ~TelemetryHarness() {
    telemetry_.reset();
    dispatcher_.shutdown();
  }

  std::string streamLine(std::string_view peer, const http::RequestHeaders& request,
                         std::string_view cluster = "backend") {
    http::StreamInfo info;
    info.downstream_remote_address = peer;  // formatted by the connection manager
    info.upstream_cluster = cluster;
    info.request_id = "0123456789abcdef0123456789abcdef0123";
    info.trace_id = "0af7651916cd43dd8448eb211c80319c";
    info.response_code = 200;
    http::ResponseHeaders response;
    telemetry_->onStreamComplete(info, &request, &response, nullptr);
    return drain();
  }
  std::string tcpLine(std::string_view peer) {
    filters::TcpSessionInfo info;
    info.downstream_remote_address = *network::Address::parse(peer);
    telemetry_->onTcpSessionEnd(info);
    return drain();
  }
  uint64_t requests() {
    uint64_t n = 0;
    for (const auto& [key, series] : shard_.http) n += series.requests;
    return n;
  }
  size_t httpSeries() const { return shard_.http.size(); }

 private:
  static std::vector<config::Cluster> clusterConfigs() {
    std::vector<config::Cluster> clusters(1);
    clusters[0].name = "backend";
    return clusters;
  }
  std::string drain() {
    std::string out;
    ring_.drainTo(out, 1 << 16);
    return out;
  }

  event::Dispatcher dispatcher_{"test"};
  config::Listener listener_;
  ClusterIndex clusters_;
  stats::IstioShard shard_;
  access_log::AccessLogRing ring_;
  std::unique_ptr<ListenerTelemetry> telemetry_;
};

TEST(ListenerTelemetry, AccessLogLineCarriesTheFirstValueOfEachRequestField) {
  TelemetryHarness h;
  http::RequestHeaders request;
  request.headers.add("User-Agent", "curl/8");
  request.headers.add("x-forwarded-for", "10.0.0.1, 10.0.0.2");
  request.headers.add("user-agent", "second");
  const std::string line = h.streamLine("10.1.2.3:4000", request);
  EXPECT_NE(line.find("curl/8"), std::string::npos) << line;
  EXPECT_EQ(line.find("second"), std::string::npos) << line;
  EXPECT_NE(line.find("10.0.0.1, 10.0.0.2"), std::string::npos) << line;
  EXPECT_NE(line.find("backend"), std::string::npos) << line;
  EXPECT_NE(line.find("0123456789abcdef0123456789abcdef0123"), std::string::npos) << line;
  EXPECT_NE(line.find("0af7651916cd43dd8448eb211c80319c"), std::string::npos) << line;
}

TEST(ListenerTelemetry, DownstreamAddressFollowsEachStreamAndSession) {
  TelemetryHarness h;
  http::RequestHeaders request;
  EXPECT_NE(h.streamLine("10.1.2.3:4000", request).find("10.1.2.3:4000"), std::string::npos);
  EXPECT_NE(h.streamLine("10.1.2.3:4000", request).find("10.1.2.3:4000"), std::string::npos);
  EXPECT_NE(h.tcpLine("10.9.9.9:5000").find("10.9.9.9:5000"), std::string::npos);
  const std::string again = h.streamLine("10.1.2.3:4001", request);
  EXPECT_NE(again.find("10.1.2.3:4001"), std::string::npos) << again;
  EXPECT_EQ(again.find("10.9.9.9"), std::string::npos) << again;
  EXPECT_EQ(h.requests(), 3u);
}

TEST(ListenerTelemetry, EachClusterGetsItsOwnSeries) {
  TelemetryHarness h;
  http::RequestHeaders request;
  h.streamLine("10.1.2.3:4000", request, "backend");
  h.streamLine("10.1.2.3:4000", request, "backend");
  EXPECT_EQ(h.httpSeries(), 1u);
  h.streamLine("10.1.2.3:4000", request, "");  // no cluster: a series of its own
  h.streamLine("10.1.2.3:4000", request, "backend");
  EXPECT_EQ(h.httpSeries(), 2u);
  EXPECT_EQ(h.requests(), 4u);
}

}  // namespace
}  // namespace podproxy::telemetry
