#pragma once

// The HTTP connection manager: the last network filter of an HTTP listener. It owns the codec
// and the active streams of one downstream connection, runs each stream's HTTP filter chain,
// and enforces the connection-level limits and timeouts (header read timeout, idle timeout,
// requests per connection, drain).

#include <cstdint>
#include <memory>
#include <vector>

#include "config/model.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/timer_wheel.h"
#include "proxy/http/codec.h"
#include "proxy/http/filter.h"
#include "proxy/http/http2/keepalive.h"
#include "proxy/http/http2/settings.h"
#include "proxy/http/stream_observer.h"
#include "proxy/network/connection.h"

namespace podproxy::http {

class ActiveStream;
class ConnectionManager;

// The active streams of one connection, linked through the streams themselves (no list node
// per stream). It owns them: what is still linked when it goes is deleted.
class StreamList {
 public:
  StreamList() = default;
  StreamList(const StreamList&) = delete;
  StreamList& operator=(const StreamList&) = delete;
  ~StreamList();

  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  ActiveStream* front() const { return head_; }
  static ActiveStream* next(const ActiveStream& stream);
  void pushBack(std::unique_ptr<ActiveStream> stream);
  // Unlinks `stream` and hands back ownership; nullptr if it is not in this list.
  std::unique_ptr<ActiveStream> remove(ActiveStream& stream);

 private:
  ActiveStream* head_ = nullptr;
  ActiveStream* tail_ = nullptr;
  size_t size_ = 0;
};

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
  uint64_t downstream_cx_hibernated = 0;         // times a connection hibernated
  uint64_t downstream_cx_hibernated_active = 0;  // connections hibernated now
  http2::CodecStats http2;                       // HTTP/2 codec counters (resets, GOAWAYs, floods)
};

// What every connection manager of one listener on one worker shares.
struct ConnectionManagerContext {
  const config::HttpConnectionManagerConfig& config;
  FilterChainFactory& filter_factory;
  Random& random;
  ConnectionManagerStats& stats;
  StreamObserver* observer = nullptr;  // metrics and access log; told once per stream
  // The live managers (intrusive list through ConnectionManager), so a drain reaches each.
  ConnectionManager* managers = nullptr;
};

