#include "proxy/http/http2/client_codec.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <utility>

#include "proxy/http/http1/header_rules.h"
#include "proxy/http/http2/headers.h"
#include "proxy/http/websocket_handshake.h"

namespace podproxy::http::http2 {

namespace {
constexpr std::string_view kNoExtendedConnect =
    "upstream does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)";
}  // namespace

class ClientCodec::ClientStream final : public Session::Stream, public RequestEncoder {
 public:
  ClientStream(ClientCodec& codec, ResponseDecoder& decoder, int32_t temp_key)
      : Stream(codec), codec_(codec), decoder_(&decoder) {
    id_ = temp_key;
  }

  // Session::Stream
  bool onHeader(std::string_view name, std::string_view value) override {
    if (!block_) block_ = std::make_unique<ResponseHeaders>();
    if (name == ":status") {
      if (final_seen_) return false;
      uint16_t status = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), status);
      if (ec != std::errc() || end != value.data() + value.size()) return false;
      block_->status = status;
      return true;
    }
    if (!name.empty() && name.front() == ':') return false;
    block_->headers.add(name, value);
    return true;
  }

  void onHeaders(bool end_stream) override {
    std::unique_ptr<ResponseHeaders> block = std::move(block_);
    if (decoder_ == nullptr) return;
    // A block without fields (empty trailers) made none in onHeader.
    if (block == nullptr) block = std::make_unique<ResponseHeaders>();
    if (final_seen_) {
      auto trailers = std::make_unique<TrailerMap>(std::move(block->headers));
      ResponseDecoder* decoder = decoder_;
      complete();
      decoder->decodeTrailers(std::move(trailers));
      return;
    }
    if (block->status / 100 == 1) {
      decoder_->decode1xxHeaders(std::move(block));
      return;
    }
    final_seen_ = true;
    if (tunnel_ != nullptr && block->status / 100 == 2 && !end_stream) {
      // The tunnel is open (RFC 8441 5, RFC 9113 8.5): its directions end apart from now on.
      half_close_ = true;
      if (!tunnel_->protocol.empty()) {
        // What an HTTP/1.1 server would have said to the Upgrade this stands for.
        block->status = 101;
        block->headers.set("upgrade", tunnel_->protocol);
        if (!tunnel_->accept.empty()) block->headers.set("sec-websocket-accept", tunnel_->accept);
      }
    }
    ResponseDecoder* decoder = decoder_;
    if (end_stream) complete();
    decoder->decodeHeaders(std::move(block), end_stream);
  }

  bool onData(buffer::Buffer& data, bool end_stream) override {
    if (decoder_ == nullptr) {
      data.clear();
      return false;
    }
    ResponseDecoder* decoder = decoder_;
    if (end_stream) complete();
    decoder->decodeData(data, end_stream);
    return true;
  }

  void onClose(uint32_t error_code) override {
    if (released_) return;
    if (decoder_ == nullptr && half_close_ && error_code == NGHTTP2_NO_ERROR && remote_end_ &&
        local_end_) {
      // A tunnel whose two ends both came: nothing to report.
      finishActive();
      codec_.release(*this);
      return;
    }
    decoder_ = nullptr;
    StreamCallbacks* callbacks = callbacks_;
    finishActive();
    codec_.release(*this);
    if (callbacks == nullptr) return;
    // A refused stream (or one beyond the GOAWAY's last id) was never processed: safe to retry
    // elsewhere, as a keep-alive race is for HTTP/1.
    if (error_code == NGHTTP2_REFUSED_STREAM && !final_seen_) {
      callbacks->onResetStream(StreamResetReason::kConnectionTermination,
                               "upstream_reset_before_response_started");
      return;
    }
    callbacks->onResetStream(
        StreamResetReason::kRemoteReset,
        std::string("upstream_rst_stream: ") + nghttp2_http2_strerror(error_code));
  }

  // RequestEncoder
  void encodeHeaders(const RequestHeaders& headers, bool end_stream) override {
    if (released_ || submitted_ || waiting()) return;
    const bool connect = headers.method == "CONNECT";
    // A GET without body offering an Upgrade is what RFC 8441's extended CONNECT stands for;
    // other offers have no HTTP/2 form and go as the plain request.
    const bool extended =
        !connect && !headers.upgrade.empty() && end_stream && headers.method == "GET";
    if (connect || extended) {
      tunnel_ = std::make_unique<Tunnel>();
      if (extended) {
        // RFC 8441's :protocol: the offer's first protocol, a token, in lower case.
        tunnel_->protocol = toLower(http1::firstUpgradeProtocol(headers.upgrade));
        if (tunnel_->protocol == "websocket") {
          if (const std::string_view* key = headers.headers.get("sec-websocket-key")) {
            tunnel_->accept = webSocketAccept(*key);
          }
        }
        if (!codec_.peerSettingsReceived()) {
          // RFC 8441 3: not before the peer said it accepts them.
          tunnel_->held = std::make_unique<RequestHeaders>(headers);
          codec_.waiting_for_settings_.push_back(this);
          return;
        }
        if (!codec_.peerAcceptsExtendedConnect()) {
          failUnsupported();
          return;
        }
      }
    }
    submit(headers, end_stream);
    codec_.sendPending();
  }

  // The peer's SETTINGS came while this extended CONNECT waited for them.
  void onPeerSettings() {
    std::unique_ptr<RequestHeaders> held = std::move(tunnel_->held);
    if (released_) return;
    if (!codec_.peerAcceptsExtendedConnect()) {
      failUnsupported();
      return;
    }
    submit(*held, true);
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (released_ || (!submitted_ && !waiting())) {
      data.clear();
      return;
    }
    // A waiting stream keeps the bytes in its send buffer until it is submitted.
    codec_.encodeData(*this, data, end_stream);
    if (end_stream && half_close_ && decoder_ == nullptr && !released_) {
      // The tunnel's response ended first: with the caller's end, it is done with the stream.
      finishActive();
      codec_.release(*this);
    }
  }

  void encodeTrailers(const TrailerMap& trailers) override {
    if (released_ || !submitted_) return;
    codec_.encodeTrailers(*this, trailers);
  }

  void setStreamCallbacks(StreamCallbacks* callbacks) override {
    if (!released_) callbacks_ = callbacks;
  }

  bool resetStream(StreamResetReason reason) override {
    decoder_ = nullptr;
    finishActive();
    if (waiting()) {
      std::erase(codec_.waiting_for_settings_, this);
      tunnel_->held.reset();
    }
    // Never submitted: nghttp2 never knew it, so nothing will close it but us.
    if (!submitted_) closed_ = true;
    if (!released_) codec_.Session::resetStream(*this, resetReasonToErrorCode(reason));
    return true;
  }

  void readDisable(bool disable) override { codec_.Session::readDisable(*this, disable); }

 private:
  // Headers, and a data provider unless they end the request. A tunnel's head never does.
  void submit(const RequestHeaders& headers, bool end_stream) {
    submitted_ = true;
    const bool connect = tunnel_ != nullptr && tunnel_->protocol.empty();
    const bool extended = tunnel_ != nullptr && !connect;
    HeaderBlock block;
    block.addRef(":method",
                 extended ? std::string_view("CONNECT") : std::string_view(headers.method));
    if (extended) block.addRef(":protocol", tunnel_->protocol);
    if (!connect) {
      // RFC 9113 8.5: a CONNECT names its target in :authority alone.
      block.addRef(":scheme", headers.scheme.empty() ? std::string_view("http")
                                                     : std::string_view(headers.scheme));
      block.addRef(":path",
                   headers.path.empty() ? std::string_view("/") : std::string_view(headers.path));
    }
    if (!headers.authority.empty()) block.addRef(":authority", headers.authority);
    // RFC 8441 5: :protocol replaces the RFC 6455 key (the accept is computed here instead).
    block.addRegular(headers.headers, /*keep_te_trailers=*/true, false,
                     extended ? std::string_view("sec-websocket-key") : std::string_view());
    const bool end = end_stream && tunnel_ == nullptr;
    if (end) local_end_ = true;
    nghttp2_data_provider provider = codec_.dataProvider();
    const int32_t id = nghttp2_submit_request(codec_.session_, nullptr, block.data(), block.size(),
                                              end ? nullptr : &provider, nullptr);
    if (id < 0) {
      failUnsent(StreamResetReason::kConnectionTermination,
                 "upstream_reset_before_response_started");
      return;
    }
    codec_.rekey(*this, id);
  }

  // The peer does not take extended CONNECT.
  void failUnsupported() { failUnsent(StreamResetReason::kUnsupported, kNoExtendedConnect); }

  // The stream ends before nghttp2 knew it (nothing was sent), and its owner hears why.
  void failUnsent(StreamResetReason reason, std::string_view details) {
    StreamCallbacks* callbacks = callbacks_;
    decoder_ = nullptr;
    finishActive();
    closed_ = true;  // nghttp2 never opened it: nothing else will close it
    codec_.release(*this);
    if (callbacks != nullptr) callbacks->onResetStream(reason, details);
  }

  bool waiting() const { return tunnel_ != nullptr && tunnel_->held != nullptr; }

  // The response ended: the caller is done with this stream. A request still being sent is
  // cut off (RST_STREAM NO_ERROR), as the server no longer needs it; an open tunnel's is not
  // (its caller ends it with encodeData).
  void complete() {
    decoder_ = nullptr;
    if (half_close_ && !local_end_) return;
    finishActive();
    if (!local_end_ && submitted_) {
      codec_.Session::resetStream(*this, NGHTTP2_NO_ERROR);
      return;
    }
    codec_.release(*this);
  }

  void finishActive() {
    if (counted_) {
      counted_ = false;
      --codec_.active_;
    }
  }

  // CONNECT and extended CONNECT only, so other streams carry one pointer for it.
  struct Tunnel {
    std::string protocol;                  // :protocol sent (extended CONNECT); empty for a CONNECT
    std::string accept;                    // Sec-WebSocket-Accept for the caller's key (WebSocket)
    std::unique_ptr<RequestHeaders> held;  // the head, while waiting for the peer's SETTINGS
  };

  ClientCodec& codec_;
  ResponseDecoder* decoder_;
  std::unique_ptr<Tunnel> tunnel_;
  // The header block being received; made by its first field, so a response without
  // trailers costs one block, not a spare one for the trailers that never come.
  std::unique_ptr<ResponseHeaders> block_;
  bool submitted_ = false;
  bool final_seen_ = false;
  bool counted_ = true;  // in the codec's active_
};

