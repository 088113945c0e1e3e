#include "proxy/network/connection.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "proxy/common/logger.h"

namespace podproxy::network {

namespace {
// Space reserved for one read; libuv reads at most this much per callback.
constexpr size_t kMinReadSpace = 4096;
// How long a closing connection waits for the peer's FIN after ours (lingering close) before
// it closes anyway: long enough for the peer to read our last response, short enough that a
// silent peer cannot hold the socket.
constexpr std::chrono::milliseconds kLingerTimeout{1000};
constexpr size_t kMaxIovecs = 64;
// A downstream TLS handshake must finish within this; a silent or slow client cannot hold a
// connection slot with a half-done handshake.
constexpr std::chrono::milliseconds kTlsHandshakeTimeout{10000};

std::atomic<uint64_t> next_connection_id{1};
}  // namespace

void Socket::closeAndDelete(Socket* socket) {
  socket->handle.data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&socket->handle),
           [](uv_handle_t* h) { delete reinterpret_cast<Socket*>(h); });
}

Connection::Connection(event::Dispatcher& dispatcher, Socket* socket, State state)
    : dispatcher_(dispatcher),
      socket_(socket),
      id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      state_(state) {
  handle()->data = this;
}

const std::string& Connection::failureReason() const {
  static const std::string kNone;
  return failure_reason_ != nullptr ? *failure_reason_ : kNone;
}

void Connection::setFailureReason(std::string reason) {
  if (failure_reason_ == nullptr) {
    failure_reason_ = std::make_unique<std::string>(std::move(reason));
  } else {
    *failure_reason_ = std::move(reason);
  }
}

void Connection::storeAddress(SockAddr& out, const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    std::memcpy(&out.v4, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&out.v6, sa, sizeof(sockaddr_in6));
  }
}

std::unique_ptr<Connection> Connection::fromAccepted(event::Dispatcher& dispatcher,
                                                     Socket* socket) {
  std::unique_ptr<Connection> c(new Connection(dispatcher, socket, State::kOpen));
  uv_tcp_nodelay(&socket->handle, 1);
  c->readAddresses();
  return c;
}

std::unique_ptr<Connection> Connection::connectTo(event::Dispatcher& dispatcher,
                                                  const Address& address,
                                                  std::chrono::milliseconds timeout,
                                                  std::unique_ptr<TransportSocket> transport,
                                                  const Address* source) {
  auto* socket = new Socket;
  uv_tcp_init(dispatcher.loop(), &socket->handle);
  std::unique_ptr<Connection> c(new Connection(dispatcher, socket, State::kConnecting));
  storeAddress(c->remote_address_, address.sockAddr());
  if (transport != nullptr) {
    c->transport_ = std::make_unique<Transport>();
    c->transport_->socket = std::move(transport);
  }
  int rc = source != nullptr ? uv_tcp_bind(&socket->handle, source->sockAddr(), 0) : 0;
  if (rc == 0) {
    auto* req = new uv_connect_t;
    req->data = c.get();
    rc = uv_tcp_connect(req, &socket->handle, address.sockAddr(), &Connection::onConnectDone);
    if (rc == 0) {
      c->control_req_ = reinterpret_cast<uv_req_t*>(req);
    } else {
      delete req;
    }
  }
  if (rc != 0) {
    // Report asynchronously so callers see one code path for every failure.
    c->setFailureReason(uv_err_name(rc));
    Connection* raw = c.get();
    c->timer_ = dispatcher.createTimer(
        [raw] { raw->closeNow(CloseType::kNoFlush, ConnectionEvent::kConnectFailed); });
    c->timer_->enable(std::chrono::milliseconds(0));
    return c;
  }
  Connection* raw = c.get();
  c->timer_ = dispatcher.createTimer([raw] {
    // The same budget covers the TCP connect and the TLS handshake after it.
    raw->setFailureReason(raw->state_ == State::kConnecting ? "connect_timeout"
                                                            : "tls_handshake_timeout");
    raw->closeNow(CloseType::kNoFlush, ConnectionEvent::kConnectFailed);
  });
  if (timeout.count() > 0) c->timer_->enable(timeout);
  return c;
}

Connection::~Connection() {
  callbacks_.clear();  // owners are being torn down too; no events from a destructor
  if (state_ != State::kClosed) closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose);
  // Filters go first, while every other member is still alive for them to call into.
  filters_.clear();
  if (post_io_scheduled_) dispatcher_.cancelPostIo(this);
}

