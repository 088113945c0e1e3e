#include "filters/network/tcp_proxy.h"

#include <utility>

#include "proxy/common/logger.h"
#include "proxy/upstream/upstream_transport.h"

namespace podproxy::filters {

// The upstream connection owns its filters; this one forwards to the proxy that owns it.
class TcpProxy::UpstreamReadFilter : public network::ReadFilter {
 public:
  explicit UpstreamReadFilter(TcpProxy& parent) : parent_(parent) {}
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    parent_.onUpstreamData(data, end_stream);
    return network::FilterStatus::kStopIteration;
  }

 private:
  TcpProxy& parent_;
};

TcpProxy::TcpProxy(const config::TcpProxyConfig& config,
                   upstream::ThreadLocalClusterManager& clusters, TcpProxyStats* stats,
                   TcpSessionObserver* observer)
    : config_(config), clusters_(clusters), stats_(stats), observer_(observer) {}

TcpProxy::~TcpProxy() {
  if (upstream_) {
    upstream_->removeConnectionCallbacks(upstream_callbacks_);
    upstream_->close(network::CloseType::kNoFlush);
    dispatcher_->deferredDelete(std::move(upstream_));
  }
  releaseConnectionSlot();
  finish();
}

void TcpProxy::initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) {
  read_callbacks_ = &callbacks;
}

network::FilterStatus TcpProxy::onNewConnection() {
  network::Connection& down = downstream();
  dispatcher_ = &down.dispatcher();
  counted_active_ = true;
  if (stats_ != nullptr) {
    ++stats_->cx_total;
    ++stats_->cx_active;
  }

  // Capture listeners: the original destination picked the cluster (and is the host for
  // passthrough).
  const network::CaptureInfo* capture = down.captureInfo();
  cluster_name_ =
      config_.original_destination && capture != nullptr ? capture->cluster : config_.cluster;
  start_time_ms_ = dispatcher_->nowMs();
  downstream_remote_ = down.remoteAddress();
  if (const network::TlsInfo* tls = down.tls(); tls != nullptr && tls->peer_certificate_verified) {
    downstream_peer_uri_san_ = tls->peer_uri_san;
    downstream_local_uri_san_ = tls->local_uri_san;
    downstream_mtls_ = tls->peer_certificate_presented;
  }
  upstream::ThreadLocalCluster* cluster = clusters_.get(cluster_name_);
  if (cluster != nullptr) {
    host_ = cluster->chooseHost(
        capture != nullptr ? &capture->upstream_target : nullptr,
        capture != nullptr && capture->upstream_source ? &*capture->upstream_source : nullptr);
  }
  if (host_ == nullptr) {
    LOG_DEBUG("tcp_proxy: no upstream host", {"cluster", cluster_name_});
    if (stats_ != nullptr) ++stats_->no_cluster;
    response_flags_ = "UH";
    down.close(network::CloseType::kNoFlush);
    finish();
    return network::FilterStatus::kStopIteration;
  }
  if (!cluster->resources().tryAcquireConnection()) {
    LOG_DEBUG("tcp_proxy: upstream overflow: max_connections", {"cluster", cluster_name_});
    if (stats_ != nullptr) ++stats_->overflow;
    response_flags_ = "UO";
    down.close(network::CloseType::kNoFlush);
    finish();
    return network::FilterStatus::kStopIteration;
  }
  resources_ = &cluster->resources();

  // Half-close both ways: a FIN from one side becomes end_stream on the other, and each
  // connection closes itself once both of its directions are done.
  down.enableHalfClose(true);
  down.addConnectionCallbacks(downstream_callbacks_);
  // Nothing to send the bytes to until the upstream is connected; the socket holds them.
  down.readDisable(true);
  downstream_read_disabled_for_connect_ = true;

  upstream_ = network::Connection::connectTo(
      *dispatcher_, host_->address(), cluster->config().connect_timeout,
      upstream::createTransportSocket(*host_), host_->sourceAddress());
  upstream_tally_.opened(cluster->unpooledStats());
  upstream_->enableHalfClose(true);
  upstream_->addConnectionCallbacks(upstream_callbacks_);
  upstream_->addReadFilter(std::make_unique<UpstreamReadFilter>(*this));

  if (config_.idle_timeout.count() > 0) {
    onActivity();
    idle_timer_ = dispatcher_->createTimer([this] { onIdleTimer(); });
    idle_timer_->enable(config_.idle_timeout);
  }
  return network::FilterStatus::kStopIteration;
}

network::FilterStatus TcpProxy::onData(buffer::Buffer& data, bool end_stream) {
  if (!upstream_ || upstream_->state() == network::Connection::State::kClosed) {
    data.clear();
    return network::FilterStatus::kStopIteration;
  }
  bytes_from_downstream_ += data.length();
  if (stats_ != nullptr) stats_->downstream_rx_bytes += data.length();
  if (live_bytes_ != nullptr) live_bytes_->received += data.length();
  onActivity();
  // While connecting, the upstream's write buffer holds this (its watermark bounds it).
  upstream_->write(data, end_stream);
  return network::FilterStatus::kStopIteration;
}

void TcpProxy::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  bytes_from_upstream_ += data.length();
  if (stats_ != nullptr) stats_->upstream_rx_bytes += data.length();
  if (live_bytes_ != nullptr) live_bytes_->sent += data.length();
  onActivity();
  downstream().write(data, end_stream);
}

