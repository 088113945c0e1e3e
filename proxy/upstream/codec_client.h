#pragma once

// One upstream HTTP connection of a pool: the network::Connection, the client codec on top of
// it, and the one stream (HTTP/1) it carries at a time. It tells its pool when it connected,
// when its stream finished and whether it can be reused, and when it closed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "proxy/event/dispatcher.h"
#include "proxy/event/timer_wheel.h"
#include "proxy/http/codec.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/stream_read_disables.h"

namespace podproxy::upstream {

// Write-buffer watermarks of the upstream connection, for whoever feeds the request body (the
// router readDisables the downstream while the upstream cannot keep up).
class StreamWatermarkCallbacks {
 public:
  virtual ~StreamWatermarkCallbacks() = default;
  virtual void onAboveWriteBufferHighWatermark() = 0;
  virtual void onBelowWriteBufferLowWatermark() = 0;
};

// The caller's handle on a stream the pool made ready (PoolCallbacks::onPoolReady). It is the
// request encoder, plus what a router needs beyond encoding.
//
// Validity: the handle may be used until the response is complete (the ResponseDecoder saw
// end_stream) or StreamCallbacks::onResetStream was called, or until the caller called
// resetStream(). Calls after that, within the same loop iteration, are ignored; later calls are
// use-after-free.
//
// Upgrades (HTTP/1): after a 101 (decodeHeaders with end_stream false) the request side is open
// again whatever was sent before: encodeData() carries the tunnel's bytes to the upstream and
// its end_stream half-closes the connection; the upstream's FIN ends the response. The two
// directions end independently, as through a TCP proxy: after the upstream's FIN the handle stays
// valid for the caller's bytes until its own end_stream (or a reset), and once both ended the
// connection sends what is queued and closes.
class StreamHandle : public http::RequestEncoder {
 public:
  // Abandons the stream (timeout, downstream gone): the connection is closed, never reused with
  // a half-done exchange. No callback follows.
  virtual void resetStream() = 0;
  // Reference-counted upstream read disabling for a slow downstream. Outstanding disables are
  // undone when the stream ends.
  virtual void readDisable(bool disable) = 0;
  // nullptr unregisters. Cleared automatically when the stream ends.
  virtual void setWatermarkCallbacks(StreamWatermarkCallbacks* callbacks) = 0;
  virtual const network::Connection& connection() const = 0;
};

using CodecFactory =
    std::function<std::unique_ptr<http::ClientConnection>(http::CodecTransport& transport)>;

// The HTTP/1 client codec (http::http1::ClientCodec).
CodecFactory http1CodecFactory();

enum class ClientCloseReason {
  kConnectFailure,  // never connected (refused, unreachable...)
  kConnectTimeout,  // never connected within connect_timeout
  kRemoteClose,     // upstream closed or reset
  kLocalClose,      // we closed it (reset, limit, drain, shutdown)
  kIdleTimeout,     // idle keep-alive connection expired
  kProtocolError,   // the codec rejected the upstream's bytes
};

struct PoolStats;  // conn_pool.h, which includes this file

// Counts a closed upstream connection by why it closed (every pool does the same).
void recordConnectionClose(PoolStats& stats, ClientCloseReason reason);

// The close reason of a connection that never connected (kConnectFailed).
ClientCloseReason connectFailureReason(const network::Connection& connection);

class CodecClient;

// Implemented by the pool.
class CodecClientCallbacks {
 public:
  virtual ~CodecClientCallbacks() = default;
  virtual void onClientConnected(CodecClient& client) = 0;
  // The stream ended, whatever the outcome; its resources can be released. Comes before
  // onClientReusable / onClientClosed.
  virtual void onClientStreamDetached(CodecClient& client) = 0;
  // The stream finished cleanly and the connection may carry another request.
  virtual void onClientReusable(CodecClient& client) = 0;
  // The connection is gone. `details` is Connection::failureReason() for connect failures.
  // The client must be handed to deferredDelete(), not destroyed inside this call.
  virtual void onClientClosed(CodecClient& client, ClientCloseReason reason,
                              std::string_view details) = 0;
};

class CodecClient final : public event::DeferredDeletable,
                          public StreamHandle,
                          public http::CodecTransport,
                          private network::ConnectionCallbacks,
                          private http::ResponseDecoder,
                          private UpstreamDataSink,
                          private event::WheelTimer {
 public:
  // Starts connecting to `host` right away.
  CodecClient(event::Dispatcher& dispatcher, HostConstSharedPtr host,
              std::chrono::milliseconds connect_timeout, const CodecFactory& codec_factory,
              CodecClientCallbacks& callbacks);
  // Takes over a connection another pool connected (auto protocol); connected() at once, and
  // no onClientConnected follows.
  CodecClient(event::Dispatcher& dispatcher, HostConstSharedPtr host,
              HandedOffConnection connection, const CodecFactory& codec_factory,
              CodecClientCallbacks& callbacks);
  // Closes the connection without calling anyone back.
  ~CodecClient() override;

  // Gives up a connected connection with no stream on it (to the other pool of an auto host);
  // the client is closed() afterwards and calls nobody back.
  HandedOffConnection handOff();

  // Starts a stream on a connected, idle client. Responses go to `decoder`; a connection lost
  // under the stream is reported to `stream_callbacks`.
  void startStream(http::ResponseDecoder& decoder, http::StreamCallbacks& stream_callbacks);

  // Closes the connection. An active stream is reset with `reason` / `details`.
  void close(http::StreamResetReason reason = http::StreamResetReason::kLocalReset,
             std::string_view details = "upstream_connection_closed");
  // Starts (or stops, with 0) the timer that closes an idle connection. It is on the timer
  // wheel: armed on every release to the pool, a uv timer cost a heap insert per request.
  void setIdleTimeout(std::chrono::milliseconds timeout);

  bool connected() const { return connected_; }
  bool closed() const { return closed_; }
  bool hasActiveStream() const { return stream_decoder_ != nullptr; }
  // Streams started on this connection so far (the current one included).
  uint64_t streamsStarted() const { return streams_started_; }
  const Host& host() const { return *host_; }

  // Where the owning pool keeps this client (O(1) removal).
  using PoolList = std::list<std::unique_ptr<CodecClient>>;
  PoolList::iterator pool_entry;

  // StreamHandle / http::RequestEncoder
  void encodeHeaders(const http::RequestHeaders& headers, bool end_stream) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void encodeTrailers(const http::TrailerMap& trailers) override;
  void resetStream() override;
  void readDisable(bool disable) override;
  void setWatermarkCallbacks(StreamWatermarkCallbacks* callbacks) override {
    watermark_callbacks_ = callbacks;
  }
  const network::Connection& connection() const override { return *connection_; }

  // http::CodecTransport
  void write(buffer::Buffer& data, bool end_stream) override;

 private:
  // network::ConnectionCallbacks
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // http::ResponseDecoder: wraps the caller's decoder to see where the response ends.
  void decode1xxHeaders(std::unique_ptr<http::ResponseHeaders> headers) override;
  void decodeHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) override;
  void decodeData(buffer::Buffer& data, bool end_stream) override;
  void decodeTrailers(std::unique_ptr<http::TrailerMap> trailers) override;