int Connection::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(handle()), &fd);
  return fd;
}

void Connection::readAddresses() {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    storeAddress(remote_address_, reinterpret_cast<sockaddr*>(&ss));
  }
  len = sizeof(ss);
  if (uv_tcp_getsockname(handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    storeAddress(local_address_, reinterpret_cast<sockaddr*>(&ss));
  }
}

void Connection::addConnectionCallbacks(ConnectionCallbacks& callbacks) {
  callbacks_.push_back(&callbacks);
}

void Connection::removeConnectionCallbacks(ConnectionCallbacks& callbacks) {
  for (size_t i = 0; i < callbacks_.size(); ++i) {
    if (callbacks_[i] == &callbacks) callbacks_[i] = nullptr;
  }
}

void Connection::addReadFilter(std::unique_ptr<ReadFilter> filter) {
  filter->initializeReadFilterCallbacks(*this);
  filters_.push_back(std::move(filter));
}

void Connection::initializeReadFilters() {
  if (transport_ != nullptr && !transport_->socket->handshakeComplete()) {
    // Filters start once the peer is known (TLS info, verified identity).
    filters_wait_handshake_ = true;
    startReading();
    return;
  }
  runNewConnectionFilters();
}

void Connection::runNewConnectionFilters() {
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (filters_[i]->onNewConnection() == FilterStatus::kStopIteration) break;
    if (state_ == State::kClosed) return;
  }
  if (state_ == State::kOpen && read_disable_count_ == 0) startReading();
}

void Connection::setTransportSocket(std::unique_ptr<TransportSocket> transport,
                                    std::function<void()> on_handshake_complete) {
  transport_ = std::make_unique<Transport>();
  transport_->socket = std::move(transport);
  transport_->on_handshake_complete = std::move(on_handshake_complete);
  // Bytes already read (a sniffed ClientHello) are the transport's first input. They are
  // processed from the loop: we may be inside a filter's onData for that very buffer.
  transport_->raw_input.move(read_buffer_);
  timer_ = dispatcher_.createTimer([this] {
    setFailureReason("tls_handshake_timeout");
    closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
  });
  timer_->enable(kTlsHandshakeTimeout);
  if (state_ == State::kOpen) startReading();
  if (!transport_->raw_input.empty() && !redispatch_scheduled_) {
    redispatch_scheduled_ = true;
    schedulePostIo();
  }
}

const TlsInfo* Connection::tls() const {
  return transport_ != nullptr && transport_->socket->handshakeComplete()
             ? &transport_->socket->info()
             : nullptr;
}

bool Connection::hibernate(const ReadFilter& filter, const HibernationState& state) {
  // Nothing may be in flight either way: the record keeps only the socket and `state`. On an
  // open plaintext accepted connection the other flags follow from these: the peer's FIN stops
  // reading for good (read_eof_, eof_pending_); our FIN, its shutdown request and write_shut_
  // all come after write_end_pending_; lingering and the flush bound need kClosing, and the
  // only other timer is TLS's; a pending flush or re-delivery holds post_io_scheduled_.
  if (!canHibernate(filter) || state_ != State::kOpen || !reading_ || read_disable_count_ != 0 ||
      in_dispatch_ || post_io_scheduled_ || write_end_pending_ || writeInFlight() ||
      !read_buffer_.empty() || !write_buffer_.empty()) {
    return false;
  }
  // libuv has no way to let go of a handle's descriptor: keep a duplicate and close the handle
  // (which takes the original out of the loop's epoll set and closes it).
  const int fd = fcntl(this->fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return false;
  bool taken = false;
  for (size_t i = 0; i < callbacks_.size() && !taken; ++i) {
    if (ConnectionCallbacks* cb = callbacks_[i]) taken = cb->onHibernate(fd, state);
  }
  if (!taken) {
    ::close(fd);
    return false;
  }
  callbacks_.clear();  // the connection lives on in its owner's record: nobody is told
  state_ = State::kClosed;
  stopReading();
  Socket::closeAndDelete(socket_);
  return true;
}

void Connection::wake(const HibernationState& state) {
  for (size_t i = 0; i < filters_.size(); ++i) filters_[i]->onWake(state);
}

void Connection::raiseEvent(ConnectionEvent event) {
  // Callbacks may remove themselves (nulling their slot) while we iterate.
  for (size_t i = 0; i < callbacks_.size(); ++i) {
    if (ConnectionCallbacks* cb = callbacks_[i]) cb->onEvent(event);
  }
}

void Connection::onConnectDone(uv_connect_t* req, int status) {
  std::unique_ptr<uv_connect_t> owned(req);
  auto* self = static_cast<Connection*>(req->data);
  if (self == nullptr) return;
  self->control_req_ = nullptr;
  if (self->state_ != State::kConnecting) return;  // timed out or closed meanwhile
  if (status != 0) {
    self->timer_->disable();
    self->setFailureReason(status == UV_ECONNREFUSED ? "connection_refused" : uv_err_name(status));
    self->closeNow(CloseType::kNoFlush, ConnectionEvent::kConnectFailed);
    return;
  }
  uv_tcp_nodelay(self->handle(), 1);
  self->readAddresses();
  self->state_ = State::kOpen;
  if (self->transport_ != nullptr) {
    // kConnected waits for the handshake; the connect timer keeps running meanwhile.
    self->connect_handshake_pending_ = true;
    if (!self->transport_->socket->startHandshake(self->transport_->raw_output)) {
      self->failTransport();
      return;
    }
    self->startReading();
    self->scheduleFlush();
    return;
  }
  self->timer_->disable();
  self->raiseEvent(ConnectionEvent::kConnected);
  if (self->state_ != State::kOpen) return;
  if (self->read_disable_count_ == 0) self->startReading();
  if (!self->write_buffer_.empty() || self->write_end_pending_) self->scheduleFlush();
}

void Connection::startReading() {
  if (reading_ || state_ == State::kClosed || state_ == State::kConnecting || read_eof_) return;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(handle()), &Connection::onAlloc,
                &Connection::onRead);
}

