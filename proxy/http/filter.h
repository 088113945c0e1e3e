#pragma once

// HTTP stream filters: the per-request chain the connection manager runs. Requests go
// first-to-last through decoder filters (the router is the last one); responses go
// last-to-first through encoder filters. A filter may stop iteration and resume it later,
// or answer locally.

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/buffer/buffer.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/header_map.h"
#include "proxy/http/stream_info.h"

namespace podproxy::network {
class Connection;
}

namespace podproxy::http {

enum class FilterHeadersStatus { kContinue, kStopIteration };
enum class FilterDataStatus {
  kContinue,
  kStopIterationAndBuffer,  // hold the data; it is handed on with continueDecoding()
  kStopIterationNoBuffer,   // the filter took the data (drained it) itself
};
enum class FilterTrailersStatus { kContinue, kStopIteration };

// Told when the downstream connection cannot take more response data, so an upstream reader
// can pause (and resume) instead of buffering without bound.
class DownstreamWatermarkCallbacks {
 public:
  virtual ~DownstreamWatermarkCallbacks() = default;
  virtual void onAboveWriteBufferHighWatermark() = 0;
  virtual void onBelowWriteBufferLowWatermark() = 0;
};

class StreamFilterCallbacks {
 public:
  virtual ~StreamFilterCallbacks() = default;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual network::Connection& connection() = 0;
  virtual StreamInfo& streamInfo() = 0;
  // Abort the downstream side without a clean end (RST): used when an upstream failed after
  // part of a response was already sent, so the client never mistakes it for a whole one.
  virtual void resetStream(std::string_view details) = 0;
};

class StreamDecoderFilterCallbacks : public StreamFilterCallbacks {
 public:
  virtual void continueDecoding() = 0;
  // Answers the request from here: the response still passes the encoder filters.
  virtual void sendLocalReply(uint16_t status, std::string_view body, std::string_view details,
                              const HeaderMap* extra_headers = nullptr) = 0;
  // Response headers/body/trailers from upstream, on their way to the client. After a 101 that
  // made the stream an HTTP/1 byte tunnel, the response's end_stream is a half-close: the stream
  // ends once the client's request data has ended too (decodeData with end_stream).
  virtual void encodeHeaders(std::unique_ptr<ResponseHeaders> headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(std::unique_ptr<TrailerMap> trailers) = 0;
  // A tunnel that must end both ways now (idle timeout), its client side open or not: what is
  // queued and a FIN go to the client, then the connection closes. Not a reset: an idle tunnel
  // ends like a closed one. Does nothing on a stream that is no tunnel.
  virtual void endTunnel() = 0;
  // True once response headers have gone to the encoder filters.
  virtual bool responseStarted() const = 0;
  // Flow control of the downstream side, reference-counted like Connection::readDisable.
  virtual void readDisableDownstream(bool disable) = 0;
  virtual void addDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) = 0;
  virtual void removeDownstreamWatermarkCallbacks(DownstreamWatermarkCallbacks& callbacks) = 0;
};

class StreamEncoderFilterCallbacks : public StreamFilterCallbacks {
 public:
  virtual void continueEncoding() = 0;
};

class StreamDecoderFilter {
 public:
  virtual ~StreamDecoderFilter() = default;
  virtual void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) = 0;
  virtual FilterHeadersStatus decodeHeaders(RequestHeaders& headers, bool end_stream) = 0;
  virtual FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual FilterTrailersStatus decodeTrailers(TrailerMap& trailers) = 0;
  // The stream is over (completed or reset); release upstream resources, cancel timers.
  virtual void onDestroy() {}
};

class StreamEncoderFilter {
 public:
  virtual ~StreamEncoderFilter() = default;
  virtual void setEncoderFilterCallbacks(StreamEncoderFilterCallbacks& callbacks) = 0;
  virtual FilterHeadersStatus encodeHeaders(ResponseHeaders& headers, bool end_stream) = 0;
  virtual FilterDataStatus encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual FilterTrailersStatus encodeTrailers(TrailerMap& trailers) = 0;
  virtual void onDestroy() {}
};

// Adds the filters of one stream, in order. The router must be added last.
class FilterChainFactoryCallbacks {
 public:
  virtual ~FilterChainFactoryCallbacks() = default;
  virtual void addDecoderFilter(std::unique_ptr<StreamDecoderFilter> filter) = 0;
  virtual void addEncoderFilter(std::unique_ptr<StreamEncoderFilter> filter) = 0;

  // Room inside the stream for a filter that lives exactly as long as the stream, so building
  // a chain costs no allocation of its own (see addDecoderFilterInPlace). nullptr when there is
  // none (left). A callbacks that hands out room must override addStreamOwnedDecoderFilter.
  virtual void* filterStorage(size_t /*size*/, size_t /*align*/) { return nullptr; }
  // Adds a filter constructed in filterStorage(): the stream runs its destructor, nobody frees
  // it. (The default is never reached, the default filterStorage() handing out nothing.)
  virtual void addStreamOwnedDecoderFilter(StreamDecoderFilter& filter) {
    filter.~StreamDecoderFilter();
  }
};

// Adds a T(args...) as the next decoder filter: in the stream's own storage when it has room,
// on the heap otherwise.
template <typename T, typename... Args>
void addDecoderFilterInPlace(FilterChainFactoryCallbacks& callbacks, Args&&... args) {
  if (void* storage = callbacks.filterStorage(sizeof(T), alignof(T))) {
    callbacks.addStreamOwnedDecoderFilter(*new (storage) T(std::forward<Args>(args)...));
    return;
  }
  callbacks.addDecoderFilter(std::make_unique<T>(std::forward<Args>(args)...));
}

class FilterChainFactory {
 public:
  virtual ~FilterChainFactory() = default;
  virtual void createFilterChain(FilterChainFactoryCallbacks& callbacks) = 0;
};

}  // namespace podproxy::http