  // UpstreamDataSink
  void onUpstreamData(buffer::Buffer& data, bool end_stream) override;
  // event::WheelTimer: the idle timeout.
  void onWheelTimeout() override;
  void onConnectionClosed(network::ConnectionEvent event);
  // After the codec or the caller made progress: finishes the stream if both halves are done.
  void checkStreamComplete(bool leftover_input);
  // Forgets the caller's objects and undoes its read disables.
  void detachStream();
  void closeConnection(ClientCloseReason reason,
                       network::CloseType type = network::CloseType::kNoFlush);
  bool responseStarted() const;

  event::Dispatcher& dispatcher_;
  HostConstSharedPtr host_;
  CodecClientCallbacks& callbacks_;
  std::unique_ptr<network::Connection> connection_;
  UpstreamReadFilter* read_filter_ = nullptr;  // owned by connection_
  std::unique_ptr<http::ClientConnection> codec_;

  // The active stream (null when idle).
  http::ResponseDecoder* stream_decoder_ = nullptr;
  http::StreamCallbacks* stream_callbacks_ = nullptr;
  http::RequestEncoder* request_encoder_ = nullptr;
  StreamWatermarkCallbacks* watermark_callbacks_ = nullptr;
  StreamReadDisables stream_read_disables_;
  bool request_complete_ = false;
  bool response_complete_ = false;
  bool response_bytes_seen_ = false;
  // A 101 made the connection a byte tunnel: half-close enabled, each direction ends on its own.
  bool tunnel_ = false;

  // A reset requested while the codec is dispatching: the connection is closed once dispatch
  // returns, so the codec never sees its input buffer cleared under it.
  bool in_dispatch_ = false;
  bool close_after_dispatch_ = false;
  // Why we are closing, for the active stream's onResetStream.
  http::StreamResetReason close_reset_reason_ = http::StreamResetReason::kLocalReset;
  std::string close_reset_details_ = "upstream_connection_closed";
  ClientCloseReason close_reason_ = ClientCloseReason::kLocalClose;

  uint64_t streams_started_ = 0;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace podproxy::upstream