void Connection::stopReading() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(handle()));
}

void Connection::readDisable(bool disable) {
  if (disable) {
    // Lazily: the socket keeps its read interest until bytes actually arrive while disabled
    // (then reading stops, at most one read's worth held). Most disables (an HTTP/1 request
    // waiting for its response) end before the peer sends more, so this saves an epoll_ctl
    // pair per request.
    ++read_disable_count_;
  } else {
    if (read_disable_count_ == 0) return;  // unbalanced enable: ignore rather than underflow
    if (--read_disable_count_ == 0 && state_ == State::kOpen) {
      startReading();
      const bool raw_pending = transport_ != nullptr && !transport_->raw_input.empty();
      if ((!read_buffer_.empty() || eof_pending_ || raw_pending) && !redispatch_scheduled_) {
        redispatch_scheduled_ = true;
        schedulePostIo();
      }
    }
  }
}

void Connection::redispatch() {
  if (transport_ != nullptr && !transport_->raw_input.empty() && state_ == State::kOpen) {
    onTransportRead();  // delivers the plaintext too
    return;
  }
  if (state_ != State::kOpen || read_disable_count_ != 0) return;
  if (!read_buffer_.empty() || eof_pending_) {
    const bool end_stream = eof_pending_;
    eof_pending_ = false;
    dispatchToFilters(end_stream);
    if (end_stream) maybeFinishHalfClosed();
  }
}

void Connection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  // Read straight into the connection's buffer: no copy after the read. With TLS, into the
  // raw input the transport decrypts from.
  buffer::Buffer& in =
      self->transport_ != nullptr ? self->transport_->raw_input : self->read_buffer_;
  auto space = in.reserve(kMinReadSpace);
  *buf = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  static_cast<Connection*>(stream->data)->onReadable(nread);
}

