#pragma once

// One request/response exchange on a downstream connection: decodes the request through the
// HTTP filter chain (first to last, router last) and encodes the response back through it
// (last to first), with stop/continue iteration and local replies. After a 101 (HTTP/1 Upgrade,
// or HTTP/2 extended CONNECT) or a 2xx to a CONNECT the exchange is a byte tunnel that ends when
// both directions have.

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "proxy/common/block_cache.h"
#include "proxy/event/timer_wheel.h"
#include "proxy/http/codec.h"
#include "proxy/http/filter.h"
#include "proxy/http/stream_info.h"

namespace podproxy::http {

class ConnectionManager;
class StreamList;

// Pointers kept inline up to N (a stream has a few filters and watermark callbacks), spilling to
// the heap beyond; so a typical stream's lists cost no allocation.
template <typename T, size_t N>
class SmallPtrList {
 public:
  void push_back(T* p) {
    if (size_ < N) {
      inline_[size_] = p;
    } else {
      more_.push_back(p);
    }
    ++size_;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* operator[](size_t i) const { return i < N ? inline_[i] : more_[i - N]; }
  void erase(T* p) {
    for (size_t i = 0; i < size_; ++i) {
      if ((*this)[i] != p) continue;
      for (size_t j = i + 1; j < size_; ++j) at(j - 1) = (*this)[j];
      --size_;
      if (size_ >= N) more_.pop_back();
      return;
    }
  }
  void clear() {
    size_ = 0;
    more_.clear();
  }

 private:
  T*& at(size_t i) { return i < N ? inline_[i] : more_[i - N]; }

  std::array<T*, N> inline_{};
  size_t size_ = 0;
  std::vector<T*> more_;
};

class ActiveStream final : public RequestDecoder,
                           public StreamCallbacks,
                           public StreamDecoderFilterCallbacks,
                           public StreamEncoderFilterCallbacks,
                           public FilterChainFactoryCallbacks,
                           public event::DeferredDeletable,
                           // Streams come and go with every request: their memory is recycled
                           // per thread instead of going through malloc each time.
                           public ThreadCached<ActiveStream, 128>,
                           private event::WheelTimer {
 public:
  ActiveStream(ConnectionManager& manager, ResponseEncoder& encoder);
  ~ActiveStream() override;
  // Room for the filters of a typical chain (tracing, authz, router: 464 bytes today), so
  // building it costs no allocation.
  static constexpr size_t kFilterStorageBytes = 512;

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
  void endTunnel() override;
  void readDisableDownstream(bool disable) override;
  void addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override;
  void removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) override;

  // StreamEncoderFilterCallbacks
  void continueEncoding() override;

  // FilterChainFactoryCallbacks
  void addDecoderFilter(std::unique_ptr<StreamDecoderFilter> filter) override;
  void addEncoderFilter(std::unique_ptr<StreamEncoderFilter> filter) override;
  void* filterStorage(size_t size, size_t align) override;
  void addStreamOwnedDecoderFilter(StreamDecoderFilter& filter) override;

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
  // Whether a response with `status` (not ending the stream) turns the exchange into a tunnel.
  bool opensTunnel(uint16_t status) const;
  void recordResponseCode(uint16_t status);
  void onRequestTimeout();
  // event::WheelTimer: request_timeout.
  void onWheelTimeout() override { onRequestTimeout(); }
  StreamDecoderFilter& decoderFilter(size_t i) const { return *decoder_filters_[i]; }
  // Encoder filters run last-added first.
  StreamEncoderFilter& encoderFilter(size_t i) const {
    return *encoder_filters_[encoder_filters_.size() - 1 - i];
  }
  // Runs the filters' destructors and frees the heap ones; the stream's members still live.
  void deleteFilters();

  ConnectionManager& manager_;
  ResponseEncoder& encoder_;
  StreamInfo info_;
  std::unique_ptr<RequestHeaders> request_headers_;
  std::unique_ptr<TrailerMap> request_trailers_;
  std::unique_ptr<ResponseHeaders> response_headers_;
  std::unique_ptr<TrailerMap> response_trailers_;

  // Filters in the order added. Those built in filter_storage_ (owned_in_place_ bit i of the
  // decoder list) are destroyed, not freed; the rest were allocated and are deleted.
  SmallPtrList<StreamDecoderFilter, 4> decoder_filters_;
  SmallPtrList<StreamEncoderFilter, 2> encoder_filters_;
  uint64_t owned_in_place_ = 0;
  SmallPtrList<DownstreamWatermarkCallbacks, 2> watermark_callbacks_;
  size_t filter_storage_used_ = 0;
  alignas(16) std::byte filter_storage_[kFilterStorageBytes];
  // The connection manager's list of its streams (StreamList).
  friend class StreamList;
  ActiveStream* list_prev_ = nullptr;
  ActiveStream* list_next_ = nullptr;

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
  // A tunnel (a 101, or a 2xx to a CONNECT, went out): the response's end is only a half-close,
  // and the stream completes once the client's bytes have ended too. Cleared by endTunnel().
  bool wait_for_request_end_ = false;
  bool destroyed_ = false;
  bool head_request_ = false;
};

}  // namespace podproxy::http
