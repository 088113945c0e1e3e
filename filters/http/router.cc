#include "filters/http/router.h"

#include "filters/http/header_mutations.h"
#include "proxy/common/logger.h"
#include "proxy/http/grpc.h"
#include "proxy/http/http1/header_rules.h"
#include "proxy/http/websocket_handshake.h"
#include "proxy/upstream/tcp_upstream.h"

namespace podproxy::router {

namespace {
// A tunnel without a route idle_timeout still ends when nothing crosses it for this long.
constexpr std::chrono::milliseconds kDefaultTunnelIdleTimeout = std::chrono::hours(1);

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}
}  // namespace

Router::Router(const RouteTable& routes, upstream::ThreadLocalClusterManager& clusters,
               Random& random, RouterStats& stats, uint32_t max_body_buffer_bytes)
    : routes_(routes),
      clusters_(clusters),
      random_(random),
      stats_(stats),
      max_body_buffer_bytes_(max_body_buffer_bytes) {}

Router::~Router() {
  onDestroy();
}

void Router::localReply(uint16_t status, std::string_view body, std::string_view details,
                        std::string_view flag) {
  if (!flag.empty()) callbacks_->streamInfo().addResponseFlag(flag);
  callbacks_->sendLocalReply(status, body, details);
}

http::FilterHeadersStatus Router::decodeHeaders(http::RequestHeaders& headers, bool end_stream) {
  request_ = &headers;
  request_complete_ = end_stream;
  request_has_body_ = !end_stream;
  auto& info = callbacks_->streamInfo();

  route_ = routes_.match(headers);
  if (route_ == nullptr) {
    ++stats_.no_route;
    localReply(404, "no route matched the request", "route_not_found",
               http::response_flags::kNoRouteFound);
    return http::FilterHeadersStatus::kStopIteration;
  }
  info.route_name = route_->name();  // the route table outlives the stream

  if (const auto* direct = route_->directResponseAction()) {
    ++stats_.direct_response;
    auto headers_out = std::make_unique<http::ResponseHeaders>();
    headers_out->status = direct->status;
    headers_out->headers.add("content-type", direct->content_type);
    headers_out->headers.add("content-length", std::to_string(direct->body.size()));
    applyResponseMutations(*headers_out);
    const bool no_body = direct->body.empty() || headers.method == "HEAD";
    callbacks_->encodeHeaders(std::move(headers_out), no_body);
    if (!no_body) {
      buffer::Buffer body;
      body.add(direct->body);
      callbacks_->encodeData(body, true);
    }
    return http::FilterHeadersStatus::kStopIteration;
  }
  if (const auto* redirect = route_->redirectAction()) {
    ++stats_.redirect;
    http::HeaderMap extra;
    extra.add("location", route_->redirectLocation(headers));
    callbacks_->sendLocalReply(redirect->response_code, "", "redirect", &extra);
    return http::FilterHeadersStatus::kStopIteration;
  }

  action_ = route_->routeAction();
  // Capture listeners: the connection's original destination picked the cluster.
  capture_ = callbacks_->connection().captureInfo();
  const std::string_view cluster_name =
      action_->original_destination
          ? std::string_view(capture_ != nullptr ? capture_->cluster : std::string_view())
          : route_->pickCluster(random_.next());
  cluster_ = clusters_.get(cluster_name);
  if (cluster_ == nullptr) {
    ++stats_.no_cluster;
    localReply(503, "cluster not found", "cluster_not_found",
               http::response_flags::kNoClusterFound);
    return http::FilterHeadersStatus::kStopIteration;
  }
  info.upstream_cluster = cluster_name;  // the route's, or the connection's capture info

  // The request as the upstream sees it.
  if (action_->prefix_rewrite) {
    info.original_path = headers.path;  // the access log shows what the client asked for
    headers.path = route_->rewritePath(headers.path);
  }
  if (action_->host_rewrite) headers.authority = *action_->host_rewrite;
  applyRequestMutations(route_->virtualHost().headers(), headers);
  applyRequestMutations(route_->config().headers, headers);

  if ((!headers.upgrade.empty() || headers.method == "CONNECT") && !prepareTunnel(headers)) {
    return http::FilterHeadersStatus::kStopIteration;
  }

  callbacks_->addDownstreamWatermarkCallbacks(*this);
  idle_timeout_ = action_->idle_timeout;
  if (idle_timeout_.count() > 0) startIdleTimer(idle_timeout_);
  // gRPC: the client's deadline is the route timeout, counted from now (a streaming request
  // may never "complete" before its deadline).
  if (const std::string_view* grpc_timeout = headers.headers.get("grpc-timeout")) {
    if (auto timeout = http::grpc::parseTimeout(*grpc_timeout); timeout && timeout->count() > 0) {
      armResponseTimer(*timeout);
    }
  }
  // The pool knows what a tunnel needs of the protocol it picks: a connection of its own for
  // HTTP/1.1, a stream for HTTP/2.
  startAttempt(upgrade_ ? upstream::StreamPurpose::kTunnel : upstream::StreamPurpose::kRequest);
  return http::FilterHeadersStatus::kStopIteration;
}

