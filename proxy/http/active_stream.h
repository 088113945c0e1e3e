#pragma once

// One request/response exchange on a downstream connection: decodes the request through the
// HTTP filter chain (first to last, router last) and encodes the response back through it
// (last to first), with stop/continue iteration and local replies.

#include <memory>
#include <vector>

#include "proxy/http/codec.h"
#include "proxy/http/filter.h"
#include "proxy/http/stream_info.h"

namespace podproxy::http {

class ConnectionManager;

class ActiveStream final : public RequestDecoder,
                           public StreamCallbacks,
                           public StreamDecoderFilterCallbacks,
                           public StreamEncoderFilterCallbacks,
                           public FilterChainFactoryCallbacks,
                           public event::DeferredDeletable {
 public:
  ActiveStream(ConnectionManager& manager, ResponseEncoder& encoder);
  ~ActiveStream() override;

  // RequestDecoder (from the codec)
  void decodeHeaders(std::unique_ptr<RequestHeaders> headers, bool end_stream) override;
  void decodeData(buffer::Buffer& data, bool end_stream) override;
  void decodeTrailers(std::unique_ptr<TrailerMap> trailers) override;

  // StreamCallbacks (from a multiplexing codec): the client reset this stream, or the stream's
  // own send buffer crossed its watermarks.
  void onResetStream(StreamResetReason reason, std::string_view details) override;
  void onAboveWriteBufferHighWatermark() override { onDownstreamAboveHighWatermark(); }
  void onBelowWriteBufferLowWatermark() override { onDownstreamBelowLowWatermark(); }

  // StreamFilterCallbacks
  event::Dispatcher& dispatcher() override;
  network::Connection& connection() override;
  StreamInfo& streamInfo() override { return info_; }
  void resetStream(std::string_view details) override;

  // StreamDecoderFilterCallbacks
  void continueDecoding() override;
  void sendLocalReply(uint16_t status, std::string_view body, std::string_view details,
                      const HeaderMap* extra_headers = nullptr) override;
  void encodeHeaders(std::unique_ptr<ResponseHeaders> headers, bool end_stream) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void encodeTrailers(std::unique_ptr<TrailerMap> trailers) override;
  bool responseStarted() const override { return response_headers_sent_; }
  void readDisableDownstream(bool disable) override;
  void addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override;
  void removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override;

  // StreamEncoderFilterCallbacks
  void continueEncoding() override;

  // FilterChainFactoryCallbacks
  void addDecoderFilter(std::unique_ptr<StreamDecoderFilter> filter) override;
  void addEncoderFilter(std::unique_ptr<StreamEncoderFilter> filter) override;

  // From the connection manager.
  void onDownstreamAboveHighWatermark();
  void onDownstreamBelowLowWatermark();
  // The downstream connection went away under the stream.
  void onConnectionClosed();
  // Runs onDestroy() on every filter once; the connection must still be alive.
  void destroyFilters();
  bool requestComplete() const { return request_complete_; }
  bool responseComplete() const { return response_complete_; }

 private:
  void prepareRequest(RequestHeaders& headers);
  void runDecodeHeaders(size_t from);
  void runDecodeData(size_t from, buffer::Buffer& data, bool end_stream);
  size_t decodeEnd() const;
  void runDecodeTrailers();
  void runEncodeHeaders(size_t from);
  void runEncodeData(size_t from, buffer::Buffer& data, bool end_stream);
  void runEncodeTrailers();
  // One past the last encoder filter that may see response body and trailers now.
  size_t encodeEnd() const;
  void finishResponse();
  void recordResponseCode(uint16_t status);
  void onRequestTimeout();

  ConnectionManager& manager_;
  ResponseEncoder& encoder_;
  StreamInfo info_;
  std::unique_ptr<RequestHeaders> request_headers_;
  std::unique_ptr<TrailerMap> request_trailers_;
  std::unique_ptr<ResponseHeaders> response_headers_;
  std::unique_ptr<TrailerMap> response_trailers_;

  std::vector<std::unique_ptr<StreamDecoderFilter>> decoder_filters_;
  std::vector<std::unique_ptr<StreamEncoderFilter>> encoder_filters_;  // response order
  std::vector<DownstreamWatermarkCallbacks*> watermark_callbacks_;
  std::unique_ptr<event::Timer> request_timer_;  // request_timeout: the whole request must arrive

  // Decode iteration state: where it stopped and what was held back meanwhile.
  size_t decode_stopped_at_ = 0;
  bool decode_stopped_ = false;
  bool decode_stopped_on_headers_ = false;
  bool decode_headers_end_stream_ = false;
  buffer::Buffer decode_buffered_;
  bool decode_buffered_end_ = false;
  size_t decode_trailers_next_ = 0;  // the first filter that has not seen the trailers
  // Encode iteration state.
  size_t encode_stopped_at_ = 0;
  bool encode_stopped_ = false;
  bool encode_stopped_on_headers_ = false;
  bool encode_headers_end_stream_ = false;
  buffer::Buffer encode_buffered_;
  bool encode_buffered_end_ = false;
  size_t encode_trailers_next_ = 0;  // the first encoder filter that has not seen the trailers

  uint32_t downstream_read_disables_ = 0;
  // HTTP/2: read disabling and resets are per stream (the encoder's), not the connection's.
  const bool multiplexed_;
  bool request_complete_ = false;
  bool response_headers_sent_ = false;  // reached the encoder filters
  bool response_complete_ = false;
  bool local_reply_sent_ = false;
  bool destroyed_ = false;
  bool head_request_ = false;
};

}  // namespace podproxy::http