void Connection::onReadable(ssize_t nread) {
  buffer::Buffer& in = transport_ != nullptr ? transport_->raw_input : read_buffer_;
  if (nread >= 0) {
    in.commit(static_cast<size_t>(nread));
    if (nread == 0) return;  // EAGAIN
    bytes_received_ += static_cast<uint64_t>(nread);
    if (lingering_) {
      in.clear();  // closing: discard until the peer's FIN
      return;
    }
    if (transport_ != nullptr) {
      onTransportRead();
      if (read_disable_count_ > 0) stopReading();
      return;
    }
    if (read_disable_count_ > 0) {
      // Disabled lazily (see readDisable): keep these bytes, stop reading more.
      stopReading();
      return;
    }
    dispatchToFilters(false);
    return;
  }
  // libuv reports EOF on POLLHUP without an alloc_cb first: nothing may be reserved.
  if (in.sliceCount() > 0) in.commit(0);
  if (nread == UV_EOF) {
    if (connect_handshake_pending_ ||
        (transport_ != nullptr && !transport_->socket->handshakeComplete() && !lingering_)) {
      setFailureReason("tls_handshake_failed: connection closed during the handshake");
      closeNow(CloseType::kNoFlush, connect_handshake_pending_ ? ConnectionEvent::kConnectFailed
                                                               : ConnectionEvent::kRemoteClose);
      return;
    }
    onPeerEof();
    return;
  }
  setFailureReason(uv_err_name(static_cast<int>(nread)));
  closeNow(CloseType::kNoFlush, connect_handshake_pending_ ? ConnectionEvent::kConnectFailed
                                : lingering_               ? ConnectionEvent::kLocalClose
                                                           : ConnectionEvent::kRemoteClose);
}

void Connection::onPeerEof() {
  read_eof_ = true;
  stopReading();
  if (lingering_) {
    closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose);
    return;
  }
  if (half_close_) {
    if (read_disable_count_ > 0) {
      eof_pending_ = true;  // delivered with the held bytes when reading is enabled again
      return;
    }
    dispatchToFilters(true);
    maybeFinishHalfClosed();
  } else {
    closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
  }
}

void Connection::onTransportRead() {
  const bool was_complete = transport_->socket->handshakeComplete();
  const TransportSocket::ReadStatus status =
      transport_->socket->onRead(transport_->raw_input, read_buffer_, transport_->raw_output);
  if (status == TransportSocket::ReadStatus::kError) {
    failTransport();
    return;
  }
  if (!transport_->raw_output.empty()) scheduleFlush();  // handshake messages, key updates
  if (!was_complete && transport_->socket->handshakeComplete()) {
    onHandshakeComplete();
    if (state_ == State::kClosed) return;
  }
  if (!transport_->socket->handshakeComplete()) return;
  if (!read_buffer_.empty() && read_disable_count_ == 0 && !filters_wait_handshake_ &&
      !in_dispatch_) {
    dispatchToFilters(false);
    if (state_ == State::kClosed) return;
  }
  if (status == TransportSocket::ReadStatus::kPeerClosed && !read_eof_) onPeerEof();
}

void Connection::onHandshakeComplete() {
  timer_.reset();  // handshake timeout (downstream) or connect timeout (upstream)
  if (read_disable_count_ > 0) stopReading();
  if (connect_handshake_pending_) {
    connect_handshake_pending_ = false;
    raiseEvent(ConnectionEvent::kConnected);
    if (state_ != State::kOpen) return;
  }
  if (transport_->on_handshake_complete) {
    auto done = std::move(transport_->on_handshake_complete);
    transport_->on_handshake_complete = nullptr;
    done();
    if (state_ != State::kOpen) return;
  }
  if (filters_wait_handshake_) {
    filters_wait_handshake_ = false;
    runNewConnectionFilters();
    if (state_ != State::kOpen) return;
  }
  if (!write_buffer_.empty() || write_end_pending_) scheduleFlush();
}

void Connection::failTransport() {
  setFailureReason(transport_->socket->failureReason());
  // Best effort: let the peer see the alert saying why, instead of a bare close.
  if (!transport_->raw_output.empty() && !writeInFlight()) {
    iovec iov[kMaxIovecs];
    const size_t n = transport_->raw_output.peekIovecs(iov, kMaxIovecs);
    (void)uv_try_write(reinterpret_cast<uv_stream_t*>(handle()), reinterpret_cast<uv_buf_t*>(iov),
                       n);
  }
  const bool connecting = connect_handshake_pending_;
  connect_handshake_pending_ = false;
  closeNow(CloseType::kNoFlush,
           connecting ? ConnectionEvent::kConnectFailed : ConnectionEvent::kRemoteClose);
}

void Connection::dispatchToFilters(bool end_stream) {
  in_dispatch_ = true;
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (state_ == State::kClosed) break;
    if (filters_[i]->onData(read_buffer_, end_stream) == FilterStatus::kStopIteration) break;
  }
  in_dispatch_ = false;
}

void Connection::write(buffer::Buffer& data, bool end_stream) {
  if (state_ == State::kClosed || write_end_pending_ || write_shut_) {
    data.clear();
    return;
  }
  write_buffer_.move(data);
  if (end_stream) write_end_pending_ = true;
  updateWatermarksAfterAdd();
  scheduleFlush();
}

