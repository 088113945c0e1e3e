#pragma once

// The router: the last HTTP filter. It matches the route, answers redirects and direct
// responses itself, and otherwise forwards the request to a host of the route's cluster through
// that worker's connection pool, streaming both directions with flow control. It owns the
// per-attempt decisions: timeouts (504), connect failures and overflows (503 with a reason),
// the keep-alive race retry, and resetting the downstream when an upstream dies mid-response.
// HTTP/1.1 Upgrade: a route listing the offered protocol in `upgrade_types` forwards the offer
// as a kTunnel stream (the pool gives it an HTTP/1.1 connection of its own, never pooled again,
// or a stream on a shared HTTP/2 connection); a 101 makes the exchange a byte tunnel bounded by
// the idle timeout (the route's, else one hour) instead of the route timeout, whose two
// directions end apart (each side's FIN is passed on; the tunnel ends when both did). Other
// offers are dropped and the request goes upstream as plain HTTP. An HTTP/2 extended CONNECT
// (RFC 8441, which the codec presents as the same offer) has no plain form: a route without its
// protocol answers 403, and its HTTP/1.1 upstream gets the RFC 6455 key it lacks (the answer's
// accept is checked). Towards HTTP/2 upstreams both go as extended CONNECT (the HTTP/2 codec
// translates, see http2/client_codec.h); an upstream that does not accept those answers 502.
// CONNECT: a route with `connect` in `upgrade_types` terminates it, tunnelling to a plain TCP
// connection to a host of the cluster (upstream::TcpUpstream), after a 200; other routes 403.
// The client's bytes of a tunnel that is not open yet (HTTP/2, CONNECT) wait here for it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "filters/http/route_table.h"
#include "proxy/common/random.h"
#include "proxy/event/timer_wheel.h"
#include "proxy/http/filter.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/http1_conn_pool.h"
#include "proxy/upstream/thread_local_cluster.h"

