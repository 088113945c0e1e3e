#pragma once

// The part of an HTTP/2 connection both codecs share: an nghttp2 session driven purely in
// memory, flow control by hand, streams and their send buffers, and the flood guards.
//
// nghttp2 here is Debian 12's 1.52, which predates nghttp2_session_mem_recv2/mem_send2 (1.58):
// we use nghttp2_session_mem_recv / mem_send, the same calls with ssize_t results.
//
// Flow control. Automatic WINDOW_UPDATEs are off: a DATA frame's bytes are returned to the
// peer (nghttp2_session_consume) only after the decoder has taken them and while the stream is
// not read-disabled. A downstream reader that stops makes the router readDisable() the stream,
// the window closes, and the writer stops: nothing buffers beyond one window per stream.
// Outbound, a stream's body waits in its own buffer for the peer's window; past
// stream_buffer_limit_bytes its producer is told to pause (StreamCallbacks watermarks).
//
// Stream lifetime. A Stream lives until nghttp2 closed it *and* its owner is done with it
// (response finished, reset by the owner, or a reset reported to it). Only then does it move
// to a graveyard emptied at the start of the next dispatch(), so an encoder reference held on
// the caller's stack never dangles.
//
// Output. Frames a stream submits while the loop is handling other I/O (responses arriving from
// upstreams) are serialized once, after the I/O pass, when the session has a dispatcher: one
// nghttp2_session_mem_send run and one transport write for all of them instead of one per
// frame. While two or more streams are open, that waits for one more (non-blocking) poll, so
// the other streams' output that it brings leaves in the same write. Control frames (GOAWAY,
// RST_STREAM, WINDOW_UPDATE) and input handling flush at once.

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/buffer/buffer.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/http/header_map.h"
#include "proxy/http/http2/settings.h"

namespace podproxy::http::http2 {

class Session : private event::PostIoCallback {
 public:
  virtual ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const CodecStats& stats() const { return *stats_; }
  // Streams not yet closed by nghttp2.
  size_t openStreams() const;

 protected:
  class Stream {
   public:
    explicit Stream(Session& session) : session_(session) {}
    virtual ~Stream() = default;

    int32_t id() const { return id_; }

    // Receive side, called by the session from nghttp2's callbacks.
    // A header field of the block being received; false resets the stream.
    virtual bool onHeader(std::string_view name, std::string_view value) = 0;
    // A complete header block (HEADERS + CONTINUATIONs).
    virtual void onHeaders(bool end_stream) = 0;
    // Body; returns false when nobody takes it any more (the window is returned at once).
    virtual bool onData(buffer::Buffer& data, bool end_stream) = 0;
    // nghttp2 closed the stream (both ends done, or reset either way).
    virtual void onClose(uint32_t error_code) = 0;

    Session& session_;
    int32_t id_ = -1;
    StreamCallbacks* callbacks_ = nullptr;
    // Header block being received.
    size_t header_bytes_ = 0;
    size_t header_count_ = 0;
    bool header_overflow_ = false;
    buffer::Buffer recv_;
    uint32_t consecutive_empty_data_ = 0;
    // Flow control of what we receive.
    uint32_t read_disables_ = 0;
    size_t unconsumed_ = 0;
    // Send side: body and trailers waiting for the peer's window.
    buffer::Buffer send_;
    bool send_end_ = false;  // no more body will be added
    std::optional<HeaderMap> send_trailers_;
    bool data_deferred_ = false;  // the data provider returned NGHTTP2_ERR_DEFERRED
    bool above_watermark_ = false;
    bool local_end_ = false;   // END_STREAM queued (headers, data or trailers)
    bool remote_end_ = false;  // END_STREAM received
    bool closed_ = false;      // nghttp2 closed it
    bool released_ = false;    // the owner is done with it
    bool reset_sent_ = false;
    // A tunnel (CONNECT, RFC 8441): the two directions end apart, so a response that ends
    // first does not cut the request short (no RST_STREAM NO_ERROR after our END_STREAM).
    bool half_close_ = false;
  };

  // `dispatcher` (optional) defers stream output to the end of the I/O pass (see Output above).
  Session(CodecTransport& transport, const Http2Settings& settings, CodecStats* stats, bool server,
          event::Dispatcher* dispatcher = nullptr);