void TcpProxy::onUpstreamEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::kConnected:
      upstream_connected_ = true;
      // mTLS when we presented a workload certificate and verified the server's.
      if (const network::TlsInfo* tls = upstream_->tls();
          tls != nullptr && tls->peer_certificate_verified && !tls->local_uri_san.empty()) {
        upstream_peer_uri_san_ = tls->peer_uri_san;
        upstream_local_uri_san_ = tls->local_uri_san;
        upstream_mtls_ = true;
      }
      startSession();
      onActivity();
      if (downstream_read_disabled_for_connect_) {
        downstream_read_disabled_for_connect_ = false;
        downstream().readDisable(false);
      }
      return;
    case network::ConnectionEvent::kConnectFailed:
      LOG_DEBUG("tcp_proxy: upstream connect failed", {"cluster", cluster_name_},
                {"host", host_->addressString()}, {"reason", upstream_->failureReason()});
      response_flags_ = "UF";
      upstream_tally_.connectFailed(upstream_->failureReason());
      if (stats_ != nullptr) {
        ++stats_->connect_fail;
        if (upstream_->failureReason() == "connect_timeout") ++stats_->connect_timeout;
      }
      releaseConnectionSlot();
      downstream().close(network::CloseType::kNoFlush);
      finish();
      return;
    case network::ConnectionEvent::kRemoteClose:
    case network::ConnectionEvent::kLocalClose:
      upstream_tally_.closedBy(event);
      releaseConnectionSlot();
      closeOtherSide(*upstream_, event, downstream());
      finish();
      return;
  }
}

void TcpProxy::onDownstreamEvent(network::ConnectionEvent event) {
  if (event != network::ConnectionEvent::kRemoteClose &&
      event != network::ConnectionEvent::kLocalClose) {
    return;
  }
  if (upstream_) closeOtherSide(downstream(), event, *upstream_);
  finish();
}

void TcpProxy::closeOtherSide(network::Connection& closed, network::ConnectionEvent event,
                              network::Connection& other) {
  if (other.state() == network::Connection::State::kClosed) return;
  // A reset or an I/O error must reach the other peer as a reset, not as a clean end it could
  // mistake for a complete exchange.
  const bool error =
      event == network::ConnectionEvent::kRemoteClose && !closed.failureReason().empty();
  other.close(error ? network::CloseType::kAbortReset : network::CloseType::kFlushWrite);
}

void TcpProxy::onIdleTimer() {
  const uint64_t idle_ms = dispatcher_->nowMs() - last_activity_ms_;
  const auto timeout = static_cast<uint64_t>(config_.idle_timeout.count());
  if (idle_ms < timeout) {
    // Re-arming only here keeps the per-read cost to one timestamp store.
    idle_timer_->enable(std::chrono::milliseconds(timeout - idle_ms));
    return;
  }
  LOG_DEBUG("tcp_proxy: idle timeout", {"cluster", cluster_name_});
  if (stats_ != nullptr) ++stats_->idle_timeout;
  downstream().close(network::CloseType::kNoFlush);
  if (upstream_) upstream_->close(network::CloseType::kNoFlush);
}

void TcpProxy::releaseConnectionSlot() {
  if (resources_ != nullptr) {
    resources_->releaseConnection();
    resources_ = nullptr;
  }
}

void TcpProxy::finish() {
  // Disabled, not destroyed: this may run inside the timer's own callback.
  if (idle_timer_) idle_timer_->disable();
  if (counted_active_) {
    counted_active_ = false;
    if (stats_ != nullptr) --stats_->cx_active;
    if (observer_ != nullptr) {
      startSession();  // never connected: opened and closed now
      const TcpSessionInfo info = sessionInfo();
      live_bytes_ = nullptr;
      observer_->onTcpSessionEnd(info);
    }
  }
}

TcpSessionInfo TcpProxy::sessionInfo() const {
  TcpSessionInfo info;
  info.start_time_ms = start_time_ms_;
  info.cluster = cluster_name_;
  if (host_) info.upstream_host = host_->addressString();
  info.response_flags = response_flags_;
  info.downstream_remote_address = downstream_remote_;
  info.downstream_peer_uri_san = downstream_peer_uri_san_;
  info.downstream_local_uri_san = downstream_local_uri_san_;
  info.downstream_mtls = downstream_mtls_;
  info.upstream_peer_uri_san = upstream_peer_uri_san_;
  info.upstream_local_uri_san = upstream_local_uri_san_;
  info.upstream_mtls = upstream_mtls_;
  info.bytes_received = bytes_from_downstream_;
  info.bytes_sent = bytes_from_upstream_;
  return info;
}

void TcpProxy::startSession() {
  if (session_started_ || observer_ == nullptr) return;
  session_started_ = true;
  live_bytes_ = observer_->onTcpSessionStart(sessionInfo());
}

void TcpProxy::DownstreamCallbacks::onEvent(network::ConnectionEvent event) {
  parent_.onDownstreamEvent(event);
}

void TcpProxy::DownstreamCallbacks::onAboveWriteBufferHighWatermark() {
  if (parent_.upstream_) parent_.upstream_->readDisable(true);
}

void TcpProxy::DownstreamCallbacks::onBelowWriteBufferLowWatermark() {
  if (parent_.upstream_) parent_.upstream_->readDisable(false);
}

void TcpProxy::UpstreamCallbacks::onEvent(network::ConnectionEvent event) {
  parent_.onUpstreamEvent(event);
}

void TcpProxy::UpstreamCallbacks::onAboveWriteBufferHighWatermark() {
  parent_.downstream().readDisable(true);
}

void TcpProxy::UpstreamCallbacks::onBelowWriteBufferLowWatermark() {
  parent_.downstream().readDisable(false);
}

}  // namespace podproxy::filters