bool Router::prepareTunnel(http::RequestHeaders& headers) {
  const bool connect = headers.method == "CONNECT";
  if (!connect && !headers.extended_connect) {
    // HTTP/1.1 Upgrade. Routes that do not list the protocol forward the plain request (Envoy's
    // default). HTTP/2 upstreams have no Upgrade (RFC 9113 8.6): their codec sends the offer as
    // the extended CONNECT it stands for (RFC 8441) and answers with a 101, or, for an offer
    // with a body or a method other than GET, sends the plain request.
    if (upgradeAllowed(headers.upgrade)) {
      upgrade_ = true;
    } else {
      headers.upgrade.clear();
    }
    return true;
  }
  // CONNECT and extended CONNECT have no plain form to fall back to: as in Envoy, a route that
  // does not enable them answers 403.
  const bool allowed = connect ? upgradeAllowed("connect") : upgradeAllowed(headers.upgrade);
  if (!allowed) {
    ++stats_.upgrade_rejected;
    localReply(403,
               connect ? "CONNECT is not enabled on this route"
                       : "upgrade to " + headers.upgrade + " is not enabled on this route",
               "upgrade_failed", "");
    return false;
  }
  tunnel_request_ = true;
  // The HTTP request is the head alone; the DATA that follow are the tunnel's.
  request_complete_ = true;
  request_has_body_ = false;
  if (connect) {
    connect_ = true;
    return true;
  }
  // It goes on as the Upgrade it stands for; an HTTP/2 upstream's codec sends that as the
  // extended CONNECT it came as (dropping the key below, answering with its accept).
  upgrade_ = true;
  if (http::equalsIgnoreCase(headers.upgrade, "websocket") &&
      !headers.headers.has("sec-websocket-key")) {
    // RFC 8441 replaced the key with :protocol, but an HTTP/1.1 WebSocket server insists on one
    // (RFC 6455 4.2.1): give it one, and check its answer to it (webSocketAcceptValid). Which
    // protocol the upstream speaks is the pool's to know (an `auto` cluster's may speak either).
    headers.headers.add("sec-websocket-key", http::webSocketKey(random_.next(), random_.next()));
    if (!headers.headers.has("sec-websocket-version")) {
      headers.headers.add("sec-websocket-version", "13");
    }
    websocket_key_added_ = true;
  }
  return true;
}

bool Router::webSocketAcceptValid(const http::ResponseHeaders& headers) const {
  const std::string_view* key = request_->headers.get("sec-websocket-key");
  const std::string_view* accept = headers.headers.get("sec-websocket-accept");
  return key != nullptr && accept != nullptr && *accept == http::webSocketAccept(*key);
}

