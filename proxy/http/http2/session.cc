#include "proxy/http/http2/session.h"

#include <algorithm>
#include <utility>

#include "proxy/http/http2/headers.h"
#include "proxy/http/http2/stream_memory.h"

namespace podproxy::http::http2 {

namespace {
// Output is handed to the transport in pieces of about this size, so a connection whose write
// buffer crosses its high watermark stops the flow within one piece.
constexpr size_t kWriteChunk = 64 * 1024;
// Empty DATA frames without END_STREAM in a row (CVE-2019-9518).
constexpr uint32_t kMaxConsecutiveEmptyData = 100;

Session* self(void* user_data) {
  return static_cast<Session*>(user_data);
}
}  // namespace

Session::Session(CodecTransport& transport, const Http2Settings& settings, CodecStats* stats,
                 bool server, event::Dispatcher* dispatcher)
    : transport_(transport),
      settings_(settings),
      stats_(stats != nullptr ? stats : &own_stats_),
      server_(server),
      dispatcher_(dispatcher),
      control_tokens_(settings.max_inbound_control_frames_burst),
      control_refill_(std::chrono::steady_clock::now()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Session::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Session::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Session::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Session::onDataChunkRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Session::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &Session::onFrameSend);

  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_option_set_max_outbound_ack(options, settings.max_outbound_control_frames);
  nghttp2_option_set_max_continuations(options, settings.max_continuations);
  nghttp2_option_set_no_closed_streams(options, 1);
  // Until the peer's SETTINGS arrive, assume it accepts as many streams as we would.
  nghttp2_option_set_peer_max_concurrent_streams(options, settings.max_concurrent_streams);
  if (server) {
    nghttp2_session_server_new3(&session_, callbacks, this, options, threadCachedAllocator());
  } else {
    nghttp2_session_client_new3(&session_, callbacks, this, options, threadCachedAllocator());
  }
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  std::vector<nghttp2_settings_entry> entries = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_stream_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list_bytes},
  };
  if (!server) entries.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  // RFC 8441: clients may open WebSockets (and other protocols) with an extended CONNECT;
  // nghttp2 then accepts and checks :protocol.
  if (server) entries.push_back({NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries.data(), entries.size());
  if (settings.initial_connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(
        session_, NGHTTP2_FLAG_NONE, 0,
        static_cast<int32_t>(settings.initial_connection_window_size));
  }
}

Session::~Session() {
  if (send_scheduled_) dispatcher_->cancelPostIo(this);
  // nghttp2_session_del calls no callbacks.
  nghttp2_session_del(session_);
}

size_t Session::openStreams() const {
  return static_cast<size_t>(std::count_if(streams_.begin(), streams_.end(), [](const auto& s) {
    return !s->closed_ && !s->released_;
  }));
}

std::vector<std::unique_ptr<Session::Stream>>::iterator Session::lowerBound(int32_t id) {
  return std::lower_bound(
      streams_.begin(), streams_.end(), id,
      [](const std::unique_ptr<Stream>& s, int32_t key) { return s->id_ < key; });
}

Session::Stream* Session::findStream(int32_t id) {
  if (last_found_ != nullptr && last_found_->id_ == id) return last_found_;
  auto it = lowerBound(id);
  if (it == streams_.end() || (*it)->id_ != id) return nullptr;
  last_found_ = it->get();
  return last_found_;
}

void Session::addStream(std::unique_ptr<Stream> stream) {
  const int32_t id = stream->id_;
  if (last_found_ != nullptr && last_found_->id_ == id) last_found_ = nullptr;
  // Ids are unique: nghttp2 never reuses one, and temporary keys only count down. A peer's new
  // stream, the common case, goes at the end.
  const bool highest = streams_.empty() || streams_.back()->id_ < id;
  streams_.insert(highest ? streams_.end() : lowerBound(id), std::move(stream));
}

void Session::rekey(Stream& stream, int32_t id) {
  if (last_found_ == &stream) last_found_ = nullptr;
  auto it = lowerBound(stream.id_);
  if (it == streams_.end() || it->get() != &stream) return;
  std::unique_ptr<Stream> owned = std::move(*it);
  streams_.erase(it);
  owned->id_ = id;
  addStream(std::move(owned));
}

uint32_t Session::resetReasonToErrorCode(StreamResetReason reason) {
  switch (reason) {
    case StreamResetReason::kLocalReset:
      return NGHTTP2_CANCEL;
    case StreamResetReason::kOverflow:
      return NGHTTP2_REFUSED_STREAM;
    case StreamResetReason::kProtocolError:
      return NGHTTP2_PROTOCOL_ERROR;
    case StreamResetReason::kConnectFailure:
      return NGHTTP2_CONNECT_ERROR;
    default:
      return NGHTTP2_INTERNAL_ERROR;
  }
}

