#pragma once

// HTTP/2 server side of a downstream connection (h2 after ALPN, or h2c with prior knowledge):
// each request stream becomes a RequestDecoder from the connection manager, and the responses
// are framed back as HEADERS / DATA / trailers, multiplexed and flow-controlled (see Session).

#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http2/session.h"
#include "proxy/http/http2/settings.h"

namespace podproxy::http::http2 {

// The 24 bytes an HTTP/2 client sends first (RFC 9113 3.4): how h2c prior knowledge is told
// apart from HTTP/1.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class ServerCodec final : public ServerConnection, private Session {
 public:
  // `stats` (per worker, may be shared) is optional; `dispatcher` batches output per I/O pass.
  ServerCodec(CodecTransport& transport, ServerConnectionCallbacks& callbacks,
              const Http2Settings& settings, CodecStats* stats = nullptr,
              event::Dispatcher* dispatcher = nullptr);

  CodecStatus dispatch(buffer::Buffer& data) override { return dispatchInput(data); }
  // Streams in flight cannot receive more; the manager decides when to close.
  CodecStatus onEndOfInput() override { return {}; }
  Protocol protocol() const override { return Protocol::kHttp2; }
  bool waitingForResponse() const override { return false; }
  bool keepAlive() const override { return !goaway_submitted_ && !error_; }
  // GOAWAY with the last stream we processed: those finish, no new one starts.
  void setCloseAfterResponse() override { goAway(NGHTTP2_NO_ERROR); }
  void shutdownNotice() override;
  void flush() override { sendPending(); }
  size_t activeStreams() const override { return openStreams(); }
  void onUnderlyingConnectionAboveWriteBufferHighWatermark() override { setWritePaused(true); }
  void onUnderlyingConnectionBelowWriteBufferLowWatermark() override { setWritePaused(false); }

  using Session::ping;
  using Session::stats;

 private:
  class ServerStream;

  Stream* newRemoteStream(int32_t id) override;

  ServerConnectionCallbacks& callbacks_;
};

}  // namespace podproxy::http::http2