namespace podproxy::router {

// Per-worker router counters.
struct RouterStats {
  uint64_t no_route = 0;
  uint64_t no_cluster = 0;
  uint64_t no_healthy_upstream = 0;
  uint64_t upstream_rq_total = 0;
  uint64_t upstream_rq_timeout = 0;
  uint64_t stream_idle_timeout = 0;
  uint64_t upstream_rq_retry = 0;  // keep-alive race retries
  uint64_t upstream_cx_connect_fail = 0;
  uint64_t upstream_rq_overflow = 0;
  uint64_t upstream_rq_reset = 0;
  uint64_t direct_response = 0;
  uint64_t redirect = 0;
  uint64_t upgrade_rejected = 0;  // extended CONNECT or CONNECT on a route not enabling it
  // An upgrade towards an HTTP/2 upstream without SETTINGS_ENABLE_CONNECT_PROTOCOL (502).
  uint64_t upgrade_upstream_unsupported = 0;
};

class Router final : public http::StreamDecoderFilter,
                     public http::StreamCallbacks,
                     public http::DownstreamWatermarkCallbacks,
                     public upstream::PoolCallbacks {
 public:
  Router(const RouteTable& routes, upstream::ThreadLocalClusterManager& clusters, Random& random,
         RouterStats& stats, uint32_t max_body_buffer_bytes);
  ~Router() override;

  // http::StreamDecoderFilter
  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool end_stream) override;
  http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap& trailers) override;
  void onDestroy() override;

  // http::StreamCallbacks (the upstream stream)
  void onResetStream(http::StreamResetReason reason, std::string_view details) override;

  // upstream::PoolCallbacks
  void onPoolReady(upstream::StreamHandle& stream, const upstream::Host& host,
                   bool reused) override;
  void onPoolFailure(upstream::PoolFailureReason reason, std::string_view details,
                     const upstream::Host& host) override;

  // Downstream write buffer full/drained: pause/resume reading the upstream.
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

 private:
  // Upstream write buffer full/drained: pause/resume reading the downstream. A separate object
  // because both directions' callbacks share method names.
  class UpstreamWatermarks final : public upstream::StreamWatermarkCallbacks {
   public:
    explicit UpstreamWatermarks(Router& router) : router_(router) {}
    void onAboveWriteBufferHighWatermark() override;
    void onBelowWriteBufferLowWatermark() override;

   private:
    Router& router_;
  };

  // The upstream response. A separate object because ResponseDecoder and StreamDecoderFilter
  // share method names with different meanings.
  class UpstreamResponse final : public http::ResponseDecoder {
   public:
    explicit UpstreamResponse(Router& router) : router_(router) {}
    void decode1xxHeaders(std::unique_ptr<http::ResponseHeaders>) override {}
    void decodeHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) override {
      router_.onUpstreamHeaders(std::move(headers), end_stream);
    }
    void decodeData(buffer::Buffer& data, bool end_stream) override {
      router_.onUpstreamData(data, end_stream);
    }
    void decodeTrailers(std::unique_ptr<http::TrailerMap> trailers) override {
      router_.onUpstreamTrailers(std::move(trailers));
    }

   private:
    Router& router_;
  };

  void onUpstreamHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream);
  void onUpstreamData(buffer::Buffer& data, bool end_stream);
  void onUpstreamTrailers(std::unique_ptr<http::TrailerMap> trailers);
  void startAttempt(upstream::StreamPurpose purpose);
  void onRequestComplete();
  void onResponseTimeout();
  // Route idle_timeout: restarted by every byte in either direction.
  void touchIdleTimer();
  void onIdleTimeout();
  void abandonUpstream();
  void finishUpstream();
  bool canRetryKeepAliveRace() const;
  // Whether the route forwards this Upgrade offer (its first protocol, version ignored).
  bool upgradeAllowed(std::string_view upgrade) const;
  // Decides how an Upgrade offer or a CONNECT goes upstream; false when it was answered here.
  bool prepareTunnel(http::RequestHeaders& headers);
  // The tunnel opened: the client's bytes held until now go upstream.
  void sendHeldTunnelBytes();
  // Whether a 101 answers the Sec-WebSocket-Key we added as RFC 6455 says.
  bool webSocketAcceptValid(const http::ResponseHeaders& headers) const;
  void localReply(uint16_t status, std::string_view body, std::string_view details,
                  std::string_view flag);
  void applyResponseMutations(http::ResponseHeaders& headers) const;

  const RouteTable& routes_;
  upstream::ThreadLocalClusterManager& clusters_;
  Random& random_;
  RouterStats& stats_;
  const uint32_t max_body_buffer_bytes_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;

  const RouteEntry* route_ = nullptr;
  const config::RouteAction* action_ = nullptr;
  upstream::ThreadLocalCluster* cluster_ = nullptr;
  const network::CaptureInfo* capture_ = nullptr;  // the downstream's, when captured
  http::RequestHeaders* request_ = nullptr;        // owned by the stream; outlives us
  std::unique_ptr<http::TrailerMap> request_trailers_;

  upstream::Cancellable* pending_ = nullptr;    // waiting for a pool connection
  upstream::StreamHandle* upstream_ = nullptr;  // the active upstream stream
  UpstreamWatermarks upstream_watermarks_{*this};
  UpstreamResponse upstream_response_{*this};
  // The route timeout and the idle timeout, on the worker's timer wheel: no uv_timer (and no
  // allocation) per request, at the cost of firing up to one wheel tick (32 ms) late.
  class StreamTimer final : public event::WheelTimer {
   public:
    StreamTimer(Router& router, void (Router::*on_timeout)())
        : router_(router), on_timeout_(on_timeout) {}
    ~StreamTimer() = default;
    void onWheelTimeout() override { (router_.*on_timeout_)(); }

   private:
    Router& router_;
    void (Router::*on_timeout_)();
  };
  void armResponseTimer(std::chrono::milliseconds timeout);
  void cancelResponseTimer();
  void startIdleTimer(std::chrono::milliseconds timeout);
  void cancelIdleTimer();

  StreamTimer response_timer_{*this, &Router::onResponseTimeout};
  StreamTimer idle_timer_{*this, &Router::onIdleTimeout};
  // What the uv timers' existence meant: a response deadline is set (armed, or held disarmed
  // while an upstream reset is judged), and the idle timer runs.
  bool response_timer_set_ = false;
  bool idle_timer_on_ = false;

  buffer::Buffer pending_body_;  // body that arrived before the upstream stream was ready
  buffer::Buffer retry_body_;    // copy of the body sent on a reused connection, for one retry
  bool retry_body_complete_ = true;
  bool request_has_body_ = false;
  bool request_complete_ = false;
  bool downstream_paused_for_pending_ = false;
  bool reused_connection_ = false;
  bool retried_ = false;
  bool response_started_ = false;  // upstream response headers went downstream
  bool response_complete_ = false;
  bool upgrade_ = false;  // the request's Upgrade offer goes upstream
  bool connect_ = false;  // a CONNECT terminated here: a TCP upstream, opened with a 200
  // The request's data are the tunnel's bytes (HTTP/2 extended CONNECT, CONNECT): the upstream
  // gets the head alone, and the bytes wait in pending_body_ until the tunnel opens.
  bool tunnel_request_ = false;
  bool pending_end_ = false;          // ... the client's end came with them
  bool websocket_key_added_ = false;  // we gave an RFC 8441 request its Sec-WebSocket-Key
  bool tunnel_ = false;  // the upstream answered with 101 (200 for CONNECT): bytes flow both ways
  std::chrono::milliseconds idle_timeout_{0};
  uint32_t upstream_read_disables_ = 0;
  uint64_t upstream_request_start_ms_ = 0;  // loop time the request went upstream
};

// Adds a Router as the last filter of every stream of one listener on one worker.
class RouterFilterFactory final : public http::FilterChainFactory {
 public:
  RouterFilterFactory(std::shared_ptr<const RouteTable> routes,
                      upstream::ThreadLocalClusterManager& clusters, Random& random,
                      RouterStats& stats, uint32_t max_body_buffer_bytes)
      : routes_(std::move(routes)),
        clusters_(clusters),
        random_(random),
        stats_(stats),
        max_body_buffer_bytes_(max_body_buffer_bytes) {}
  void createFilterChain(http::FilterChainFactoryCallbacks& callbacks) override;

 private:
  std::shared_ptr<const RouteTable> routes_;
  upstream::ThreadLocalClusterManager& clusters_;
  Random& random_;
  RouterStats& stats_;
  uint32_t max_body_buffer_bytes_;
};

}  // namespace podproxy::router