CodecStatus Session::dispatchInput(buffer::Buffer& data) {
  // Nothing of a freed stream can be on the stack here: the read comes from the loop.
  graveyard_.clear();
  if (error_) {
    data.clear();
    return std::unexpected(*error_);
  }
  while (!data.empty()) {
    const std::string_view slice = data.frontSlice();
    in_nghttp2_ = true;
    const ssize_t n = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(slice.data()), slice.size());
    in_nghttp2_ = false;
    if (pending_violation_) {
      data.clear();
      auto [counter, details] = std::move(*pending_violation_);
      pending_violation_.reset();
      return terminate(NGHTTP2_ENHANCE_YOUR_CALM, counter, std::move(details));
    }
    if (n < 0) {
      data.clear();
      switch (n) {
        case NGHTTP2_ERR_FLOODED:
          return terminate(NGHTTP2_ENHANCE_YOUR_CALM, &CodecStats::control_flood, "http2.flood");
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
          return terminate(NGHTTP2_ENHANCE_YOUR_CALM, &CodecStats::continuation_flood,
                           "http2.too_many_continuations");
        case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
          return terminate(NGHTTP2_PROTOCOL_ERROR, &CodecStats::protocol_error,
                           "http2.bad_preface");
        default:
          return terminate(NGHTTP2_PROTOCOL_ERROR, &CodecStats::protocol_error,
                           std::string("http2.") + nghttp2_strerror(static_cast<int>(n)));
      }
    }
    data.drain(static_cast<size_t>(n));
  }
  sendPending();
  if (error_) return std::unexpected(*error_);
  if (nghttp2_error_code_ != 0) {
    // nghttp2 found a connection error itself and answered it with GOAWAY.
    ++stats_->protocol_error;
    error_ = CodecError{400, "http2.connection_error"};
    return std::unexpected(*error_);
  }
  return {};
}

CodecStatus Session::terminate(uint32_t error_code, uint64_t CodecStats::*counter,
                               std::string details) {
  ++(stats_->*counter);
  error_ = CodecError{400, std::move(details)};
  if (!goaway_submitted_) {
    goaway_submitted_ = true;
    nghttp2_session_terminate_session(session_, error_code);
  }
  // Flush the GOAWAY even above the watermark: it is the last thing we send.
  buffer::Buffer out;
  in_nghttp2_ = true;
  for (;;) {
    const uint8_t* bytes = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &bytes);
    if (n <= 0) break;
    out.add(bytes, static_cast<size_t>(n));
  }
  in_nghttp2_ = false;
  if (!out.empty()) transport_.write(out, false);
  return std::unexpected(*error_);
}

void Session::sendPending() {
  if (in_nghttp2_ || write_paused_ || error_) return;
  buffer::Buffer out;
  for (;;) {
    in_nghttp2_ = true;
    const uint8_t* bytes = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &bytes);
    in_nghttp2_ = false;
    if (n < 0) {
      ++stats_->protocol_error;
      error_ = CodecError{400, std::string("http2.") + nghttp2_strerror(static_cast<int>(n))};
      break;
    }
    if (n > 0) out.add(bytes, static_cast<size_t>(n));
    if (n == 0 || out.length() >= kWriteChunk) {
      if (!out.empty()) transport_.write(out, false);
      // The write may have crossed the connection's high watermark (setWritePaused).
      if (n == 0 || write_paused_) break;
    }
  }
}

void Session::sendSoon() {
  if (dispatcher_ == nullptr) {
    sendPending();
    return;
  }
  if (send_scheduled_) return;
  send_scheduled_ = true;
  // With other streams open, their output may be one poll away (responses the upstreams are
  // sending now): waiting for it sends both in one write, which saves the peer reads and
  // wake-ups (h2load, 16 connections x 10 streams: 0.82 client syscalls per request, not 0.94). A
  // lone stream has nothing to wait for.
  if (multiplexing()) {
    dispatcher_->schedulePostIoAfterNextPoll(this);
  } else {
    dispatcher_->schedulePostIo(this);
  }
}

bool Session::multiplexing() const {
  // Streams released by their owner count until nghttp2 closes them: their last frames are the
  // output about to be sent.
  int open = 0;
  for (const auto& s : streams_) {
    if (!s->closed_ && ++open == 2) return true;
  }
  return false;
}

void Session::onPostIo() {
  send_scheduled_ = false;
  sendPending();
}

void Session::setWritePaused(bool paused) {
  if (write_paused_ == paused) return;
  write_paused_ = paused;
  if (!paused) sendPending();
}