bool Router::upgradeAllowed(std::string_view upgrade) const {
  const std::string_view name = http::http1::firstUpgradeProtocol(upgrade);
  for (const std::string& type : action_->upgrade_types) {
    if (http::equalsIgnoreCase(name, type)) return true;
  }
  return false;
}

void Router::startAttempt(upstream::StreamPurpose purpose) {
  upstream::HostConstSharedPtr host = cluster_->chooseHost(
      capture_ != nullptr ? &capture_->upstream_target : nullptr,
      capture_ != nullptr && capture_->upstream_source ? &*capture_->upstream_source : nullptr);
  if (host == nullptr) {
    ++stats_.no_healthy_upstream;
    localReply(503, "no healthy upstream", "no_healthy_upstream",
               http::response_flags::kNoHealthyUpstream);
    return;
  }
  ++stats_.upstream_rq_total;
  ++callbacks_->streamInfo().upstream_attempts;
  callbacks_->streamInfo().upstream_host = host->addressString();
  if (connect_) {
    // A terminated CONNECT tunnels to a plain TCP connection of its own.
    pending_ = upstream::TcpUpstream::connect(
        callbacks_->dispatcher(), host, cluster_->config().connect_timeout, cluster_->resources(),
        cluster_->unpooledStats(), upstream_response_, *this, *this);
    return;
  }
  // Either callback may run before newStream() returns.
  pending_ = cluster_->pool(*host).newStream(upstream_response_, *this, *this, purpose);
}

void Router::onPoolReady(upstream::StreamHandle& stream, const upstream::Host& host, bool reused) {
  pending_ = nullptr;
  upstream_ = &stream;
  reused_connection_ = reused;
  upstream_request_start_ms_ = callbacks_->dispatcher().nowMs();
  stream.setWatermarkCallbacks(&upstream_watermarks_);
  // Telemetry: mTLS when we presented a workload certificate and verified the server's.
  if (const network::TlsInfo* tls = stream.connection().tls();
      tls != nullptr && tls->peer_certificate_verified && !tls->local_uri_san.empty()) {
    http::StreamInfo& info = callbacks_->streamInfo();
    info.upstream_peer_uri_san = tls->peer_uri_san;
    info.upstream_local_uri_san = tls->local_uri_san;
    info.upstream_mtls = true;
  }
  if (tunnel_request_) {
    // The head alone: the client's bytes wait for the tunnel to open (a TCP upstream opens it
    // inside this call).
    stream.encodeHeaders(*request_, true);
    if (upstream_ != nullptr) onRequestComplete();  // the route timeout bounds the wait
    return;
  }
  // Keep a copy of the body only where the keep-alive race can bite: a reused connection.
  retry_body_.clear();
  retry_body_complete_ = true;
  const bool keep_for_retry = reused && !retried_;

  const bool headers_only = request_complete_ && pending_body_.empty() && !request_trailers_;
  stream.encodeHeaders(*request_, headers_only);
  if (upstream_ == nullptr) return;  // reset while encoding
  if (!pending_body_.empty() || (request_complete_ && !headers_only && !request_trailers_)) {
    if (keep_for_retry) {
      if (pending_body_.length() <= max_body_buffer_bytes_) {
        retry_body_.add(pending_body_);
      } else {
        retry_body_complete_ = false;
      }
    }
    const bool end = request_complete_ && !request_trailers_;
    stream.encodeData(pending_body_, end);
    if (upstream_ == nullptr) return;
  }
  if (request_trailers_ && request_complete_) stream.encodeTrailers(*request_trailers_);
  if (downstream_paused_for_pending_) {
    downstream_paused_for_pending_ = false;
    callbacks_->readDisableDownstream(false);
  }
  if (request_complete_) onRequestComplete();
}

