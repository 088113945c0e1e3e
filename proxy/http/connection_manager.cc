#include "proxy/http/connection_manager.h"

#include <algorithm>
#include <utility>

#include "proxy/common/logger.h"
#include "proxy/http/active_stream.h"
#include "proxy/http/http1/server_codec.h"
#include "proxy/http/http2/server_codec.h"

namespace podproxy::http {

StreamList::~StreamList() {
  while (head_ != nullptr) {
    ActiveStream* stream = head_;
    (void)remove(*stream);  // deletes it
  }
}

ActiveStream* StreamList::next(const ActiveStream& stream) {
  return stream.list_next_;
}

void StreamList::pushBack(std::unique_ptr<ActiveStream> owned) {
  ActiveStream* stream = owned.release();
  stream->list_prev_ = tail_;
  stream->list_next_ = nullptr;
  if (tail_ != nullptr) {
    tail_->list_next_ = stream;
  } else {
    head_ = stream;
  }
  tail_ = stream;
  ++size_;
}

std::unique_ptr<ActiveStream> StreamList::remove(ActiveStream& stream) {
  if (stream.list_prev_ == nullptr && head_ != &stream) return nullptr;
  if (stream.list_prev_ != nullptr) {
    stream.list_prev_->list_next_ = stream.list_next_;
  } else {
    head_ = stream.list_next_;
  }
  if (stream.list_next_ != nullptr) {
    stream.list_next_->list_prev_ = stream.list_prev_;
  } else {
    tail_ = stream.list_prev_;
  }
  stream.list_prev_ = stream.list_next_ = nullptr;
  --size_;
  return std::unique_ptr<ActiveStream>(&stream);
}

ConnectionManager::ConnectionManager(ConnectionManagerContext& context) : context_(context) {}

ConnectionManager::~ConnectionManager() {
  if (connection_ != nullptr) unlinkFromContext();
  for (ActiveStream* s = streams_.front(); s != nullptr; s = StreamList::next(*s)) {
    s->destroyFilters();
    --context_.stats.downstream_rq_active;
  }
  while (ActiveStream* s = streams_.front()) (void)streams_.remove(*s);
  // A hibernated connection is still open (as a record).
  if (connection_ != nullptr && !hibernated_) --context_.stats.downstream_cx_active;
}

void ConnectionManager::unlinkFromContext() {
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else if (context_.managers == this) {
    context_.managers = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
}

void ConnectionManager::initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) {
  connection_ = &callbacks.connection();
  connection_->addConnectionCallbacks(*this);
  next_ = context_.managers;
  if (next_ != nullptr) next_->prev_ = this;
  context_.managers = this;
  ++context_.stats.downstream_cx_total;
  ++context_.stats.downstream_cx_active;
}

network::FilterStatus ConnectionManager::onNewConnection() {
  // The codec is chosen by the first bytes (createCodec). A client may half-close after its
  // request and still expect the whole response: the FIN comes to us as end_stream, and we
  // decide what it means.
  connection_->enableHalfClose(true);
  // One timer serves both waits, which never overlap: for the first byte of the next request
  // (idle_timeout) and, once it came, for the rest of its headers (request_headers_timeout).
  if (!woken_) {
    armIdleTimer();
  } else if (idle_deadline_ms_ != 0 && connection_->dispatcher().nowMs() >= idle_deadline_ms_) {
    // Woken by its idle deadline: close now, as the awake connection's timer would have.
    onIdleTimeout();
  } else {
    // The idle wait it slept in goes on (bytes that woke it arrive with the first read).
    armIdleWait();
  }
  return network::FilterStatus::kStopIteration;
}

void ConnectionManager::onWake(const network::HibernationState& state) {
  woken_ = true;
  requests_ = state.requests;
  http1_ = state.http1;
  idle_deadline_ms_ = state.idle_deadline_ms;
  // It was counted when it was accepted, and stayed counted while it slept.
  --context_.stats.downstream_cx_total;
  --context_.stats.downstream_cx_active;
  --context_.stats.downstream_cx_hibernated_active;
}

bool ConnectionManager::createCodec(const buffer::Buffer& data) {
  // HTTP/2 clients (h2c with prior knowledge, and h2 after ALPN) start with the 24-byte
  // preface; anything that departs from it is HTTP/1. A prefix of it waits for more bytes.
  const std::string_view preface = http2::kClientPreface;
  const size_t n = std::min(data.length(), preface.size());
  char head[64];
  static_assert(sizeof(head) >= http2::kClientPreface.size());
  data.copyOut(0, n, head);
  // Once HTTP/1, always HTTP/1: the codec of a keep-alive connection is recreated per request.
  const bool http2 = !http1_ && std::string_view(head, n) == preface.substr(0, n);
  if (http2 && n < preface.size()) return false;
  const auto& options = context_.config.options;
  if (http2) {
    http2::Http2Settings settings;
    settings.max_header_list_bytes = options.max_request_headers_bytes;
    settings.max_headers_count = options.max_request_headers_count;
    settings.max_concurrent_streams = options.http2.max_concurrent_streams;
    settings.initial_stream_window_size = options.http2.initial_stream_window_size;
    settings.initial_connection_window_size = options.http2.initial_connection_window_size;
    settings.stream_buffer_limit_bytes = options.http2.initial_stream_window_size;
    codec_ = std::make_unique<http2::ServerCodec>(*this, *this, settings, &context_.stats.http2,
                                                  &connection_->dispatcher());
    const config::Http2Keepalive& keepalive = options.http2.connection_keepalive;
    if (keepalive.enabled()) {
      keepalive_ = std::make_unique<http2::ConnectionKeepalive>(
          connection_->dispatcher(), keepalive.interval, keepalive.timeout,
          static_cast<http2::ConnectionKeepalive::Callbacks&>(*this));
    }
    // Streams have their own timers; the connection idles only without any.
    awaiting_headers_ = false;
    disarmTimer();
    armIdleTimer();
    if (draining_) {
      codec_->shutdownNotice();
      codec_->setCloseAfterResponse();
    }
    return true;
  }
  http1::ServerCodecSettings settings;
  settings.max_request_headers_bytes = options.max_request_headers_bytes;
  settings.max_request_headers_count = options.max_request_headers_count;
  codec_ = std::make_unique<http1::ServerCodec>(*this, *this, settings);
  http1_ = true;
  if (draining_) codec_->setCloseAfterResponse();
  return true;
}

void ConnectionManager::formatRemoteAddress() {
  const network::Address address = connection_->remoteAddress();
  if (!address.valid()) return;
  address.appendTo(remote_text_);
  const bool v6 = address.family() == AF_INET6;
  remote_ip_offset_ = v6 ? 1 : 0;
  // "ip:port" or "[ip]:port": the IP ends before the last ':' (and its ']').
  remote_ip_length_ = static_cast<uint8_t>(remote_text_.rfind(':') - (v6 ? 2 : 0));
}

void ConnectionManager::armIdleTimer() {
  const auto timeout = context_.config.options.idle_timeout;
  idle_deadline_ms_ = timeout.count() > 0 ? connection_->dispatcher().nowMs() +
                                                static_cast<uint64_t>(timeout.count())
                                          : 0;
  armIdleWait();
}

void ConnectionManager::armIdleWait() {
  const bool hibernation = hibernationPossible();
  if (idle_deadline_ms_ == 0) {
    if (hibernation) armTimer(kHibernationDelay);
    return;
  }
  const uint64_t now = connection_->dispatcher().nowMs();
  auto left = std::chrono::milliseconds(idle_deadline_ms_ > now ? idle_deadline_ms_ - now : 0);
  armTimer(hibernation ? std::min(left, std::chrono::milliseconds(kHibernationDelay)) : left);
}

void ConnectionManager::armTimer(std::chrono::milliseconds timeout) {
  connection_->dispatcher().timerWheel().arm(*this, timeout);
}

void ConnectionManager::onWheelTimeout() {
  if (awaiting_headers_) {
    onRequestHeadersTimeout();
    return;
  }
  if (idle_deadline_ms_ == 0 || connection_->dispatcher().nowMs() < idle_deadline_ms_) {
    // The hibernation delay passed, the idle timeout has not. When something still holds the
    // connection awake (a response not yet flushed to a slow reader), look again later.
    if (!closed_ && !tryHibernate()) armIdleWait();
    return;
  }
  onIdleTimeout();
}

bool ConnectionManager::tryHibernate() {
  if (closed_ || draining_ || end_of_input_ || reading_paused_ || in_codec_ || awaiting_headers_ ||
      !streams_.empty() || multiplexed()) {
    return false;
  }
  maybeReleaseIdleCodec();
  if (codec_ != nullptr) return false;
  const network::HibernationState state{idle_deadline_ms_, requests_, http1_};
  if (!connection_->hibernate(*this, state)) return false;
  // The connection (and this manager with it) is destroyed after this pass; the listener's
  // record rebuilds both when the client sends again.
  hibernated_ = true;
  closed_ = true;
  unlinkFromContext();
  ++context_.stats.downstream_cx_hibernated;
  ++context_.stats.downstream_cx_hibernated_active;
  return true;
}

void ConnectionManager::maybeReleaseIdleCodec() {
  if (!http1_ || codec_ == nullptr || in_codec_ || closed_ || !streams_.empty() ||
      awaiting_headers_) {
    return;
  }
  if (!static_cast<const http1::ServerCodec&>(*codec_).idle()) return;
  // Between requests an HTTP/1 codec is as good as a new one; an idle keep-alive connection
  // should not hold its ~600 bytes (they go back to the worker's cache).
  codec_.reset();
}

network::FilterStatus ConnectionManager::onData(buffer::Buffer& data, bool end_stream) {
  if (closed_) {
    data.clear();
    return network::FilterStatus::kStopIteration;
  }
  if (keepalive_) keepalive_->onInput();
  if (streams_.empty() && !awaiting_headers_ && !data.empty() && !multiplexed()) {
    // The first byte of a request starts the header read timeout (slowloris guard).
    awaiting_headers_ = true;
    disarmTimer();
    const auto timeout = context_.config.options.request_headers_timeout;
    if (timeout.count() > 0) armTimer(timeout);
  }
  if (!codec_ && !createCodec(data)) {
    if (end_stream) closeFlushing();
    return network::FilterStatus::kStopIteration;
  }
  dispatchInput(data);
  if (end_stream && !closed_) {
    if (!data.empty()) input_held_at_eof_ = &data;
    onEndOfInput();
  } else if (data.empty()) {
    // A response completed inside the dispatch (a local reply): the codec could not go then.
    maybeReleaseIdleCodec();
  }
  return network::FilterStatus::kStopIteration;
}

void ConnectionManager::onEndOfInput() {
  end_of_input_ = true;
  in_codec_ = true;
  const CodecStatus status = codec_->onEndOfInput();
  in_codec_ = false;
  if (!status) {
    // The FIN cut a request short.
    onCodecError(status.error());
    return;
  }
  // A tunnel whose upstream side had ended already completed with this FIN, and closed.
  if (closed_) return;
  if (multiplexed()) {
    // No frame can follow the client's FIN: a stream still owed request data (an upload cut
    // short, the client's side of a tunnel) would wait for it forever.
    for (ActiveStream* stream : liveStreams()) {
      if (stream->requestComplete()) continue;
      stream->streamInfo().addResponseFlag(response_flags::kDownstreamConnectionTermination);
      stream->resetStream("downstream_end_of_input");
      if (closed_) return;
    }
  }
  if (streams_.empty()) {
    // Nothing in flight: flush what is queued (a finished response) and close.
    disarmTimer();
    closeFlushing();
    return;
  }
  // A complete request is in flight: its response is the last thing on this connection.
  codec_->setCloseAfterResponse();
}

void ConnectionManager::dispatchInput(buffer::Buffer& data) {
  in_codec_ = true;
  const CodecStatus status = codec_->dispatch(data);
  in_codec_ = false;
  if (!status) {
    onCodecError(status.error());
    return;
  }
  if (closed_) return;
  // A complete request waits for its response; stop reading so pipelined input queues in the
  // kernel, not in our memory. Reading resumes when the response is done.
  if (codec_->waitingForResponse() && !reading_paused_) pauseReading(true);
}

void ConnectionManager::pauseReading(bool pause) {
  if (reading_paused_ == pause) return;
  reading_paused_ = pause;
  connection_->readDisable(pause);
}

RequestDecoder& ConnectionManager::newStream(ResponseEncoder& encoder) {
  disarmTimer();
  awaiting_headers_ = false;
  ++requests_;
  ++context_.stats.downstream_rq_total;
  ++context_.stats.downstream_rq_active;
  const uint32_t max_requests = context_.config.options.max_requests_per_connection;
  if (draining_ || (max_requests > 0 && requests_ >= max_requests)) {
    codec_->setCloseAfterResponse();
  }
  auto owned = std::make_unique<ActiveStream>(*this, encoder);
  ActiveStream& stream = *owned;
  streams_.pushBack(std::move(owned));
  context_.filter_factory.createFilterChain(stream);
  return stream;
}

void ConnectionManager::write(buffer::Buffer& data, bool end_stream) {
  connection_->write(data, end_stream);
}

void ConnectionManager::destroyStream(ActiveStream& stream) {
  std::unique_ptr<ActiveStream> owned = streams_.remove(stream);
  if (owned == nullptr) return;
  --context_.stats.downstream_rq_active;
  owned->destroyFilters();
  connection_->dispatcher().deferredDelete(std::move(owned));
}

void ConnectionManager::onStreamComplete(ActiveStream& stream) {
  const bool request_was_complete = stream.requestComplete();
  destroyStream(stream);
  if (closed_) return;
  if (multiplexed()) {
    // Other streams carry on; a draining connection ends with its last stream (the codec has
    // announced GOAWAY).
    if (streams_.empty()) {
      if (draining_ || !codec_->keepAlive()) {
        closeFlushing();
      } else {
        armIdleTimer();
      }
    }
    return;
  }
  if (!request_was_complete || !codec_->keepAlive() || draining_) {
    // The response is out; nothing more will be read from this connection.
    if (draining_) ++context_.stats.downstream_cx_drain_close;
    closeFlushing();
    return;
  }
  armIdleTimer();
  // Resume reading: a pipelined request already buffered is re-dispatched by the connection.
  pauseReading(false);
  maybeReleaseIdleCodec();
}

void ConnectionManager::onStreamUpgraded(ActiveStream&) {
  if (closed_ || multiplexed()) return;
  if (end_of_input_) {
    // The client half-closed before the 101: in tunnel mode that FIN is the end of its bytes,
    // so the codec passes it on now (it has nothing to report but success), after the bytes
    // that waited behind the request. (A 101 answered from inside the codec's dispatch came
    // before the FIN was read: nothing waits then.)
    buffer::Buffer* held = std::exchange(input_held_at_eof_, nullptr);
    if (held != nullptr && !held->empty() && !in_codec_) dispatchInput(*held);
    if (!closed_) (void)codec_->onEndOfInput();
    return;
  }
  // Reading was paused behind the request (pipelining); bytes that arrived meanwhile are
  // re-delivered from the loop and go through the codec as tunnel data.
  pauseReading(false);
}

void ConnectionManager::onStreamRemoteReset(ActiveStream& stream) {
  ++context_.stats.downstream_rq_rx_reset;
  stream.onConnectionClosed();
  destroyStream(stream);
  if (!closed_ && streams_.empty()) armIdleTimer();
}

void ConnectionManager::onStreamReset(ActiveStream& stream) {
  ++context_.stats.downstream_rq_tx_reset;
  destroyStream(stream);
  if (closed_) return;
  // A multiplexing codec resets just that stream (its encoder sends RST_STREAM); HTTP/1 can
  // only abort the whole connection.
  if (multiplexed()) return;
  closed_ = true;
  connection_->close(network::CloseType::kAbortReset);
}

void ConnectionManager::onCodecError(const CodecError& error) {
  ++context_.stats.downstream_cx_protocol_error;
  LOG_DEBUG("downstream protocol error", {"status", error.status}, {"details", error.details},
            {"peer", connection_->remoteAddress().toString()});
  disarmTimer();
  if (multiplexed()) {
    // A connection-level protocol error: the codec has sent GOAWAY; nothing here is usable.
    closeFlushing();
    return;
  }
  if (ActiveStream* stream = singleStream()) {
    stream->streamInfo().addResponseFlag(response_flags::kDownstreamProtocolError);
    if (stream->responseStarted()) {
      onStreamReset(*stream);
      return;
    }
    codec_->setCloseAfterResponse();
    stream->sendLocalReply(error.status, reasonPhrase(error.status), error.details);
    if (!closed_) closeFlushing();
    return;
  }
  sendRawLocalReply(error.status, reasonPhrase(error.status));
}

void ConnectionManager::closeFlushing() {
  closed_ = true;
  if (codec_ != nullptr) codec_->flush();
  connection_->close(network::CloseType::kFlushWrite);
}

void ConnectionManager::sendRawLocalReply(uint16_t status, std::string_view body) {
  // No stream exists (the request never got as far as its headers): answer in HTTP/1 directly
  // and close, because the framing of whatever follows is in doubt.
  std::string text(body);
  text += '\n';
  std::string out;
  out.reserve(160 + text.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reasonPhrase(status);
  out += "\r\ncontent-type: text/plain\r\ncontent-length: ";
  out += std::to_string(text.size());
  out += "\r\nconnection: close\r\n";
  if (!context_.config.options.server_name.empty()) {
    out += "server: ";
    out += context_.config.options.server_name;
    out += "\r\n";
  }
  out += "\r\n";
  out += text;
  buffer::Buffer data;
  data.add(out);
  switch (status / 100) {
    case 4:
      ++context_.stats.downstream_rq_4xx;
      break;
    case 5:
      ++context_.stats.downstream_rq_5xx;
      break;
    default:
      break;
  }
  closed_ = true;
  connection_->write(data, false);
  closeFlushing();
}

void ConnectionManager::onRequestHeadersTimeout() {
  if (closed_ || !streams_.empty()) return;
  ++context_.stats.downstream_rq_header_timeout;
  LOG_DEBUG("request headers timeout", {"peer", connection_->remoteAddress().toString()});
  sendRawLocalReply(408, "request header read timeout");
}

void ConnectionManager::onIdleTimeout() {
  if (closed_ || !streams_.empty() || awaiting_headers_) return;
  ++context_.stats.downstream_cx_idle_timeout;
  if (codec_) codec_->setCloseAfterResponse();  // HTTP/2: GOAWAY before the close
  closeFlushing();
}

void ConnectionManager::drainAll(ConnectionManagerContext& context) {
  // Copy: a drain may close (and so unregister) managers while we iterate.
  std::vector<ConnectionManager*> managers;
  for (ConnectionManager* m = context.managers; m != nullptr; m = m->next_) managers.push_back(m);
  for (ConnectionManager* m : managers) m->startDrain();
}

void ConnectionManager::startDrain() {
  if (draining_) return;
  draining_ = true;
  if (closed_) return;
  if (codec_) {
    codec_->shutdownNotice();  // HTTP/2: GOAWAY, then the final one with the last stream
    codec_->setCloseAfterResponse();
  }
  if (streams_.empty() && !awaiting_headers_) {
    ++context_.stats.downstream_cx_drain_close;
    closeFlushing();
  }
}

void ConnectionManager::onEvent(network::ConnectionEvent event) {
  if (event != network::ConnectionEvent::kRemoteClose &&
      event != network::ConnectionEvent::kLocalClose) {
    return;
  }
  closed_ = true;
  disarmTimer();
  keepalive_.reset();
  while (!streams_.empty()) {
    ActiveStream& stream = *streams_.front();
    if (event == network::ConnectionEvent::kRemoteClose) ++context_.stats.downstream_rq_rx_reset;
    stream.onConnectionClosed();
    destroyStream(stream);
  }
}

void ConnectionManager::sendKeepalivePing() {
  static_cast<http2::ServerCodec&>(*codec_).ping();
}

void ConnectionManager::onKeepaliveTimeout() {
  // The client sent nothing, not even the PING's ACK, for the whole timeout: it is gone (or
  // its network is), and its streams can never complete. Nothing more is sent to it; the close
  // ends them as connection terminations (DC), as any other lost connection does.
  ++context_.stats.http2.keepalive_timeout;
  LOG_DEBUG("downstream keepalive timeout", {"peer", connection_->remoteAddress().toString()},
            {"streams", streams_.size()});
  connection_->close(network::CloseType::kNoFlush);
}

std::vector<ActiveStream*> ConnectionManager::liveStreams() const {
  std::vector<ActiveStream*> out;
  out.reserve(streams_.size());
  for (ActiveStream* s = streams_.front(); s != nullptr; s = StreamList::next(*s)) {
    out.push_back(s);
  }
  return out;
}

void ConnectionManager::onAboveWriteBufferHighWatermark() {
  if (codec_) codec_->onUnderlyingConnectionAboveWriteBufferHighWatermark();
  // Copies: a callback may end a stream.
  for (ActiveStream* stream : liveStreams()) stream->onDownstreamAboveHighWatermark();
}

void ConnectionManager::onBelowWriteBufferLowWatermark() {
  if (codec_) codec_->onUnderlyingConnectionBelowWriteBufferLowWatermark();
  for (ActiveStream* stream : liveStreams()) stream->onDownstreamBelowLowWatermark();
}

}  // namespace podproxy::http
