#include "proxy/upstream/codec_client.h"

#include <utility>

#include "proxy/common/logger.h"
#include "proxy/http/http1/client_codec.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/upstream_transport.h"

namespace podproxy::upstream {

void recordConnectionClose(PoolStats& stats, ClientCloseReason reason) {
  switch (reason) {
    case ClientCloseReason::kConnectTimeout:
      ++stats.cx_connect_timeout;
      [[fallthrough]];
    case ClientCloseReason::kConnectFailure:
      ++stats.cx_connect_fail;
      break;
    case ClientCloseReason::kRemoteClose:
      ++stats.cx_destroy_remote;
      break;
    case ClientCloseReason::kIdleTimeout:
      ++stats.cx_idle_timeout;
      ++stats.cx_destroy_local;
      break;
    case ClientCloseReason::kProtocolError:
      ++stats.cx_protocol_error;
      ++stats.cx_destroy_local;
      break;
    case ClientCloseReason::kLocalClose:
      ++stats.cx_destroy_local;
      break;
  }
}

void addPoolStats(PoolStats& into, const PoolStats& s) {
  into.cx_total += s.cx_total;
  into.cx_active += s.cx_active;
  into.cx_connect_fail += s.cx_connect_fail;
  into.cx_connect_timeout += s.cx_connect_timeout;
  into.cx_idle_timeout += s.cx_idle_timeout;
  into.cx_destroy_remote += s.cx_destroy_remote;
  into.cx_destroy_local += s.cx_destroy_local;
  into.cx_max_requests += s.cx_max_requests;
  into.cx_protocol_error += s.cx_protocol_error;
  into.rq_total += s.rq_total;
  into.rq_reused += s.rq_reused;
  into.rq_active += s.rq_active;
  into.rq_reset += s.rq_reset;
  into.pending_total += s.pending_total;
  into.pending_active += s.pending_active;
  into.pending_failure += s.pending_failure;
  into.overflow += s.overflow;
}

CodecFactory http1CodecFactory() {
  return [](http::CodecTransport& transport) -> std::unique_ptr<http::ClientConnection> {
    return std::make_unique<http::http1::ClientCodec>(transport);
  };
}

CodecClient::CodecClient(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                         std::chrono::milliseconds connect_timeout,
                         const CodecFactory& codec_factory, CodecClientCallbacks& callbacks)
    : dispatcher_(dispatcher), host_(std::move(host)), callbacks_(callbacks) {
  connection_ =
      network::Connection::connectTo(dispatcher_, host_->address(), connect_timeout,
                                     createTransportSocket(*host_), host_->sourceAddress());
  connection_->addConnectionCallbacks(*this);
  // The connection owns its filters while the client owns the connection, so the filter is a
  // small forwarder rather than the client itself.
  read_filter_ = addUpstreamReadFilter(*connection_, *this);
  codec_ = codec_factory(*this);
}

CodecClient::CodecClient(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                         HandedOffConnection connection, const CodecFactory& codec_factory,
                         CodecClientCallbacks& callbacks)
    : dispatcher_(dispatcher),
      host_(std::move(host)),
      callbacks_(callbacks),
      connection_(std::move(connection.connection)),
      read_filter_(connection.read_filter),
      connected_(true) {
  connection_->addConnectionCallbacks(*this);
  read_filter_->setSink(*this);
  codec_ = codec_factory(*this);
}

CodecClient::~CodecClient() {
  if (connection_ == nullptr) return;  // handed off
  connection_->removeConnectionCallbacks(*this);
  connection_->close(network::CloseType::kNoFlush);
}

HandedOffConnection CodecClient::handOff() {
  closed_ = true;
  event::TimerWheel::disarm(*this);
  return handOffConnection(connection_, read_filter_, *this);
}

void CodecClient::startStream(http::ResponseDecoder& decoder,
                              http::StreamCallbacks& stream_callbacks) {
  event::TimerWheel::disarm(*this);
  stream_decoder_ = &decoder;
  stream_callbacks_ = &stream_callbacks;
  request_complete_ = false;
  response_complete_ = false;
  response_bytes_seen_ = false;
  tunnel_ = false;
  ++streams_started_;
  request_encoder_ = &codec_->newStream(*this);
}

void CodecClient::setIdleTimeout(std::chrono::milliseconds timeout) {
  if (timeout.count() == 0 || closed_) {
    event::TimerWheel::disarm(*this);
    return;
  }
  dispatcher_.timerWheel().arm(*this, timeout);
}

void CodecClient::onWheelTimeout() {
  closeConnection(ClientCloseReason::kIdleTimeout);
}

void CodecClient::encodeHeaders(const http::RequestHeaders& headers, bool end_stream) {
  if (stream_decoder_ == nullptr || request_complete_) return;
  request_complete_ = end_stream;
  request_encoder_->encodeHeaders(headers, end_stream);
  if (end_stream) checkStreamComplete(false);
}

void CodecClient::encodeData(buffer::Buffer& data, bool end_stream) {
  if (stream_decoder_ == nullptr || request_complete_) {
    data.clear();
    return;
  }
  request_complete_ = end_stream;
  request_encoder_->encodeData(data, end_stream);
  if (end_stream) checkStreamComplete(false);
}

void CodecClient::encodeTrailers(const http::TrailerMap& trailers) {
  if (stream_decoder_ == nullptr || request_complete_) return;
  request_complete_ = true;
  request_encoder_->encodeTrailers(trailers);
  checkStreamComplete(false);
}

void CodecClient::write(buffer::Buffer& data, bool end_stream) {
  connection_->write(data, end_stream);
}

void CodecClient::resetStream() {
  if (stream_decoder_ == nullptr) return;
  // The caller asked for it: no onResetStream back to it.
  detachStream();
  if (in_dispatch_) {
    close_after_dispatch_ = true;
    return;
  }
  closeConnection(ClientCloseReason::kLocalClose);
}

void CodecClient::readDisable(bool disable) {
  if (stream_decoder_ == nullptr || closed_) return;
  stream_read_disables_.apply(*connection_, disable);
}

void CodecClient::close(http::StreamResetReason reason, std::string_view details) {
  close_reset_reason_ = reason;
  close_reset_details_ = std::string(details);
  closeConnection(ClientCloseReason::kLocalClose);
}

void CodecClient::closeConnection(ClientCloseReason reason, network::CloseType type) {
  if (closed_) return;
  close_reason_ = reason;
  connection_->close(type);
}

ClientCloseReason connectFailureReason(const network::Connection& connection) {
  return connection.failureReason() == "connect_timeout" ? ClientCloseReason::kConnectTimeout
                                                         : ClientCloseReason::kConnectFailure;
}

void CodecClient::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::kConnected:
      // An adopted connection sees the event that handed it over too.
      if (connected_) return;
      connected_ = true;
      callbacks_.onClientConnected(*this);
      return;
    case network::ConnectionEvent::kConnectFailed: {
      closed_ = true;
      callbacks_.onClientClosed(*this, connectFailureReason(*connection_),
                                connection_->failureReason());
      return;
    }
    case network::ConnectionEvent::kRemoteClose:
    case network::ConnectionEvent::kLocalClose:
      onConnectionClosed(event);
      return;
  }
}