class ConnectionManager final : public network::ReadFilter,
                                public network::ConnectionCallbacks,
                                public ServerConnectionCallbacks,
                                public CodecTransport,
                                private event::WheelTimer,
                                private http2::ConnectionKeepalive::Callbacks {
 public:
  explicit ConnectionManager(ConnectionManagerContext& context);
  ~ConnectionManager() override;

  // network::ReadFilter
  void initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) override;
  network::FilterStatus onNewConnection() override;
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;
  void onWake(const network::HibernationState& state) override;

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
  // The peer's address as text ("10.0.0.1:5678", "[::1]:5678") and its IP, formatted once per
  // connection: x-forwarded-for and access logs read them on every request.
  std::string_view remoteAddressText() {
    if (remote_text_.empty()) formatRemoteAddress();
    return remote_text_;
  }
  std::string_view remoteIp() {
    if (remote_text_.empty()) formatRemoteAddress();
    return std::string_view(remote_text_).substr(remote_ip_offset_, remote_ip_length_);
  }
  ConnectionManagerContext& context() { return context_; }
  bool draining() const { return draining_; }

  // Called by ActiveStream.
  void onStreamComplete(ActiveStream& stream);
  // The current response will be the connection's last ("Connection: close").
  void closeAfterResponse() {
    if (codec_) codec_->setCloseAfterResponse();
  }
  void onStreamReset(ActiveStream& stream);
  // A 101 went out (HTTP/1 Upgrade): read the client again, its bytes feed the tunnel.
  void onStreamUpgraded(ActiveStream& stream);
  // The client reset the stream (HTTP/2 RST_STREAM); other streams carry on.
  void onStreamRemoteReset(ActiveStream& stream);
  // Many streams at once (HTTP/2): resets, read disabling and drain are per stream.
  bool multiplexed() const { return codec_ && codec_->protocol() == Protocol::kHttp2; }

  // An HTTP/1 connection idle this long (no stream, nothing buffered either way, codec given
  // back) hibernates: its socket is kept in a compact record and everything else is freed
  // until bytes arrive. Eight wheel ticks: a keep-alive client under load sends its next
  // request long before, so busy connections never pay for a sleep and a wake.
  static constexpr std::chrono::milliseconds kHibernationDelay{250};

 private:
  void dispatchInput(buffer::Buffer& data);
  void onCodecError(const CodecError& error);
  // The client half-closed: finish what is in flight, then close.
  void onEndOfInput();
  // Picks HTTP/2 or HTTP/1 from the first bytes; false while they are still ambiguous.
  bool createCodec(const buffer::Buffer& data);
  void sendRawLocalReply(uint16_t status, std::string_view body);
  // Closes after what is queued, including output the codec holds back for the I/O pass;
  // nothing is read or handled after it (closed_).
  void closeFlushing();
  void formatRemoteAddress();
  // Starts an idle wait: the idle timeout from now (and the hibernation delay before it).
  void armIdleTimer();
  // Arms the timer for what comes first of hibernation and the end of idle_deadline_ms_.
  void armIdleWait();
  bool hibernationPossible() const { return !multiplexed() && connection_->canHibernate(*this); }
  // The hibernation delay passed: hand the connection to the listener's record.
  bool tryHibernate();
  void unlinkFromContext();
  void armTimer(std::chrono::milliseconds timeout);
  void disarmTimer() { event::TimerWheel::disarm(*this); }
  // event::WheelTimer: the idle or the request-headers timeout, by awaiting_headers_.
  void onWheelTimeout() override;
  // HTTP/1 between requests: the codec holds nothing worth keeping; give it back.
  void maybeReleaseIdleCodec();
  void onIdleTimeout();
  void onRequestHeadersTimeout();
  // http2::ConnectionKeepalive::Callbacks (HTTP/2 with http2.connection_keepalive only).
  void sendKeepalivePing() override;
  void onKeepaliveTimeout() override;
  void pauseReading(bool pause);
  void destroyStream(ActiveStream& stream);
  std::vector<ActiveStream*> liveStreams() const;
  // HTTP/1's only stream, or nullptr.
  ActiveStream* singleStream() const { return streams_.front(); }

  ConnectionManagerContext& context_;
  network::Connection* connection_ = nullptr;
  std::unique_ptr<ServerConnection> codec_;
  std::unique_ptr<http2::ConnectionKeepalive> keepalive_;
  // Active streams. HTTP/1 holds at most one at a time (pipelined requests wait in the
  // connection's buffer); a multiplexing codec (HTTP/2) holds many.
  StreamList streams_;
  ConnectionManager* prev_ = nullptr;  // context_.managers list
  ConnectionManager* next_ = nullptr;
  uint32_t requests_ = 0;
  uint64_t idle_deadline_ms_ = 0;  // when the current idle wait ends (loop time); 0: never
  std::string remote_text_;        // see remoteAddressText()
  uint8_t remote_ip_offset_ = 0;
  uint8_t remote_ip_length_ = 0;
  bool reading_paused_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool awaiting_headers_ = false;  // bytes of a request arrived, its headers are not complete
  bool end_of_input_ = false;      // the client half-closed
  // The connection's read buffer, when the client's FIN came behind bytes that wait for the
  // current response (a tunnel's first bytes, pipelined behind its Upgrade request).
  buffer::Buffer* input_held_at_eof_ = nullptr;
  bool http1_ = false;       // the codec (now, or before it was released) is HTTP/1
  bool in_codec_ = false;    // inside the codec: it must not be released now
  bool hibernated_ = false;  // the connection lives on as a record: it was not closed
  bool woken_ = false;       // rebuilt from hibernation (onWake ran)
};

}  // namespace podproxy::http
