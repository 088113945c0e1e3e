#include "filters/listener/sniffing_filter.h"

#include "proxy/common/logger.h"

namespace podproxy::filters {

SniffingFilter::SniffingFilter(std::chrono::milliseconds timeout, ChainFactory factory,
                               DetectionStats& stats, const MtlsSniffing* mtls)
    : timeout_(timeout), factory_(std::move(factory)), stats_(stats), mtls_(mtls) {}

network::FilterStatus SniffingFilter::onNewConnection() {
  timer_ = callbacks_->connection().dispatcher().createTimer([this] {
    if (mtls_ != nullptr && mtls_->strict && !tls_started_) {
      refusePlaintext();  // server-first plaintext is plaintext too
      return;
    }
    // Silence (or a fragment we cannot place): the server speaks first, or this is not a
    // protocol we know. Bytes already buffered reach the chain when it starts reading.
    ++stats_.timeout;
    decide(DetectedProtocol::kUnknown);
  });
  timer_->enable(timeout_);
  return network::FilterStatus::kContinue;
}

network::FilterStatus SniffingFilter::onData(buffer::Buffer& data, bool end_stream) {
  if (chain_) return chain_->onData(data, end_stream);
  DetectedProtocol protocol = detectProtocol(data);
  if (protocol == DetectedProtocol::kNeedMoreData) {
    if (!end_stream) return network::FilterStatus::kStopIteration;  // keep the bytes, wait
    protocol = DetectedProtocol::kUnknown;
  }
  if (mtls_ != nullptr && !tls_started_) {
    if (protocol == DetectedProtocol::kTls) {
      ++stats_.tls;
      startTls();
      return network::FilterStatus::kStopIteration;
    }
    if (mtls_->strict) {
      refusePlaintext();
      return network::FilterStatus::kStopIteration;
    }
  }
  switch (protocol) {
    case DetectedProtocol::kHttp1:
      ++stats_.http1;
      break;
    case DetectedProtocol::kHttp2:
      ++stats_.http2;
      break;
    case DetectedProtocol::kTls:
      ++stats_.tls;
      break;
    default:
      ++stats_.tcp;
      break;
  }
  decide(protocol);
  if (!chain_) return network::FilterStatus::kStopIteration;
  return chain_->onData(data, end_stream);
}

void SniffingFilter::decide(DetectedProtocol protocol) {
  timer_.reset();
  network::Connection& connection = callbacks_->connection();
  LOG_DEBUG("protocol detected", {"protocol", detectedProtocolName(protocol)},
            {"connection", connection.id()});
  chain_ = factory_(protocol);
  chain_->initializeReadFilterCallbacks(*callbacks_);
  chain_->onNewConnection();
}

void SniffingFilter::startTls() {
  tls_started_ = true;
  // The detection window restarts once the handshake is done: the bytes it carries are what
  // tells HTTP from TCP (and a server-first protocol says nothing).
  timer_->disable();
  network::Connection& connection = callbacks_->connection();
  auto socket = mtls_->create_socket();
  if (!socket) {
    connection.close(network::CloseType::kNoFlush);
    return;
  }
  connection.setTransportSocket(std::move(socket), [this] {
    if (timer_) timer_->enable(timeout_);
  });
}

void SniffingFilter::refusePlaintext() {
  timer_.reset();
  ++stats_.mtls_plaintext_refused;
  network::Connection& connection = callbacks_->connection();
  LOG_DEBUG("plaintext refused: mtls strict", {"connection", connection.id()},
            {"peer", connection.remoteAddress().toString()});
  connection.close(network::CloseType::kNoFlush);
}

}  // namespace podproxy::filters