void CodecClient::onConnectionClosed(network::ConnectionEvent event) {
  closed_ = true;
  event::TimerWheel::disarm(*this);
  if (event == network::ConnectionEvent::kRemoteClose) {
    close_reason_ = ClientCloseReason::kRemoteClose;
  }

  // A clean EOF may be how the response ends (no Content-Length, not chunked). When nothing of
  // the response arrived there is nothing to complete: that is the keep-alive race, reported
  // below as a reset before the response started. A failed completion (truncated body) is a
  // termination after the response started, reported the same way below.
  if (stream_decoder_ != nullptr && event == network::ConnectionEvent::kRemoteClose &&
      connection_->failureReason().empty() && !response_complete_ && responseStarted()) {
    in_dispatch_ = true;
    (void)codec_->onEndOfInput();
    in_dispatch_ = false;
  }
  if (stream_decoder_ != nullptr && response_complete_ && (request_complete_ || !tunnel_)) {
    // The whole response arrived; the caller is done with us whether or not its request was.
    // (A tunnel whose client side is still open is not done: losing the connection now loses
    // the client's bytes, and the caller hears of it as a reset below.)
    detachStream();
  }

  http::StreamCallbacks* reset_target = stream_callbacks_;
  http::StreamResetReason reason = close_reset_reason_;
  std::string details = close_reset_details_;
  if (reset_target != nullptr && event == network::ConnectionEvent::kRemoteClose &&
      close_reason_ == ClientCloseReason::kRemoteClose) {
    // Precise wording matters: a router retries a reused connection's stream on a fresh one
    // only when nothing of the response arrived (the keep-alive race).
    reason = http::StreamResetReason::kConnectionTermination;
    details = responseStarted() ? "upstream_reset_after_response_started"
                                : "upstream_reset_before_response_started";
  }
  if (reset_target != nullptr) detachStream();
  callbacks_.onClientClosed(*this, close_reason_, connection_->failureReason());
  if (reset_target != nullptr) reset_target->onResetStream(reason, details);
}

void CodecClient::onAboveWriteBufferHighWatermark() {
  if (watermark_callbacks_ != nullptr) watermark_callbacks_->onAboveWriteBufferHighWatermark();
}