void Router::onPoolFailure(upstream::PoolFailureReason reason, std::string_view details,
                           const upstream::Host& host) {
  pending_ = nullptr;
  if (reason == upstream::PoolFailureReason::kOverflow) {
    ++stats_.upstream_rq_overflow;
    localReply(503, std::string("upstream overflow: ") + std::string(details), "upstream_overflow",
               http::response_flags::kUpstreamOverflow);
    return;
  }
  ++stats_.upstream_cx_connect_fail;
  localReply(503,
             std::string("upstream connect error: ") + std::string(details) + " (" +
                 host.address().toString() + ")",
             "upstream_connect_failure", http::response_flags::kUpstreamConnectionFailure);
}

http::FilterDataStatus Router::decodeData(buffer::Buffer& data, bool end_stream) {
  if (end_stream) request_complete_ = true;
  touchIdleTimer();
  if (upstream_ != nullptr && (!tunnel_request_ || tunnel_)) {
    if (reused_connection_ && !retried_ && retry_body_complete_) {
      if (retry_body_.length() + data.length() <= max_body_buffer_bytes_) {
        retry_body_.add(data);
      } else {
        retry_body_complete_ = false;
        retry_body_.clear();
      }
    }
    upstream_->encodeData(data, end_stream);
    if (end_stream && upstream_ != nullptr) {
      if (tunnel_ && response_complete_) {
        // The client's FIN followed the upstream's: both directions ended, the handle is spent.
        finishUpstream();
      } else {
        onRequestComplete();
      }
    }
  } else {
    pending_body_.move(data);
    pending_end_ = pending_end_ || end_stream;
    // Not connected (or the tunnel not open) yet: hold the body, but stop reading the client
    // beyond the buffer limit.
    if (pending_body_.length() > max_body_buffer_bytes_ && !downstream_paused_for_pending_) {
      downstream_paused_for_pending_ = true;
      callbacks_->readDisableDownstream(true);
    }
  }
  return http::FilterDataStatus::kStopIterationNoBuffer;
}

http::FilterTrailersStatus Router::decodeTrailers(http::TrailerMap& trailers) {
  request_complete_ = true;
  request_trailers_ = std::make_unique<http::TrailerMap>(trailers);
  if (upstream_ != nullptr) {
    upstream_->encodeTrailers(*request_trailers_);
    if (upstream_ != nullptr) onRequestComplete();
  }
  return http::FilterTrailersStatus::kStopIteration;
}

void Router::onRequestComplete() {
  // The route timeout covers the wait for the response once the request is sent, as Envoy's.
  // A tunnel's client side ending is no such wait.
  if (action_ == nullptr || action_->timeout.count() == 0 || response_timer_set_ || tunnel_) {
    return;
  }
  armResponseTimer(action_->timeout);
}

void Router::armResponseTimer(std::chrono::milliseconds timeout) {
  response_timer_set_ = true;
  callbacks_->dispatcher().timerWheel().arm(response_timer_, timeout);
}

void Router::cancelResponseTimer() {
  response_timer_set_ = false;
  event::TimerWheel::disarm(response_timer_);
}

void Router::startIdleTimer(std::chrono::milliseconds timeout) {
  idle_timeout_ = timeout;
  idle_timer_on_ = true;
  touchIdleTimer();
}

void Router::cancelIdleTimer() {
  idle_timer_on_ = false;
  event::TimerWheel::disarm(idle_timer_);
}

void Router::abandonUpstream() {
  if (pending_ != nullptr) {
    pending_->cancel();
    pending_ = nullptr;
  }
  if (upstream_ != nullptr) {
    upstream::StreamHandle* stream = upstream_;
    upstream_ = nullptr;
    stream->resetStream();
  }
  cancelResponseTimer();
  cancelIdleTimer();
}

void Router::touchIdleTimer() {
  if (idle_timer_on_) callbacks_->dispatcher().timerWheel().arm(idle_timer_, idle_timeout_);
}

