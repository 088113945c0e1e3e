#include "proxy/http/http2/server_codec.h"

#include <string>
#include <utility>
#include <vector>

#include "proxy/common/block_cache.h"
#include "proxy/http/http2/headers.h"

namespace podproxy::http::http2 {

class ServerCodec::ServerStream final : public Session::Stream,
                                        public ResponseEncoder,
                                        public ThreadCached<ServerStream, 128> {
 public:
  ServerStream(ServerCodec& codec, int32_t id) : Stream(codec), codec_(codec) { id_ = id; }

  // Session::Stream
  bool onHeader(std::string_view name, std::string_view value) override {
    if (decoder_ != nullptr || delivered_) {
      // Trailers: nghttp2 has already refused pseudo-headers in them.
      trailers_.add(name, value);
      return true;
    }
    if (!name.empty() && name.front() == ':') {
      if (name == ":method") {
        headers_->method = value;
      } else if (name == ":scheme") {
        headers_->scheme = value;
      } else if (name == ":authority") {
        headers_->authority = value;
        has_authority_ = true;
      } else if (name == ":path") {
        headers_->path = value;
      } else if (name == ":protocol") {
        // nghttp2 allows it only on CONNECT, as we advertised (RFC 8441).
        headers_->upgrade = value;
      } else {
        return false;
      }
      return true;
    }
    if (name == "cookie") {
      // RFC 9113 8.2.3: crumbs are joined with "; " for HTTP/1 upstreams.
      if (!cookie_.empty()) cookie_ += "; ";
      cookie_.append(value);
      return true;
    }
    if (name == "host") {
      if (host_.empty()) host_ = value;
      return true;
    }
    headers_->headers.add(name, value);
    return true;
  }

  void onHeaders(bool end_stream) override {
    if (delivered_) {
      if (decoder_ != nullptr) {
        decoder_->decodeTrailers(std::make_unique<TrailerMap>(std::move(trailers_)));
      }
      return;
    }
    delivered_ = true;
    if (headers_->method == "CONNECT") {
      if (!headers_->upgrade.empty()) {
        // RFC 8441: an extended CONNECT is presented as the HTTP/1.1 Upgrade it stands for,
        // so routing, upgrade_types and HTTP/1 upstreams treat both alike.
        headers_->method = "GET";
        headers_->extended_connect = true;
        extended_connect_ = true;
      } else {
        connect_ = true;  // authority only (nghttp2 checked): a TCP tunnel request
      }
    } else {
      headers_->upgrade.clear();  // :protocol means nothing elsewhere (nghttp2 refuses it)
    }
    // RFC 9113 8.3.1: :authority wins; Host stands in when a client sent only that.
    if (!has_authority_) headers_->authority = host_;
    if (!cookie_.empty()) headers_->headers.add("cookie", cookie_);
    headers_->http_major = 2;
    headers_->http_minor = 0;
    head_request_ = headers_->method == "HEAD";
    decoder_ = &codec_.callbacks_.newStream(*this);
    decoder_->decodeHeaders(std::move(headers_), end_stream);
  }

  bool onData(buffer::Buffer& data, bool end_stream) override {
    if (decoder_ == nullptr) {
      data.clear();
      return false;
    }
    decoder_->decodeData(data, end_stream);
    // A tunnel whose response ended first is complete with the client's end.
    if (end_stream && half_close_ && local_end_ && !released_) finish();
    return true;
  }

  void onClose(uint32_t error_code) override {
    if (released_) return;
    RequestDecoder* decoder = decoder_;
    decoder_ = nullptr;
    if (decoder == nullptr && !response_started_) {
      // Never reached the manager (refused, malformed, too large).
      codec_.release(*this);
      return;
    }
    // Done; waits for the owner. (A tunnel's client that resets its open side is a reset.)
    if (local_end_ && error_code == NGHTTP2_NO_ERROR && (!half_close_ || remote_end_)) return;
    StreamCallbacks* callbacks = callbacks_;
    if (callbacks == nullptr) return;  // the owner ends the response into a closed stream
    codec_.release(*this);
    callbacks->onResetStream(StreamResetReason::kRemoteReset, nghttp2_http2_strerror(error_code));
  }

  // ResponseEncoder
  void encode100Continue() override {
    if (response_started_ || local_end_ || closed_ || released_) return;
    HeaderBlock block;
    block.addRef(":status", "100");
    nghttp2_submit_headers(codec_.session_, NGHTTP2_FLAG_NONE, id_, nullptr, block.data(),
                           block.size(), nullptr);
    codec_.sendSoon();
  }

  void encodeHeaders(const ResponseHeaders& headers, bool end_stream) override {
    if (response_started_ || released_) return;
    uint16_t status = headers.status;
    // A tunnel starts: the upstream's 101 to an extended CONNECT is RFC 8441's 200, and any 2xx
    // to a CONNECT opens one (RFC 9113 8.5). Its two directions end apart from now on.
    const bool tunnel =
        !end_stream && ((status == 101 && extended_connect_) || (connect_ && status / 100 == 2));
    if (tunnel && status == 101) status = 200;
    if (status / 100 == 1) {
      if (status == 101 || closed_) return;  // no Upgrade in HTTP/2
      HeaderBlock block;
      block.addStatus(status);
      block.addRegular(headers.headers, false, true);
      nghttp2_submit_headers(codec_.session_, NGHTTP2_FLAG_NONE, id_, nullptr, block.data(),
                             block.size(), nullptr);
      codec_.sendSoon();
      return;
    }
    response_started_ = true;
    no_body_ = head_request_ || status == 204 || status == 304;
    if (closed_) {
      if (end_stream) finish();
      return;
    }
    half_close_ = tunnel;
    HeaderBlock block;
    block.addStatus(status);
    // A tunnel's bytes have no length (RFC 9110 8.6: none on a 2xx to CONNECT).
    block.addRegular(headers.headers, false, status == 204 || tunnel);
    const bool end_now = end_stream || no_body_;
    if (end_now) local_end_ = true;
    nghttp2_data_provider provider = codec_.dataProvider();
    nghttp2_submit_response(codec_.session_, id_, block.data(), block.size(),
                            end_now ? nullptr : &provider);
    if (end_stream) finish();
    codec_.sendSoon();
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (released_ || !response_started_) {
      data.clear();
      return;
    }
    if (no_body_) {
      data.clear();
    } else {
      codec_.encodeData(*this, data, end_stream);
    }
    // A tunnel's response end is a half-close: the client's bytes still come until its own.
    if (end_stream && !(half_close_ && !remote_end_ && !closed_)) finish();
  }

  void encodeTrailers(const TrailerMap& trailers) override {
    if (released_ || !response_started_) return;
    if (!no_body_) codec_.encodeTrailers(*this, trailers);
    finish();
  }

  void setStreamCallbacks(StreamCallbacks* callbacks) override {
    if (!released_) callbacks_ = callbacks;
  }

  bool resetStream(StreamResetReason reason) override {
    decoder_ = nullptr;
    if (!released_) codec_.Session::resetStream(*this, resetReasonToErrorCode(reason));
    return true;
  }

  void readDisable(bool disable) override { codec_.Session::readDisable(*this, disable); }

  void abandonTunnelInput() override {
    if (!half_close_ || released_) return;
    half_close_ = false;
    // Before the response's end, that end finishes the stream (and a RST_STREAM NO_ERROR
    // follows its END_STREAM, as for any response that ends before its request).
    if (!local_end_) return;
    decoder_ = nullptr;
    if (nghttp2_session_get_stream_local_close(codec_.session_, id_) == 1) {
      // Our END_STREAM is out already: tell the client to stop now.
      codec_.Session::resetStream(*this, NGHTTP2_NO_ERROR);
      return;
    }
    codec_.release(*this);  // the END_STREAM still queued brings the RST_STREAM
  }

 private:
  // The response is complete from the owner's side: no more decoding for it either.
  void finish() {
    decoder_ = nullptr;
    codec_.release(*this);
  }

  ServerCodec& codec_;
  std::unique_ptr<RequestHeaders> headers_ = std::make_unique<RequestHeaders>();
  TrailerMap trailers_;
  std::string cookie_;
  std::string host_;
  RequestDecoder* decoder_ = nullptr;
  bool has_authority_ = false;
  bool extended_connect_ = false;
  bool connect_ = false;
  bool delivered_ = false;
  bool head_request_ = false;
  bool response_started_ = false;
  bool no_body_ = false;
};

ServerCodec::ServerCodec(CodecTransport& transport, ServerConnectionCallbacks& callbacks,
                         const Http2Settings& settings, CodecStats* stats,
                         event::Dispatcher* dispatcher)
    : Session(transport, settings, stats, /*server=*/true, dispatcher), callbacks_(callbacks) {}

void ServerCodec::shutdownNotice() {
  if (goaway_submitted_ || error_) return;
  nghttp2_submit_shutdown_notice(session_);
  sendPending();
}

Session::Stream* ServerCodec::newRemoteStream(int32_t id) {
  auto stream = std::make_unique<ServerStream>(*this, id);
  Stream* raw = stream.get();
  addStream(std::move(stream));
  return raw;
}

}  // namespace podproxy::http::http2