void CodecClient::onBelowWriteBufferLowWatermark() {
  if (watermark_callbacks_ != nullptr) watermark_callbacks_->onBelowWriteBufferLowWatermark();
}

void CodecClient::onUpstreamData(buffer::Buffer& data, bool end_stream) {
  if (stream_decoder_ == nullptr && end_stream && data.empty()) {
    // A FIN after the stream let go of a tunnel (only tunnels report FINs): nothing to carry.
    closeConnection(ClientCloseReason::kRemoteClose);
    return;
  }
  if (stream_decoder_ == nullptr) {
    // HTTP/1 upstreams speak only when asked; bytes on an idle connection poison it.
    LOG_DEBUG("unexpected bytes on idle upstream connection", {"host", host_->address().toString()},
              {"bytes", data.length()});
    data.clear();
    closeConnection(ClientCloseReason::kProtocolError);
    return;
  }
  response_bytes_seen_ = true;
  in_dispatch_ = true;
  http::CodecStatus status = codec_->dispatch(data);
  if (status && end_stream && !close_after_dispatch_ && stream_decoder_ != nullptr) {
    // The upstream half-closed its side of a tunnel: that ends the response direction only.
    status = codec_->onEndOfInput();
  }
  in_dispatch_ = false;
  if (close_after_dispatch_) {
    closeConnection(ClientCloseReason::kLocalClose);
    return;
  }
  if (!status) {
    close_reset_reason_ = http::StreamResetReason::kProtocolError;
    close_reset_details_ = status.error().details;
    closeConnection(ClientCloseReason::kProtocolError);
    return;
  }
  checkStreamComplete(!data.empty());
}

void CodecClient::checkStreamComplete(bool leftover_input) {
  if (stream_decoder_ == nullptr || !response_complete_ || closed_) return;
  if (tunnel_) {
    // The upstream's FIN went on to the client, whose bytes still go up until its own FIN.
    if (!request_complete_) return;
    // Both directions ended. The caller's last bytes and FIN may still be queued: they go out
    // before the close (the upstream's FIN came already, so nothing is left to wait for).
    detachStream();
    closeConnection(ClientCloseReason::kLocalClose, network::CloseType::kFlushWrite);
    return;
  }
  if (!request_complete_) {
    // The upstream answered before the request was fully sent (an early 413, say). The caller
    // has its response; the connection cannot carry another request after a half-sent one.
    detachStream();
    closeConnection(ClientCloseReason::kLocalClose);
    return;
  }
  const bool reusable = codec_->reusable() && !leftover_input &&
                        connection_->state() == network::Connection::State::kOpen;
  detachStream();
  if (reusable) {
    callbacks_.onClientReusable(*this);
  } else {
    closeConnection(ClientCloseReason::kLocalClose);
  }
}

void CodecClient::detachStream() {
  if (stream_decoder_ == nullptr) return;
  stream_decoder_ = nullptr;
  stream_callbacks_ = nullptr;
  request_encoder_ = nullptr;
  watermark_callbacks_ = nullptr;
  stream_read_disables_.releaseAll(closed_ ? nullptr : connection_.get());
  callbacks_.onClientStreamDetached(*this);
}

bool CodecClient::responseStarted() const {
  return response_bytes_seen_ || codec_->responseStarted();
}

void CodecClient::decode1xxHeaders(std::unique_ptr<http::ResponseHeaders> headers) {
  if (stream_decoder_ != nullptr) stream_decoder_->decode1xxHeaders(std::move(headers));
}

void CodecClient::decodeHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) {
  if (stream_decoder_ == nullptr) return;
  response_complete_ = end_stream;
  if (headers->status == 101 && !end_stream) {
    // An accepted Upgrade (the HTTP/1 codec delivers a 101 only then): the request side carries
    // on as the tunnel's bytes towards the upstream, until the caller ends it. The upstream's
    // FIN must reach us as the end of its direction, not as a close of both.
    request_complete_ = false;
    tunnel_ = true;
    connection_->enableHalfClose(true);
  }
  stream_decoder_->decodeHeaders(std::move(headers), end_stream);
}

void CodecClient::decodeData(buffer::Buffer& data, bool end_stream) {
  if (stream_decoder_ == nullptr) {
    data.clear();
    return;
  }
  response_complete_ = end_stream;
  stream_decoder_->decodeData(data, end_stream);
}

void CodecClient::decodeTrailers(std::unique_ptr<http::TrailerMap> trailers) {
  if (stream_decoder_ == nullptr) return;
  response_complete_ = true;
  stream_decoder_->decodeTrailers(std::move(trailers));
}

}  // namespace podproxy::upstream