nghttp2_data_provider Session::dataProvider() {
  nghttp2_data_provider provider;
  provider.source.ptr = nullptr;
  provider.read_callback = &Session::readData;
  return provider;
}

void Session::encodeData(Stream& stream, buffer::Buffer& data, bool end_stream) {
  if (stream.local_end_ || stream.reset_sent_ || stream.closed_) {
    data.clear();
    return;
  }
  stream.send_.move(data);
  if (end_stream) {
    stream.send_end_ = true;
    stream.local_end_ = true;
  }
  if (stream.data_deferred_ && stream.id_ > 0) {
    stream.data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream.id_);
  }
  checkWatermarks(stream);
  sendSoon();
}

void Session::encodeTrailers(Stream& stream, const HeaderMap& trailers) {
  if (stream.local_end_ || stream.reset_sent_ || stream.closed_) return;
  stream.send_end_ = true;
  stream.local_end_ = true;
  if (!trailers.empty()) stream.send_trailers_ = trailers;
  if (stream.data_deferred_ && stream.id_ > 0) {
    stream.data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream.id_);
  }
  sendSoon();
}

void Session::ping() {
  // Also after our GOAWAY: the streams still finishing need a live peer as much.
  if (error_) return;
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  sendPending();
}

void Session::resetStream(Stream& stream, uint32_t error_code) {
  if (stream.id_ > 0 && !stream.closed_ && !stream.reset_sent_) {
    stream.reset_sent_ = true;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id_, error_code);
  }
  stream.send_.clear();
  release(stream);
  sendPending();
}

void Session::readDisable(Stream& stream, bool disable) {
  if (disable) {
    ++stream.read_disables_;
    return;
  }
  if (stream.read_disables_ == 0) return;
  if (--stream.read_disables_ > 0 || stream.unconsumed_ == 0) return;
  consume(stream, stream.unconsumed_);
  stream.unconsumed_ = 0;
  sendPending();
}

void Session::consume(Stream& stream, size_t bytes) {
  if (bytes == 0) return;
  // Returns the connection's share even when nghttp2 has forgotten the stream.
  nghttp2_session_consume(session_, stream.id_ > 0 ? stream.id_ : 0, bytes);
}

void Session::checkWatermarks(Stream& stream) {
  const size_t limit = settings_.stream_buffer_limit_bytes;
  if (!stream.above_watermark_ && stream.send_.length() > limit) {
    stream.above_watermark_ = true;
    if (stream.callbacks_ != nullptr) stream.callbacks_->onAboveWriteBufferHighWatermark();
  } else if (stream.above_watermark_ && stream.send_.length() <= limit / 2) {
    stream.above_watermark_ = false;
    if (stream.callbacks_ != nullptr) stream.callbacks_->onBelowWriteBufferLowWatermark();
  }
}

void Session::release(Stream& stream) {
  stream.released_ = true;
  stream.callbacks_ = nullptr;
  maybeFree(stream);
}

void Session::maybeFree(Stream& stream) {
  if (!stream.closed_ || !stream.released_) return;
  auto it = lowerBound(stream.id_);
  if (it == streams_.end() || it->get() != &stream) return;
  if (last_found_ == &stream) last_found_ = nullptr;
  graveyard_.push_back(std::move(*it));
  streams_.erase(it);
}

void Session::goAway(uint32_t error_code) {
  if (goaway_submitted_ || error_) return;
  goaway_submitted_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), error_code, nullptr, 0);
  sendPending();
}

bool Session::takeControlFrameToken() {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - control_refill_).count();
  control_refill_ = now;
  control_tokens_ =
      std::min<double>(settings_.max_inbound_control_frames_burst,
                       control_tokens_ + elapsed * settings_.max_inbound_control_frames_per_second);
  if (control_tokens_ < 1) return false;
  control_tokens_ -= 1;
  return true;
}

int Session::onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Session& s = *self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* stream = s.findStream(frame->hd.stream_id);
  if (stream == nullptr && s.server_ && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ++s.streams_opened_;
    ++s.stats_->streams_total;
    stream = s.newRemoteStream(frame->hd.stream_id);
  }
  if (stream == nullptr) return 0;
  stream->header_bytes_ = 0;
  stream->header_count_ = 0;
  return 0;
}