  // Feeds input to nghttp2 and sends what it produced. Errors end the connection (a GOAWAY
  // has been queued and flushed when one makes sense).
  CodecStatus dispatchInput(buffer::Buffer& data);
  // Flushes nghttp2's output to the transport (not from inside nghttp2's callbacks, nor while
  // the connection's write buffer is above its high watermark).
  void sendPending();
  // sendPending() after the current I/O pass, or now without a dispatcher. Whoever closes the
  // connection with a flush calls sendPending() first.
  void sendSoon();
  void setWritePaused(bool paused);

  // Send side helpers for the codecs.
  // A provider for a body that follows the headers.
  nghttp2_data_provider dataProvider();
  void encodeData(Stream& stream, buffer::Buffer& data, bool end_stream);
  void encodeTrailers(Stream& stream, const HeaderMap& trailers);
  void resetStream(Stream& stream, uint32_t error_code);
  void readDisable(Stream& stream, bool disable);
  // The owner is done with the stream; it is freed once nghttp2 closed it too.
  void release(Stream& stream);
  void goAway(uint32_t error_code);
  // A PING (keepalive.h), sent at once: the peer's answer is what the owner waits for.
  void ping();
  // Ends the session: GOAWAY with `error_code`, flushed, and the error to return.
  CodecStatus terminate(uint32_t error_code, uint64_t CodecStats::*counter, std::string details);

  Stream* findStream(int32_t id);
  // Client streams are added under a temporary negative key and re-keyed once submitted.
  void addStream(std::unique_ptr<Stream> stream);
  void rekey(Stream& stream, int32_t id);

  static uint32_t resetReasonToErrorCode(StreamResetReason reason);

  nghttp2_session* session_ = nullptr;
  CodecTransport& transport_;
  const Http2Settings settings_;
  CodecStats own_stats_;
  CodecStats* stats_;
  const bool server_;
  bool goaway_submitted_ = false;
  bool goaway_received_ = false;
  // The peer's first SETTINGS arrived: its settings are known, not nghttp2's defaults (an
  // extended CONNECT waits for them).
  bool remote_settings_received_ = false;
  // Set when nghttp2 itself sent GOAWAY with an error (a connection error it detected).
  uint32_t nghttp2_error_code_ = 0;
  std::optional<CodecError> error_;
  // Streams the peer opened (server) and reset before we finished answering them.
  uint64_t streams_opened_ = 0;
  uint64_t premature_resets_ = 0;

 private:
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user_data);
  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int onDataChunkRecv(nghttp2_session*, uint8_t flags, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user_data);
  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data);
  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static ssize_t readData(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user_data);

  // A server stream starts here (nullptr when refused); clients create theirs on submit.
  virtual Stream* newRemoteStream(int32_t id) = 0;
  int frameReceived(const nghttp2_frame& frame);
  bool takeControlFrameToken();
  void consume(Stream& stream, size_t bytes);
  void checkWatermarks(Stream& stream);
  void maybeFree(Stream& stream);
  std::vector<std::unique_ptr<Stream>>::iterator lowerBound(int32_t id);
  void onPostIo() override;
  // At least two streams are not closed yet: others' output may be one poll away (sendSoon).
  bool multiplexing() const;

  event::Dispatcher* const dispatcher_;
  bool send_scheduled_ = false;
  // Sorted by id. A peer's new stream carries the highest id, so adding one is an append; a map
  // cost a node allocation per stream. Client streams wait under negative keys until nghttp2
  // gives them an id (rekey()).
  std::vector<std::unique_ptr<Stream>> streams_;
  // The stream found last: nghttp2 reports a header block field by field, each with its
  // stream id, so most look-ups ask for the same stream again.
  Stream* last_found_ = nullptr;
  std::vector<std::unique_ptr<Stream>> graveyard_;
  // Set inside an nghttp2 callback detected a limit breach; dispatchInput turns it into an
  // error once nghttp2 returns.
  std::optional<std::pair<uint64_t CodecStats::*, std::string>> pending_violation_;
  bool in_nghttp2_ = false;
  bool write_paused_ = false;
  double control_tokens_;
  std::chrono::steady_clock::time_point control_refill_;
};

}  // namespace podproxy::http::http2
