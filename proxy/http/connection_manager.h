#pragma once

// The HTTP connection manager: the last network filter of an HTTP listener. It owns the codec
// and the active streams of one downstream connection, runs each stream's HTTP filter chain,
// and enforces the connection-level limits and timeouts (header read timeout, idle timeout,
// requests per connection, drain).

#include <cstdint>
#include <list>
#include <unordered_set>
#include <memory>
#include <vector>

#include "config/model.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/http/filter.h"
#include "proxy/http/stream_observer.h"
#include "proxy/network/connection.h"

namespace podproxy::http {

class ActiveStream;
class ConnectionManager;

// Per-worker counters of the connection manager (folded into metrics on scrape).
struct ConnectionManagerStats {
  uint64_t downstream_cx_total = 0;
  uint64_t downstream_cx_active = 0;
  uint64_t downstream_rq_total = 0;
  uint64_t downstream_rq_active = 0;
  uint64_t downstream_rq_1xx = 0;
  uint64_t downstream_rq_2xx = 0;
  uint64_t downstream_rq_3xx = 0;
  uint64_t downstream_rq_4xx = 0;
  uint64_t downstream_rq_5xx = 0;
  uint64_t downstream_rq_rx_reset = 0;
  uint64_t downstream_rq_tx_reset = 0;
  uint64_t downstream_cx_protocol_error = 0;
  uint64_t downstream_rq_header_timeout = 0;
  uint64_t downstream_cx_idle_timeout = 0;
  uint64_t downstream_cx_drain_close = 0;
};

// What every connection manager of one listener on one worker shares.
struct ConnectionManagerContext {
  const config::HttpConnectionManagerConfig& config;
  FilterChainFactory& filter_factory;
  Random& random;
  ConnectionManagerStats& stats;
  StreamObserver* observer = nullptr;  // metrics and access log; told once per stream
  // The live managers, so a drain reaches each of them.
  std::unordered_set<ConnectionManager*> managers{};
};

class ConnectionManager final : public network::ReadFilter,
                                public network::ConnectionCallbacks,
                                public ServerConnectionCallbacks,
                                public CodecTransport {
 public:
  explicit ConnectionManager(ConnectionManagerContext& context);
  ~ConnectionManager() override;

  // network::ReadFilter
  void initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) override;
  network::FilterStatus onNewConnection() override;
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

  // network::ConnectionCallbacks
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // ServerConnectionCallbacks
  RequestDecoder& newStream(ResponseEncoder& encoder) override;

  // CodecTransport
  void write(buffer::Buffer& data, bool end_stream) override;

  // Graceful drain: finish what is in flight with "Connection: close", close idle connections.
  void startDrain();
  // startDrain() on every live manager of `context`.
  static void drainAll(ConnectionManagerContext& context);

  network::Connection& connection() { return *connection_; }
  ConnectionManagerContext& context() { return context_; }
  bool draining() const { return draining_; }

  // Called by ActiveStream.
  void onStreamComplete(ActiveStream& stream);
  // The current response will be the connection's last ("Connection: close").
  void closeAfterResponse() {
    if (codec_) codec_->setCloseAfterResponse();
  }
  void onStreamReset(ActiveStream& stream);

 private:
  void dispatchInput(buffer::Buffer& data);
  void onCodecError(const CodecError& error);
  // The client half-closed: finish what is in flight, then close.
  void onEndOfInput();
  void sendRawLocalReply(uint16_t status, std::string_view body);
  void armIdleTimer();
  void onIdleTimeout();
  void onRequestHeadersTimeout();
  void pauseReading(bool pause);
  void destroyStream(ActiveStream& stream);

  ConnectionManagerContext& context_;
  network::Connection* connection_ = nullptr;
  std::unique_ptr<ServerConnection> codec_;
  std::unique_ptr<ActiveStream> stream_;  // HTTP/1: at most one active stream
  std::unique_ptr<event::Timer> idle_timer_;
  std::unique_ptr<event::Timer> headers_timer_;
  uint32_t requests_ = 0;
  bool reading_paused_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool awaiting_headers_ = false;  // bytes of a request arrived, its headers are not complete
};

}  // namespace podproxy::http