void Connection::scheduleFlush() {
  if (flush_scheduled_ || writeInFlight() || state_ == State::kConnecting ||
      state_ == State::kClosed) {
    return;
  }
  flush_scheduled_ = true;
  schedulePostIo();
}

void Connection::schedulePostIo() {
  if (post_io_scheduled_) return;
  post_io_scheduled_ = true;
  dispatcher_.schedulePostIo(this);
}

void Connection::onPostIo() {
  // One registration serves both jobs. Held input goes first: what it produces (pipelined
  // responses) leaves with the same flush.
  post_io_scheduled_ = false;
  if (redispatch_scheduled_) {
    redispatch_scheduled_ = false;
    redispatch();
  }
  if (flush_scheduled_) {
    flush_scheduled_ = false;
    flush();
  }
}

void Connection::flush() {
  if (writeInFlight() || state_ == State::kClosed || state_ == State::kConnecting) return;
  if (transport_ != nullptr && transport_->socket->handshakeComplete() && !write_buffer_.empty()) {
    // Plaintext waits for the handshake; after it, everything queued becomes records now.
    if (!transport_->socket->onWrite(write_buffer_, transport_->raw_output)) {
      failTransport();
      return;
    }
  }
  buffer::Buffer& wire = wireBuffer();
  auto* stream = reinterpret_cast<uv_stream_t*>(handle());
  iovec iov[kMaxIovecs];
  // uv_try_write first: most responses fit in the socket buffer and need no uv_write_t.
  while (!wire.empty()) {
    const size_t n = wire.peekIovecs(iov, kMaxIovecs);
    const int rc = uv_try_write(stream, reinterpret_cast<uv_buf_t*>(iov), n);
    if (rc > 0) {
      wire.drain(static_cast<size_t>(rc));
      bytes_sent_ += static_cast<uint64_t>(rc);
      continue;
    }
    if (rc == UV_EAGAIN || rc == UV_ENOSYS) break;
    setFailureReason(uv_err_name(rc));
    closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
    return;
  }
  if (!wire.empty()) {
    // One write in flight, holding the front slices; new output gathers behind it.
    const size_t n = wire.peekIovecs(iov, kMaxIovecs);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += iov[i].iov_len;
    auto* req = new uv_write_t;
    req->data = this;
    const int rc =
        uv_write(req, stream, reinterpret_cast<uv_buf_t*>(iov), n, &Connection::onWriteDone);
    if (rc != 0) {
      delete req;
      setFailureReason(uv_err_name(rc));
      closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
      return;
    }
    write_req_ = req;
    write_in_flight_bytes_ = static_cast<uint32_t>(total);
    return;
  }
  afterWriteBufferDrained();
}

void Connection::onWriteDone(uv_write_t* req, int status) {
  std::unique_ptr<uv_write_t> owned(req);
  auto* self = static_cast<Connection*>(req->data);
  if (self == nullptr) return;  // connection already gone; libuv cancelled the write
  self->write_req_ = nullptr;
  if (status != 0) {
    self->write_in_flight_bytes_ = 0;
    if (self->state_ != State::kClosed) {
      self->setFailureReason(uv_err_name(status));
      self->closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
    }
    return;
  }
  self->wireBuffer().drain(self->write_in_flight_bytes_);
  self->bytes_sent_ += self->write_in_flight_bytes_;
  self->write_in_flight_bytes_ = 0;
  self->flush();
}

void Connection::afterWriteBufferDrained() {
  updateWatermarksAfterDrain();
  if (state_ == State::kClosed) return;
  if (write_end_pending_ && !write_shut_ && write_buffer_.empty() && rawOutputEmpty()) {
    if (transport_ != nullptr && !tls_shutdown_sent_ && transport_->socket->handshakeComplete()) {
      // close_notify before our FIN: the peer can tell a complete stream from a cut one.
      tls_shutdown_sent_ = true;
      transport_->socket->shutdown(transport_->raw_output);
      if (!transport_->raw_output.empty()) {
        flush();
        return;
      }
    }
    write_shut_ = true;
    auto* req = new uv_shutdown_t;
    req->data = this;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(handle()), &Connection::onShutdownDone) !=
        0) {
      delete req;
      closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose);
      return;
    }
    control_req_ = reinterpret_cast<uv_req_t*>(req);
  }
}