ClientCodec::ClientCodec(CodecTransport& transport, const Http2Settings& settings,
                         CodecStats* stats)
    : Session(transport, settings, stats, /*server=*/false) {}

RequestEncoder& ClientCodec::newStream(ResponseDecoder& decoder) {
  auto stream = std::make_unique<ClientStream>(*this, decoder, --next_temp_key_);
  ClientStream& ref = *stream;
  ++active_;
  ++stats_->streams_total;
  addStream(std::move(stream));
  return ref;
}

CodecStatus ClientCodec::dispatch(buffer::Buffer& data) {
  CodecStatus status = dispatchInput(data);
  if (!status) return std::unexpected(CodecError{502, status.error().details});
  if (!waiting_for_settings_.empty() && remote_settings_received_) startWaitingStreams();
  return status;
}

bool ClientCodec::peerAcceptsExtendedConnect() const {
  return remote_settings_received_ && nghttp2_session_get_remote_settings(
                                          session_, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

void ClientCodec::startWaitingStreams() {
  // Outside nghttp2's callbacks: a failed stream's owner may answer, or reset others, at once.
  std::vector<ClientStream*> waiting = std::move(waiting_for_settings_);
  waiting_for_settings_.clear();
  for (ClientStream* stream : waiting) stream->onPeerSettings();
  sendPending();
}

uint32_t ClientCodec::maxConcurrentStreams() const {
  const uint32_t peer =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return std::min(peer, settings_.max_concurrent_streams);
}

}  // namespace podproxy::http::http2
