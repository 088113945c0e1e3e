#pragma once

// Protocol-neutral codec interfaces. A codec turns bytes from one connection into decoded
// streams and encodes streams back into bytes. HTTP/1.1 (llhttp) implements them today; HTTP/2
// (nghttp2) implements the same interfaces, so the connection manager and router never see the
// wire protocol.
//
// Server side (downstream):  bytes -> ServerConnection -> RequestDecoder (connection manager)
//                            connection manager -> ResponseEncoder -> bytes
// Client side (upstream):    router -> RequestEncoder -> bytes
//                            bytes -> ClientConnection -> ResponseDecoder (router)

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/buffer/buffer.h"
#include "proxy/http/header_map.h"

namespace podproxy::http {

enum class Protocol { kHttp10, kHttp11, kHttp2 };
std::string_view protocolName(Protocol p);  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"

// Why a codec gave up on a connection. `status` is the local reply to send when a response can
// still be sent (400, 413, 431, 505...); after any CodecError the connection must be closed,
// because the framing of what follows is in doubt.
struct CodecError {
  uint16_t status = 400;
  std::string details;  // short reason, e.g. "http1.invalid_chunk_size"; goes in logs/stats
};

using CodecStatus = std::expected<void, CodecError>;

enum class StreamResetReason {
  kConnectFailure,         // upstream connect failed / refused
  kConnectionTermination,  // connection closed under the stream
  kLocalReset,             // we reset it
  kRemoteReset,            // peer reset it
  kOverflow,               // a limit was hit
  kProtocolError,          // peer violated the protocol
  // The peer cannot carry the stream: HTTP/2 extended CONNECT (RFC 8441) to a peer that did not
  // send SETTINGS_ENABLE_CONNECT_PROTOCOL=1. Nothing was sent; details say what was missing.
  kUnsupported,
};
std::string_view resetReasonName(StreamResetReason r);

// The bytes a codec produces go to a CodecTransport (the network connection in production,
// a recording fake in unit tests).
class CodecTransport {
 public:
  virtual ~CodecTransport() = default;
  // Queues `data` (drained) for sending. `end_stream` half-closes the write side after it.
  virtual void write(buffer::Buffer& data, bool end_stream) = 0;
};

class StreamCallbacks {
 public:
  virtual ~StreamCallbacks() = default;
  virtual void onResetStream(StreamResetReason reason, std::string_view details) = 0;
  // The stream's own send buffer (HTTP/2: body waiting for the peer's flow-control window) went
  // above its limit / back below half of it: the producer should pause / resume.
  virtual void onAboveWriteBufferHighWatermark() {}
  virtual void onBelowWriteBufferLowWatermark() {}
};

class RequestDecoder {
 public:
  virtual ~RequestDecoder() = default;
  virtual void decodeHeaders(std::unique_ptr<RequestHeaders> headers, bool end_stream) = 0;
  virtual void decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void decodeTrailers(std::unique_ptr<TrailerMap> trailers) = 0;
};

class ResponseEncoder {
 public:
  virtual ~ResponseEncoder() = default;
  virtual void encode100Continue() = 0;
  // Frames the response for the request's protocol: Content-Length when present, chunked when
  // the body length is unknown (HTTP/1.1), close-delimited for HTTP/1.0 peers.
  virtual void encodeHeaders(const ResponseHeaders& headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(const TrailerMap& trailers) = 0;

  // Multiplexing codecs (HTTP/2) only; HTTP/1 keeps these defaults and works per connection.
  // Who hears of the peer resetting this stream and of the stream's send-buffer watermarks.
  // nullptr unregisters. No callback comes after the stream ended or was reset locally.
  virtual void setStreamCallbacks(StreamCallbacks* callbacks) { (void)callbacks; }
  // Resets just this stream (RST_STREAM). Returns false when the protocol cannot (HTTP/1): the
  // caller then closes the connection.
  virtual bool resetStream(StreamResetReason reason) {
    (void)reason;
    return false;
  }
  // Reference-counted: stop / resume taking request body for this stream (HTTP/2: the
  // flow-control window is no longer returned to the peer, so it stops sending).
  virtual void readDisable(bool disable) { (void)disable; }
  // A tunnel's owner stops waiting for the client's end of it (the idle timeout ended the
  // tunnel): the stream ends with the response's end, and a client still sending is told to
  // stop (HTTP/2: RST_STREAM NO_ERROR after END_STREAM). HTTP/1 closes the connection instead.
  virtual void abandonTunnelInput() {}
};

class ServerConnectionCallbacks {
 public:
  virtual ~ServerConnectionCallbacks() = default;
  // A new request started; returns who decodes it. `encoder` lives until the response ends.
  virtual RequestDecoder& newStream(ResponseEncoder& encoder) = 0;
};

class ServerConnection {
 public:
  virtual ~ServerConnection() = default;
  // Parses as much of `data` as it can and drains what it consumed. HTTP/1 stops after each
  // complete request until the response to it has been encoded (pipelined requests wait in
  // `data`); call dispatch() again when that response is done.
  virtual CodecStatus dispatch(buffer::Buffer& data) = 0;
  // The peer closed its write side; completes a message delimited by close if one is open.
  virtual CodecStatus onEndOfInput() = 0;
  virtual Protocol protocol() const = 0;
  // True when a request is parsed but its response has not finished (HTTP/1 pipelining).
  virtual bool waitingForResponse() const = 0;
  // Whether the connection can carry another request after the current response.
  virtual bool keepAlive() const = 0;
  // Make the next response say "Connection: close" (draining, or limit reached). HTTP/2: sends
  // GOAWAY; streams in flight finish, no new one starts.
  virtual void setCloseAfterResponse() = 0;
  // HTTP/2 drain, first step: GOAWAY with the highest stream id, so the client stops opening
  // streams while those racing with it are still served. setCloseAfterResponse() follows.
  virtual void shutdownNotice() {}
  // Hands output the codec holds back (HTTP/2 batches it per I/O pass) to the transport now:
  // called before the connection is closed with a flush.
  virtual void flush() {}
  // Streams the codec holds open (HTTP/1: 0 or 1).
  virtual size_t activeStreams() const { return waitingForResponse() ? 1 : 0; }
  // The connection's write buffer went above its high watermark / below its low one. HTTP/2
  // stops producing frames meanwhile, so a peer that does not read cannot grow our memory
  // (its control frames queue in the codec, which has a bound).
  virtual void onUnderlyingConnectionAboveWriteBufferHighWatermark() {}
  virtual void onUnderlyingConnectionBelowWriteBufferLowWatermark() {}
};

class ResponseDecoder {
 public:
  virtual ~ResponseDecoder() = default;
  virtual void decode1xxHeaders(std::unique_ptr<ResponseHeaders> headers) = 0;
  virtual void decodeHeaders(std::unique_ptr<ResponseHeaders> headers, bool end_stream) = 0;
  virtual void decodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void decodeTrailers(std::unique_ptr<TrailerMap> trailers) = 0;
};

class RequestEncoder {
 public:
  virtual ~RequestEncoder() = default;
  // Frames the request: Content-Length when known, chunked when not, nothing without a body.
  virtual void encodeHeaders(const RequestHeaders& headers, bool end_stream) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void encodeTrailers(const TrailerMap& trailers) = 0;