void Router::onIdleTimeout() {
  ++stats_.stream_idle_timeout;
  abandonUpstream();
  callbacks_->streamInfo().addResponseFlag(http::response_flags::kStreamIdleTimeout);
  if (tunnel_) {
    // An idle tunnel ends like a closed one, both ways: a FIN to the client, not a reset, and
    // no more waiting for the client's FIN should the upstream's have gone out already.
    callbacks_->endTunnel();
    return;
  }
  if (response_started_) {
    callbacks_->resetStream("stream_idle_timeout");
    return;
  }
  // Envoy's answer: 408 while the client still owes us its request, 504 once we wait upstream.
  callbacks_->sendLocalReply(request_complete_ ? 504 : 408, "stream idle timeout",
                             "stream_idle_timeout");
}

void Router::onResponseTimeout() {
  ++stats_.upstream_rq_timeout;
  abandonUpstream();
  if (response_started_) {
    callbacks_->streamInfo().addResponseFlag(http::response_flags::kUpstreamRequestTimeout);
    callbacks_->resetStream("upstream_response_timeout");
    return;
  }
  localReply(504, "upstream request timeout", "upstream_response_timeout",
             http::response_flags::kUpstreamRequestTimeout);
}

bool Router::canRetryKeepAliveRace() const {
  if (retried_ || !reused_connection_ || response_started_) return false;
  // Safe to send again: nothing of the body is lost, and either the method is idempotent or
  // the request carried no body (the upstream closed before it could have acted on it).
  if (request_has_body_ && (!request_complete_ || !retry_body_complete_)) return false;
  return isIdempotent(request_->method) || !request_has_body_;
}

void Router::onResetStream(http::StreamResetReason reason, std::string_view details) {
  upstream_ = nullptr;
  event::TimerWheel::disarm(response_timer_);
  if (!response_started_ && reason == http::StreamResetReason::kConnectionTermination &&
      details == "upstream_reset_before_response_started" && canRetryKeepAliveRace()) {
    // The keep-alive race: the upstream closed an idle connection just as we reused it.
    retried_ = true;
    ++stats_.upstream_rq_retry;
    LOG_DEBUG("retrying on a new connection after keep-alive race",
              {"request_id", callbacks_->streamInfo().request_id.view()});
    pending_body_.move(retry_body_);
    cancelResponseTimer();
    startAttempt(upstream::StreamPurpose::kRetryOnNewConnection);
    return;
  }
  if (reason == http::StreamResetReason::kUnsupported && !response_started_) {
    // The HTTP/2 upstream does not take extended CONNECT (RFC 8441): nothing went out, and
    // another attempt would meet the same settings.
    ++stats_.upgrade_upstream_unsupported;
    localReply(502, details, "upstream_extended_connect_unsupported",
               http::response_flags::kUpstreamProtocolError);
    return;
  }
  ++stats_.upstream_rq_reset;
  if (response_started_) {
    callbacks_->streamInfo().addResponseFlag(http::response_flags::kUpstreamRemoteReset);
    callbacks_->resetStream(std::string("upstream reset: ") + std::string(details));
    return;
  }
  if (reason == http::StreamResetReason::kProtocolError) {
    localReply(502, std::string("upstream protocol error: ") + std::string(details),
               "upstream_protocol_error", http::response_flags::kUpstreamProtocolError);
    return;
  }
  localReply(503, std::string("upstream reset before response: ") + std::string(details),
             "upstream_reset_before_response_started", http::response_flags::kUpstreamRemoteReset);
}

void Router::applyResponseMutations(http::ResponseHeaders& headers) const {
  if (route_ == nullptr) return;
  router::applyResponseMutations(route_->config().headers, headers);
  router::applyResponseMutations(route_->virtualHost().headers(), headers);
}

// 1xx responses are dropped (UpstreamResponse): "100 Continue" was already answered to the
// client by the connection manager, and other informational responses carry nothing the client
// needs from a proxy.

