#include "filters/listener/sniffing_filter.h"

#include "proxy/common/logger.h"

namespace podproxy::filters {

SniffingFilter::SniffingFilter(std::chrono::milliseconds timeout, ChainFactory factory,
                               DetectionStats& stats)
    : timeout_(timeout), factory_(std::move(factory)), stats_(stats) {}

network::FilterStatus SniffingFilter::onNewConnection() {
  timer_ = callbacks_->connection().dispatcher().createTimer([this] {
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
  switch (protocol) {
    case DetectedProtocol::kHttp1: ++stats_.http1; break;
    case DetectedProtocol::kHttp2: ++stats_.http2; break;
    case DetectedProtocol::kTls: ++stats_.tls; break;
    default: ++stats_.tcp; break;
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

}  // namespace podproxy::filters
