#include "proxy/http/http2/client_codec.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <utility>

#include "proxy/http/http2/headers.h"

namespace podproxy::http::http2 {

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
    if (released_ || submitted_) return;
    submitted_ = true;
    HeaderBlock block;
    block.addRef(":method", headers.method);
    block.addRef(":scheme", headers.scheme.empty() ? std::string_view("http")
                                                   : std::string_view(headers.scheme));
    if (!headers.authority.empty()) block.addRef(":authority", headers.authority);
    if (headers.method != "CONNECT") {
      block.addRef(":path",
                   headers.path.empty() ? std::string_view("/") : std::string_view(headers.path));
    }
    block.addRegular(headers.headers, /*keep_te_trailers=*/true, false);
    if (end_stream) local_end_ = true;
    nghttp2_data_provider provider = codec_.dataProvider();
    const int32_t id = nghttp2_submit_request(codec_.session_, nullptr, block.data(), block.size(),
                                              end_stream ? nullptr : &provider, nullptr);
    if (id < 0) {
      StreamCallbacks* callbacks = callbacks_;
      decoder_ = nullptr;
      finishActive();
      codec_.release(*this);
      if (callbacks != nullptr) {
        callbacks->onResetStream(StreamResetReason::kConnectionTermination,
                                 "upstream_reset_before_response_started");
      }
      return;
    }
    codec_.rekey(*this, id);
    codec_.sendPending();
  }

  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (released_ || !submitted_) {
      data.clear();
      return;
    }
    codec_.encodeData(*this, data, end_stream);
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
    if (!released_) codec_.Session::resetStream(*this, resetReasonToErrorCode(reason));
    return true;
  }

  void readDisable(bool disable) override { codec_.Session::readDisable(*this, disable); }

 private:
  // The response ended: the caller is done with this stream. A request still being sent is
  // cut off (RST_STREAM NO_ERROR), as the server no longer needs it.
  void complete() {
    decoder_ = nullptr;
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

  ClientCodec& codec_;
  ResponseDecoder* decoder_;
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
  return status;
}

uint32_t ClientCodec::maxConcurrentStreams() const {
  const uint32_t peer =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return std::min(peer, settings_.max_concurrent_streams);
}

}  // namespace podproxy::http::http2
