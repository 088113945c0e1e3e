#pragma once

// HTTP/2 client side of an upstream connection: many request streams multiplexed over one
// connection, within the peer's SETTINGS_MAX_CONCURRENT_STREAMS, flow-controlled (see Session).
// Upstream protocol errors are CodecError{502, ...}.
//
// Tunnels. An HTTP/1.1 Upgrade offer (a GET without body whose RequestHeaders::upgrade is set)
// goes out as the RFC 8441 extended CONNECT it stands for (:method CONNECT, :protocol, no
// Sec-WebSocket-Key), and a 2xx that keeps the stream open comes back as the 101 an HTTP/1.1
// server would have sent (Upgrade, and for WebSocket the Sec-WebSocket-Accept of the caller's
// key), so routers and HTTP/1 clients see one kind of upgrade whatever the upstream speaks. Other
// Upgrade offers go as plain requests (HTTP/2 has no Upgrade). A CONNECT goes as RFC 9113 8.5
// says (:authority only). Neither ends its request side with the head: the two directions end
// apart (END_STREAM each), and a response that ends first leaves the caller's side open.
// RFC 8441 3: the peer must have sent SETTINGS_ENABLE_CONNECT_PROTOCOL=1 first (nghttp2 1.52
// does not check it), so an extended CONNECT on a connection whose peer SETTINGS have not come
// yet waits for them; a peer without it fails the stream (StreamResetReason::kUnsupported).

#include <cstdint>
#include <vector>

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

  using Session::ping;
  using Session::stats;

  // Whether the peer's SETTINGS arrived and allow extended CONNECT (RFC 8441).
  bool peerSettingsReceived() const { return remote_settings_received_; }
  bool peerAcceptsExtendedConnect() const;

 private:
  class ClientStream;

  // Sends (or fails) the extended CONNECTs that waited for the peer's SETTINGS.
  void startWaitingStreams();

  Stream* newRemoteStream(int32_t) override { return nullptr; }  // no server push

  int32_t next_temp_key_ = 0;
  uint32_t active_ = 0;  // streams handed out and not yet finished
  std::vector<ClientStream*> waiting_for_settings_;
};

}  // namespace podproxy::http::http2
