#include "proxy/upstream/tcp_upstream.h"

#include <utility>

#include "proxy/upstream/upstream_transport.h"

namespace podproxy::upstream {

Cancellable* TcpUpstream::connect(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                                  std::chrono::milliseconds connect_timeout,
                                  ResourceManager& resources, PoolStats& stats,
                                  http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                  http::StreamCallbacks& stream_callbacks) {
  // The cluster's max_connections bounds these as it bounds pooled and tcp_proxy connections.
  if (!resources.tryAcquireConnection()) {
    callbacks.onPoolFailure(PoolFailureReason::kOverflow, "max_connections", *host);
    return nullptr;
  }
  // It owns itself from here: retired through deferredDelete once its connection closed.
  auto* upstream = new TcpUpstream(dispatcher, std::move(host), connect_timeout, resources, decoder,
                                   callbacks, stream_callbacks);
  upstream->tally_.opened(stats);
  network::Connection& connection = *upstream->connection_;
  // Each side's FIN ends one direction of the tunnel, as through tcp_proxy.
  connection.enableHalfClose(true);
  connection.addConnectionCallbacks(*upstream);
  addUpstreamReadFilter(connection, *upstream);
  return upstream;
}

TcpUpstream::TcpUpstream(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                         std::chrono::milliseconds connect_timeout, ResourceManager& resources,
                         http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                         http::StreamCallbacks& stream_callbacks)
    : dispatcher_(dispatcher),
      host_(std::move(host)),
      resources_(&resources),
      decoder_(&decoder),
      callbacks_(&callbacks),
      stream_callbacks_(&stream_callbacks) {
  connection_ =
      network::Connection::connectTo(dispatcher_, host_->address(), connect_timeout,
                                     createTransportSocket(*host_), host_->sourceAddress());
}

TcpUpstream::~TcpUpstream() {
  if (resources_ != nullptr) resources_->releaseConnection();
  connection_->removeConnectionCallbacks(*this);
  connection_->close(network::CloseType::kNoFlush);
}

void TcpUpstream::encodeHeaders(const http::RequestHeaders&, bool) {
  if (decoder_ == nullptr || response_started_) return;
  // The head was the CONNECT; the tunnel is open now that the upstream is connected. (Its
  // end_stream is the head's own: the tunnel's request side starts here, as after a 101.)
  response_started_ = true;
  auto headers = std::make_unique<http::ResponseHeaders>();
  headers->status = 200;
  decoder_->decodeHeaders(std::move(headers), false);
}

void TcpUpstream::encodeData(buffer::Buffer& data, bool end_stream) {
  if (decoder_ == nullptr || request_ended_) {
    data.clear();
    return;
  }
  request_ended_ = end_stream;
  connection_->write(data, end_stream);
  if (end_stream) maybeFinish();
}

void TcpUpstream::encodeTrailers(const http::TrailerMap&) {
  buffer::Buffer none;
  encodeData(none, true);
}

void TcpUpstream::readDisable(bool disable) {
  if (decoder_ == nullptr || connection_->state() == network::Connection::State::kClosed) return;
  read_disables_.apply(*connection_, disable);
}

void TcpUpstream::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  if (decoder_ == nullptr || !response_started_) {
    data.clear();
    return;
  }
  if (end_stream) response_ended_ = true;
  decoder_->decodeData(data, end_stream);
  if (end_stream) maybeFinish();
}

void TcpUpstream::maybeFinish() {
  if (decoder_ == nullptr || !request_ended_ || !response_ended_) return;
  detach();
  // The caller's last bytes and FIN may still be queued: they go out before the close.
  connection_->close(network::CloseType::kFlushWrite);
}

void TcpUpstream::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::kConnected:
      if (callbacks_ != nullptr) callbacks_->onPoolReady(*this, *host_, false);
      return;
    case network::ConnectionEvent::kConnectFailed: {
      tally_.connectFailed(connection_->failureReason());
      PoolCallbacks* callbacks = callbacks_;
      detach();
      closeAndRetire(network::CloseType::kNoFlush);
      if (callbacks == nullptr) return;
      const std::string& reason = connection_->failureReason();
      callbacks->onPoolFailure(reason == "connect_timeout" ? PoolFailureReason::kTimeout
                                                           : PoolFailureReason::kConnectFailure,
                               reason, *host_);
      return;
    }
    case network::ConnectionEvent::kRemoteClose:
    case network::ConnectionEvent::kLocalClose: {
      // Still attached: the tunnel lost its upstream before both directions ended (a reset, an
      // error, the flush bound), which the caller hears as a reset.
      tally_.closedBy(event);
      http::StreamCallbacks* target = stream_callbacks_;
      detach();
      closeAndRetire(network::CloseType::kNoFlush);
      if (target != nullptr) {
        target->onResetStream(http::StreamResetReason::kConnectionTermination,
                              response_started_ ? "upstream_reset_after_response_started"
                                                : "upstream_reset_before_response_started");
      }
      return;
    }
  }
}

void TcpUpstream::onAboveWriteBufferHighWatermark() {
  if (watermark_callbacks_ != nullptr) watermark_callbacks_->onAboveWriteBufferHighWatermark();
}

void TcpUpstream::onBelowWriteBufferLowWatermark() {
  if (watermark_callbacks_ != nullptr) watermark_callbacks_->onBelowWriteBufferLowWatermark();
}

void TcpUpstream::detach() {
  decoder_ = nullptr;
  callbacks_ = nullptr;
  stream_callbacks_ = nullptr;
  watermark_callbacks_ = nullptr;
  read_disables_.releaseAll(
      connection_->state() == network::Connection::State::kClosed ? nullptr : connection_.get());
}

void TcpUpstream::abandon() {
  detach();
  closeAndRetire(network::CloseType::kNoFlush);
}

void TcpUpstream::closeAndRetire(network::CloseType type) {
  // Counted now, not in the destructor: deferred deletion may run after the cluster is gone.
  tally_.closed(ClientCloseReason::kLocalClose);
  if (resources_ != nullptr) {
    resources_->releaseConnection();
    resources_ = nullptr;
  }
  connection_->close(type);
  if (retired_) return;
  retired_ = true;
  dispatcher_.deferredDelete(std::unique_ptr<event::DeferredDeletable>(this));
}

}  // namespace podproxy::upstream