int Session::onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
  Session& s = *self(user_data);
  Stream* stream = s.findStream(frame->hd.stream_id);
  if (stream == nullptr || stream->released_ || stream->header_overflow_) return 0;
  stream->header_bytes_ += namelen + valuelen;
  if (stream->header_bytes_ > s.settings_.max_header_list_bytes ||
      ++stream->header_count_ > s.settings_.max_headers_count) {
    ++s.stats_->header_overflow;
    stream->header_overflow_ = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM
  }
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (!stream->onHeader(n, v)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

int Session::onDataChunkRecv(nghttp2_session* session, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user_data) {
  Session& s = *self(user_data);
  Stream* stream = s.findStream(stream_id);
  if (stream == nullptr || stream->released_) {
    // Nobody takes it: give the window back now.
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  stream->recv_.add(data, len);
  return 0;
}

int Session::onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return self(user_data)->frameReceived(*frame);
}

int Session::frameReceived(const nghttp2_frame& frame) {
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame.hd.type) {
    case NGHTTP2_DATA: {
      Stream* stream = findStream(frame.hd.stream_id);
      if (stream == nullptr) return 0;
      const size_t n = stream->recv_.length();
      if (n == 0 && !end_stream) {
        if (++stream->consecutive_empty_data_ > kMaxConsecutiveEmptyData) {
          pending_violation_.emplace(&CodecStats::control_flood, "http2.empty_data_flood");
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
      } else {
        stream->consecutive_empty_data_ = 0;
      }
      if (end_stream) stream->remote_end_ = true;
      if (stream->released_) {
        consume(*stream, n);
        stream->recv_.clear();
        return 0;
      }
      const bool taken = stream->onData(stream->recv_, end_stream);
      stream->recv_.clear();
      if (!taken || stream->read_disables_ == 0) {
        consume(*stream, n);
      } else {
        stream->unconsumed_ += n;
      }
      return 0;
    }
    case NGHTTP2_HEADERS: {
      Stream* stream = findStream(frame.hd.stream_id);
      if (stream == nullptr || stream->released_ || stream->header_overflow_) return 0;
      if (end_stream) stream->remote_end_ = true;
      stream->onHeaders(end_stream);
      return 0;
    }
    case NGHTTP2_RST_STREAM: {
      ++stats_->rx_reset;
      Stream* stream = findStream(frame.hd.stream_id);
      if (server_ && stream != nullptr && !stream->local_end_) {
        ++premature_resets_;
        if (premature_resets_ >= settings_.max_premature_resets &&
            premature_resets_ * 2 >= streams_opened_) {
          pending_violation_.emplace(&CodecStats::rapid_reset, "http2.too_many_resets");
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
      }
      return 0;
    }
    case NGHTTP2_GOAWAY:
      goaway_received_ = true;
      ++stats_->goaway_received;
      return 0;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
      if (frame.hd.type == NGHTTP2_SETTINGS && (frame.hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        remote_settings_received_ = true;
      }
      if ((frame.hd.flags & NGHTTP2_FLAG_ACK) == 0 && !takeControlFrameToken()) {
        pending_violation_.emplace(&CodecStats::control_flood, "http2.control_frame_flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      return 0;
    default:
      return 0;
  }
}

int Session::onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
  Session& s = *self(user_data);
  Stream* stream = s.findStream(stream_id);
  if (stream == nullptr) return 0;
  stream->closed_ = true;
  if (stream->unconsumed_ > 0) {
    s.consume(*stream, stream->unconsumed_);
    stream->unconsumed_ = 0;
  }
  stream->onClose(error_code);
  s.maybeFree(*stream);
  return 0;
}

int Session::onFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  Session& s = *self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_GOAWAY:
      ++s.stats_->goaway_sent;
      s.goaway_submitted_ = true;
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR && !s.error_) {
        s.nghttp2_error_code_ = frame->goaway.error_code;
      }
      return 0;
    case NGHTTP2_RST_STREAM:
      ++s.stats_->tx_reset;
      return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      if (!s.server_ || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
      Stream* stream = s.findStream(frame->hd.stream_id);
      // RFC 9113 8.1: the response is complete but the request is not; tell the client to
      // stop sending it.
      if (stream != nullptr && !stream->remote_end_ && !stream->closed_ && !stream->reset_sent_ &&
          !stream->half_close_) {
        stream->reset_sent_ = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream->id_, NGHTTP2_NO_ERROR);
      }
      return 0;
    }
    default:
      return 0;
  }
}

ssize_t Session::readData(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  Session& s = *self(user_data);
  Stream* stream = s.findStream(stream_id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const size_t n = std::min(length, stream->send_.length());
  if (n > 0) {
    stream->send_.copyOut(0, n, buf);
    stream->send_.drain(n);
  }
  if (stream->send_.empty() && stream->send_end_) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (stream->send_trailers_) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      HeaderBlock block;
      block.addRegular(*stream->send_trailers_, false, true);
      nghttp2_submit_trailer(s.session_, stream_id, block.data(), block.size());
      stream->send_trailers_.reset();
    }
  } else if (n == 0) {
    stream->data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  s.checkWatermarks(*stream);
  return static_cast<ssize_t>(n);
}

}  // namespace podproxy::http::http2
