#pragma once

// HTTP/2 client side of an upstream connection: many request streams multiplexed over one
// connection, within the peer's SETTINGS_MAX_CONCURRENT_STREAMS, flow-controlled (see Session).
// Upstream protocol errors are CodecError{502, ...}.

#include <cstdint>

#include "proxy/buffer/buffer.h"
#include "proxy/http/codec.h"
#include "proxy/http/http2/session.h"
#include "proxy/http/http2/settings.h"

namespace podproxy::http::http2 {

class ClientCodec final : public ClientConnection, private Session {
 public:
  explicit ClientCodec(CodecTransport& transport, const Http2Settings& settings = {},
                       CodecStats* stats = nullptr);

  // The stream gets its id when its headers are encoded. A reset before the response ended is
  // reported to the StreamCallbacks set on the encoder (RequestEncoder::setStreamCallbacks).
  RequestEncoder& newStream(ResponseDecoder& decoder) override;
  CodecStatus dispatch(buffer::Buffer& data) override;
  // The pool resets the streams of a closed connection itself.
  CodecStatus onEndOfInput() override { return {}; }
  Protocol protocol() const override { return Protocol::kHttp2; }
  bool responseStarted() const override { return false; }
  bool reusable() const override { return !goaway_received_ && !goaway_submitted_ && !error_; }
  uint32_t maxConcurrentStreams() const override;
  uint32_t activeStreams() const override { return active_; }
  bool goAwayReceived() const override { return goaway_received_; }
  void goAway() override { Session::goAway(NGHTTP2_NO_ERROR); }
  void flush() override { sendPending(); }

  using Session::stats;

 private:
  class ClientStream;

  Stream* newRemoteStream(int32_t) override { return nullptr; }  // no server push

  int32_t next_temp_key_ = 0;
  uint32_t active_ = 0;  // streams handed out and not yet finished
};

}  // namespace podproxy::http::http2