void Router::onUpstreamHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) {
  callbacks_->streamInfo().upstream_service_time_ms =
      static_cast<int64_t>(callbacks_->dispatcher().nowMs() - upstream_request_start_ms_);
  const bool opens_tunnel =
      !end_stream && ((upgrade_ && headers->status == 101) || (connect_ && headers->status == 200));
  if (opens_tunnel && websocket_key_added_) {
    if (!webSocketAcceptValid(*headers)) {
      ++stats_.upstream_rq_reset;
      abandonUpstream();
      localReply(502, "upstream WebSocket handshake failed: wrong or missing sec-websocket-accept",
                 "upstream_protocol_error", http::response_flags::kUpstreamProtocolError);
      return;
    }
    // The answer to our key, not the client's business (RFC 8441 has no accept).
    headers->headers.remove("sec-websocket-accept");
  }
  response_started_ = true;
  if (opens_tunnel) {
    // The upstream switched protocols: what follows is a byte tunnel, bounded by inactivity
    // rather than by the route timeout.
    tunnel_ = true;
    // The request side is open again: the client's bytes follow, until its FIN (which may
    // have come already, held with the bytes before it).
    request_complete_ = tunnel_request_ && pending_end_;
    cancelResponseTimer();
    if (!idle_timer_on_) startIdleTimer(kDefaultTunnelIdleTimeout);
  }
  touchIdleTimer();
  if (end_stream) finishUpstream();
  applyResponseMutations(*headers);
  callbacks_->encodeHeaders(std::move(headers), end_stream);
  if (tunnel_ && tunnel_request_ && upstream_ != nullptr) sendHeldTunnelBytes();
}

void Router::sendHeldTunnelBytes() {
  if (!pending_body_.empty() || pending_end_) upstream_->encodeData(pending_body_, pending_end_);
  if (downstream_paused_for_pending_ && upstream_ != nullptr) {
    downstream_paused_for_pending_ = false;
    callbacks_->readDisableDownstream(false);
  }
}

void Router::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  touchIdleTimer();
  if (end_stream) {
    if (tunnel_ && !request_complete_) {
      // The upstream half-closed a tunnel: its FIN goes on to the client, and the handle stays
      // ours (idle timer and all) for the client's bytes until the client's FIN.
      response_complete_ = true;
    } else {
      finishUpstream();
    }
  }
  callbacks_->encodeData(data, end_stream);
}

void Router::onUpstreamTrailers(std::unique_ptr<http::TrailerMap> trailers) {
  finishUpstream();
  callbacks_->encodeTrailers(std::move(trailers));
}

void Router::finishUpstream() {
  response_complete_ = true;
  upstream_ = nullptr;  // the pool takes the connection back
  upstream_read_disables_ = 0;
  cancelResponseTimer();
  cancelIdleTimer();
}

void Router::onAboveWriteBufferHighWatermark() {
  if (upstream_ == nullptr) return;
  ++upstream_read_disables_;
  upstream_->readDisable(true);
}

void Router::onBelowWriteBufferLowWatermark() {
  if (upstream_ == nullptr || upstream_read_disables_ == 0) return;
  --upstream_read_disables_;
  upstream_->readDisable(false);
}

void Router::UpstreamWatermarks::onAboveWriteBufferHighWatermark() {
  router_.callbacks_->readDisableDownstream(true);
}

void Router::UpstreamWatermarks::onBelowWriteBufferLowWatermark() {
  router_.callbacks_->readDisableDownstream(false);
}

void Router::onDestroy() {
  // The downstream is gone or answered early: never reuse a half-done exchange.
  abandonUpstream();
  if (callbacks_ != nullptr && cluster_ != nullptr) {
    callbacks_->removeDownstreamWatermarkCallbacks(*this);
  }
}

void RouterFilterFactory::createFilterChain(http::FilterChainFactoryCallbacks& callbacks) {
  http::addDecoderFilterInPlace<Router>(callbacks, *routes_, clusters_, random_, stats_,
                                        max_body_buffer_bytes_);
}

}  // namespace podproxy::router