void Connection::onShutdownDone(uv_shutdown_t* req, int status) {
  std::unique_ptr<uv_shutdown_t> owned(req);
  auto* self = static_cast<Connection*>(req->data);
  if (self == nullptr) return;
  self->control_req_ = nullptr;
  self->onWriteSideShut();
}

void Connection::onWriteSideShut() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kClosing) {
    // Lingering close: our FIN is out; wait (bounded) for the peer's, discarding input, so the
    // peer reads our last bytes instead of an RST triggered by its unread data.
    lingering_ = true;
    if (read_eof_) {
      closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose);
      return;
    }
    read_disable_count_ = 0;
    startReading();
    timer_ = dispatcher_.createTimer(
        [this] { closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose); });
    timer_->enable(kLingerTimeout);
    return;
  }
  maybeFinishHalfClosed();
}

void Connection::maybeFinishHalfClosed() {
  // Both directions finished: nothing more can happen on this connection.
  if (state_ != State::kClosed && read_eof_ && write_shut_ && !writeInFlight() &&
      write_buffer_.empty()) {
    closeNow(CloseType::kNoFlush, ConnectionEvent::kRemoteClose);
  }
}

void Connection::updateWatermarksAfterAdd() {
  if (!above_high_watermark_ && bufferedWriteBytes() > high_watermark_) {
    above_high_watermark_ = true;
    for (size_t i = 0; i < callbacks_.size(); ++i) {
      if (ConnectionCallbacks* cb = callbacks_[i]) cb->onAboveWriteBufferHighWatermark();
    }
  }
}

void Connection::updateWatermarksAfterDrain() {
  if (above_high_watermark_ && bufferedWriteBytes() <= high_watermark_ / 2) {
    above_high_watermark_ = false;
    for (size_t i = 0; i < callbacks_.size(); ++i) {
      if (ConnectionCallbacks* cb = callbacks_[i]) cb->onBelowWriteBufferLowWatermark();
    }
  }
}

void Connection::close(CloseType type) {
  if (state_ == State::kClosed) return;
  if (connecting()) type = CloseType::kNoFlush;
  if (type == CloseType::kFlushWrite) {
    if (state_ == State::kClosing) return;
    state_ = State::kClosing;
    write_end_pending_ = true;
    // Stop consuming input for filters; the lingering phase re-enables discarding reads.
    stopReading();
    if (write_shut_) {
      // Our FIN already went out (half-close): just wait for the peer, bounded.
      onWriteSideShut();
      return;
    }
    if (!writeInFlight()) {
      if (write_buffer_.empty() && rawOutputEmpty()) {
        afterWriteBufferDrained();
      } else {
        scheduleFlush();
      }
    }
    // Bound the flush too: a peer that never reads must not hold the connection.
    timer_ = dispatcher_.createTimer(
        [this] { closeNow(CloseType::kNoFlush, ConnectionEvent::kLocalClose); });
    timer_->enable(kLingerTimeout * 5);
    return;
  }
  closeNow(type, ConnectionEvent::kLocalClose);
}

void Connection::closeNow(CloseType type, ConnectionEvent event) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  stopReading();
  if (post_io_scheduled_) {
    dispatcher_.cancelPostIo(this);
    post_io_scheduled_ = false;
  }
  flush_scheduled_ = false;
  redispatch_scheduled_ = false;
  timer_.reset();
  // Requests still in flight are called back (cancelled) while libuv closes the handle,
  // possibly after we are gone: they must find no Connection (and free themselves).
  if (write_req_ != nullptr) write_req_->data = nullptr;
  if (control_req_ != nullptr) control_req_->data = nullptr;
  write_req_ = nullptr;
  control_req_ = nullptr;
  if (type == CloseType::kAbortReset && !write_shut_) {
    handle()->data = nullptr;
    if (uv_tcp_close_reset(handle(), [](uv_handle_t* h) { delete reinterpret_cast<Socket*>(h); }) !=
        0) {
      Socket::closeAndDelete(socket_);
    }
  } else {
    Socket::closeAndDelete(socket_);
  }
  read_buffer_.clear();
  write_buffer_.clear();
  if (transport_ != nullptr) {
    transport_->raw_input.clear();
    transport_->raw_output.clear();
    transport_->on_handshake_complete = nullptr;
  }
  raiseEvent(event);
}

}  // namespace podproxy::network