  // Multiplexing codecs (HTTP/2) only, as for ResponseEncoder.
  virtual void setStreamCallbacks(StreamCallbacks* callbacks) { (void)callbacks; }
  virtual bool resetStream(StreamResetReason reason) {
    (void)reason;
    return false;
  }
  // Stop / resume taking response body for this stream (HTTP/2: flow-control window).
  virtual void readDisable(bool disable) { (void)disable; }
};

class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  // Starts a request whose response goes to `decoder`. HTTP/1 carries one at a time.
  virtual RequestEncoder& newStream(ResponseDecoder& decoder) = 0;
  virtual CodecStatus dispatch(buffer::Buffer& data) = 0;
  // The upstream closed: completes a close-delimited response, else reports an error.
  virtual CodecStatus onEndOfInput() = 0;
  virtual Protocol protocol() const = 0;
  // True once a response has started arriving for the current stream (retry decisions).
  virtual bool responseStarted() const = 0;
  // True when the last response completed and the connection may be reused.
  virtual bool reusable() const = 0;

  // Multiplexing (HTTP/2): how many streams the peer lets us open at once (its
  // SETTINGS_MAX_CONCURRENT_STREAMS), how many are open, and whether the peer sent GOAWAY (no
  // new stream may start; those in flight finish).
  virtual uint32_t maxConcurrentStreams() const { return 1; }
  virtual uint32_t activeStreams() const { return 0; }
  virtual bool goAwayReceived() const { return false; }
  // Sends GOAWAY: we open no more streams (pool drain).
  virtual void goAway() {}
  // Sends what the codec has queued (HTTP/2: the preface and SETTINGS once connected).
  virtual void flush() {}
};

}  // namespace podproxy::http
