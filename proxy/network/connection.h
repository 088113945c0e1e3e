#pragma once

// A TCP connection on one worker's loop: socket, read buffer, write buffer with watermarks, and
// the network filters that consume what it reads. Used for both downstream (accepted) and
// upstream (connected) sides.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/buffer/buffer.h"
#include "proxy/event/dispatcher.h"
#include "proxy/network/address.h"
#include "proxy/network/inline_vector.h"
#include "proxy/network/transport_socket.h"

namespace podproxy::network {

class Connection;

// A socket's libuv handle, in its own allocation that outlives the Connection until libuv's
// close callback. Requests (connect, write, shutdown) are allocated only while in flight and
// free themselves in their callbacks, which libuv runs even for requests cancelled by a close.
struct Socket {
  uv_tcp_t handle;  // first member: a uv_handle_t* of it is a Socket*

  // Closes the handle and frees the whole Socket afterwards.
  static void closeAndDelete(Socket* socket);
};

// What transparent capture learned about a connection at accept time.
struct CaptureInfo {
  Address original_destination;  // where the client meant to go (SO_ORIGINAL_DST)
  Address upstream_target;       // where an original_dst cluster connects (inbound: 127.0.0.1)
  std::string cluster;           // the cluster the original destination picked
  // Bind upstream connections here first (inbound to the original address: 127.0.0.6 / ::6).
  std::optional<Address> upstream_source;
};

// What an idle downstream connection's filter needs to be rebuilt identically after
// hibernation (Connection::hibernate): the owner keeps it next to the socket and hands it back
// to the rebuilt filter (ReadFilter::onWake).
struct HibernationState {
  uint64_t idle_deadline_ms = 0;  // loop time (Dispatcher::nowMs) the idle timeout ends; 0: none
  uint32_t requests = 0;          // requests served so far (max_requests_per_connection)
  bool http1 = false;             // it spoke HTTP/1: its next codec is HTTP/1 too
};

enum class ConnectionEvent {
  kConnected,      // upstream connect completed (and its TLS handshake, when it has one)
  kConnectFailed,  // upstream connect failed or timed out; see failureReason()
  kRemoteClose,    // peer closed or reset the connection (or an I/O error happened)
  kLocalClose,     // we closed it
};

enum class CloseType {
  kFlushWrite,  // send what is queued, half-close, then close (lingering, bounded)
  kNoFlush,     // close now, discarding queued data
  kAbortReset,  // close with RST (SO_LINGER 0): the peer must not see a clean end
};

enum class FilterStatus { kContinue, kStopIteration };

class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  virtual void onEvent(ConnectionEvent event) = 0;
  virtual void onAboveWriteBufferHighWatermark() {}
  virtual void onBelowWriteBufferLowWatermark() {}
  // The idle connection asks its owner to keep it as a compact record (hibernation): an owner
  // that can takes `fd` (a duplicate of the socket, now its own) and `state`, and destroys the
  // Connection later (deferred); no event follows. False: it cannot, and nothing changed.
  virtual bool onHibernate(int fd, const HibernationState& state) { return false; }
};

class ReadFilterCallbacks {
 public:
  virtual ~ReadFilterCallbacks() = default;
  virtual Connection& connection() = 0;
};

// A network filter. The last one of a chain (tcp_proxy, the HTTP connection manager) consumes
// the data; earlier ones may inspect it and stop iteration.
class ReadFilter {
 public:
  virtual ~ReadFilter() = default;
  virtual void initializeReadFilterCallbacks(ReadFilterCallbacks& callbacks) {}
  virtual FilterStatus onNewConnection() { return FilterStatus::kContinue; }
  // `end_stream`: the peer half-closed (only delivered when half-close is enabled).
  virtual FilterStatus onData(buffer::Buffer& data, bool end_stream) = 0;
  // The connection was rebuilt from hibernation: the state this filter saved then. Runs after
  // the chain is built, before onNewConnection().
  virtual void onWake(const HibernationState& state) {}
};

class Connection final : public event::DeferredDeletable,
                         public event::PostIoCallback,
                         private ReadFilterCallbacks {
 public:
  enum class State : uint8_t { kConnecting, kOpen, kClosing, kClosed };

  // Takes ownership of an accepted socket (its handle initialized and accepted).
  static std::unique_ptr<Connection> fromAccepted(event::Dispatcher& dispatcher, Socket* socket);
  // Starts connecting; the outcome arrives as kConnected or kConnectFailed. With a `transport`
  // (TLS), kConnected comes once its handshake completed, within the same `timeout`; a failed
  // handshake is kConnectFailed with failureReason() "tls_handshake_failed: <why>".
  // With a `source`, the socket is bound to it before connecting.
  static std::unique_ptr<Connection> connectTo(event::Dispatcher& dispatcher,
                                               const Address& address,
                                               std::chrono::milliseconds timeout,
                                               std::unique_ptr<TransportSocket> transport = nullptr,
                                               const Address* source = nullptr);
  ~Connection() override;

  void addConnectionCallbacks(ConnectionCallbacks& callbacks);
  void removeConnectionCallbacks(ConnectionCallbacks& callbacks);
  void addReadFilter(std::unique_ptr<ReadFilter> filter);
  // Runs onNewConnection() on each filter and starts reading. With a transport socket whose
  // handshake is still running, the filters start once it completed (they see TLS info).
  void initializeReadFilters();
  // Server side: puts `transport` (TLS) between the socket and the filters. Bytes already read
  // (a sniffed ClientHello) become its first input. The handshake runs whatever readDisable()
  // says, bounded by a timeout; `on_handshake_complete` runs once it succeeded. A failure closes
  // the connection (kRemoteClose) with failureReason() "tls_handshake_failed: <why>".
  void setTransportSocket(std::unique_ptr<TransportSocket> transport,
                          std::function<void()> on_handshake_complete = nullptr);
  // The TLS session once its handshake completed; nullptr for plain connections.
  const TlsInfo* tls() const;
  bool hasTransportSocket() const { return transport_ != nullptr; }

  // Moves `data` into the write buffer; it goes out after the current I/O pass, gathered into
  // as few syscalls as possible. `end_stream` half-closes our side once everything is sent.
  void write(buffer::Buffer& data, bool end_stream);
  // Reference-counted: each disable must be matched by an enable before reading resumes, so
  // two independent reasons (backpressure, pipelining) never undo each other.
  void readDisable(bool disable);
  bool readEnabled() const { return read_disable_count_ == 0; }
  void close(CloseType type);
  // When enabled, a peer's half-close is delivered to filters as end_stream instead of closing.
  void enableHalfClose(bool enabled) { half_close_ = enabled; }
  // High watermark of the write buffer; the low watermark is half of it.
  void setBufferLimits(uint32_t limit) { high_watermark_ = limit; }
  bool aboveHighWatermark() const { return above_high_watermark_; }

  State state() const { return state_; }
  // Upstream: the TCP connect or the TLS handshake after it is still running.
  bool connecting() const { return state_ == State::kConnecting || connect_handshake_pending_; }
  uint64_t id() const { return id_; }
  event::Dispatcher& dispatcher() { return dispatcher_; }
  // By value: stored compactly (an idle connection should not pay for two sockaddr_storage).
  Address remoteAddress() const { return Address(&remote_address_.sa); }
  Address localAddress() const { return Address(&local_address_.sa); }
  const std::string& failureReason() const;
  uint64_t bytesReceived() const { return bytes_received_; }
  uint64_t bytesSent() const { return bytes_sent_; }
  // Plaintext waiting plus protected bytes not yet on the wire.
  size_t bufferedWriteBytes() const {
    return write_buffer_.length() + (transport_ ? transport_->raw_output.length() : 0);
  }
  // Hibernation (see HibernationState): the owner can keep this connection as a record.
  void allowHibernation() { hibernation_allowed_ = true; }
  // Whether `filter` could ever hibernate this connection: allowed, plaintext, not captured,
  // and `filter` is the whole chain (so rebuilding the chain rebuilds it exactly).
  bool canHibernate(const ReadFilter& filter) const {
    return hibernation_allowed_ && transport_ == nullptr && capture_ == nullptr &&
           filters_.size() == 1 && filters_[0].get() == &filter;
  }
  // Hands the socket and `state` to the owner (ConnectionCallbacks::onHibernate) if nothing
  // is in flight either way; the connection is then closed without an event and the owner
  // destroys it. False: it stays as it was.
  bool hibernate(const ReadFilter& filter, const HibernationState& state);
  // A connection rebuilt from hibernation: passes `state` to its filters (ReadFilter::onWake).
  void wake(const HibernationState& state);

  // Raw descriptor, for listener filters (SO_ORIGINAL_DST) and socket options.
  int fd() const;
  // Set by capture listeners before the filter chain runs; nullptr elsewhere.
  const CaptureInfo* captureInfo() const { return capture_.get(); }
  void setCaptureInfo(CaptureInfo info) {
    capture_ = std::make_unique<CaptureInfo>(std::move(info));
  }

  // event::PostIoCallback: flushes the write buffer.
  void onPostIo() override;

 private:
  Connection(event::Dispatcher& dispatcher, Socket* socket, State state);

  // ReadFilterCallbacks
  Connection& connection() override { return *this; }

  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWriteDone(uv_write_t* req, int status);
  static void onShutdownDone(uv_shutdown_t* req, int status);
  static void onConnectDone(uv_connect_t* req, int status);
  // Our FIN is out: lingering close (closing) or wait for the peer's (half-close).
  void onWriteSideShut();

  void startReading();
  void stopReading();
  void onReadable(ssize_t nread);
  void onPeerEof();
  void runNewConnectionFilters();
  // TLS: feeds raw input to the transport socket and delivers the plaintext it yields.
  void onTransportRead();
  void onHandshakeComplete();
  void failTransport();
  buffer::Buffer& wireBuffer() { return transport_ ? transport_->raw_output : write_buffer_; }
  bool rawOutputEmpty() const { return transport_ == nullptr || transport_->raw_output.empty(); }
  void dispatchToFilters(bool end_stream);
  void scheduleFlush();
  bool writeInFlight() const { return write_in_flight_bytes_ != 0; }
  void flush();
  void afterWriteBufferDrained();
  void updateWatermarksAfterAdd();
  void updateWatermarksAfterDrain();
  void closeNow(CloseType type, ConnectionEvent event);
  void raiseEvent(ConnectionEvent event);
  void readAddresses();
  void maybeFinishHalfClosed();

  void setFailureReason(std::string reason);
  void schedulePostIo();
  void redispatch();
  uv_tcp_t* handle() const { return &socket_->handle; }

  // An IPv4 or IPv6 address in 28 bytes.
  union SockAddr {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  static void storeAddress(SockAddr& out, const sockaddr* sa);

  event::Dispatcher& dispatcher_;
  Socket* socket_;  // owned; freed by libuv's close callback
  uint64_t id_;
  SockAddr remote_address_{};
  SockAddr local_address_{};
  std::unique_ptr<std::string> failure_reason_;  // set only when something failed
  std::unique_ptr<CaptureInfo> capture_;         // a pointer: most connections are not captured
  // TLS: raw bytes read go to raw_input, bytes to send to raw_output; read_buffer_ and
  // write_buffer_ hold plaintext either way. One allocation, only for TLS connections: a plain
  // idle connection pays for a pointer.
  struct Transport {
    std::unique_ptr<TransportSocket> socket;
    buffer::Buffer raw_input;
    buffer::Buffer raw_output;
    std::function<void()> on_handshake_complete;
  };
  std::unique_ptr<Transport> transport_;  // nullptr: plain

  InlineVector<ConnectionCallbacks*, 2> callbacks_;
  InlineVector<std::unique_ptr<ReadFilter>, 1> filters_;

  // Empty buffers hold no slice and no part array: an idle connection keeps no buffer memory.
  buffer::Buffer read_buffer_;
  buffer::Buffer write_buffer_;
  std::unique_ptr<event::Timer> timer_;  // connect timeout, then lingering-close bound
  // In-flight requests, so a close can detach them (their callbacks then find no Connection).
  uv_write_t* write_req_ = nullptr;
  uv_req_t* control_req_ = nullptr;  // the connect (upstream) or the shutdown; never both

  uint32_t write_in_flight_bytes_ = 0;  // nonzero: one uv_write holds the front of the wire
  uint32_t high_watermark_ = 1024 * 1024;
  uint32_t read_disable_count_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;

  State state_;
  bool reading_ : 1 = false;
  bool post_io_scheduled_ : 1 = false;  // registered with the dispatcher for this pass
  bool flush_scheduled_ : 1 = false;
  bool redispatch_scheduled_ : 1 = false;  // re-deliver input held while reading was disabled
  bool above_high_watermark_ : 1 = false;
  bool half_close_ : 1 = false;
  bool read_eof_ : 1 = false;           // peer half-closed
  bool write_end_pending_ : 1 = false;  // shut down our write side once flushed
  bool write_shut_ : 1 = false;         // our FIN went out
  bool lingering_ : 1 = false;          // flushed and shut; discarding input until the peer's FIN
  bool in_dispatch_ : 1 = false;
  bool eof_pending_ : 1 = false;                // the peer's FIN arrived while reading was disabled
  bool connect_handshake_pending_ : 1 = false;  // upstream TLS: kConnected waits for handshake
  bool filters_wait_handshake_ : 1 = false;     // initializeReadFilters() came before the handshake
  bool tls_shutdown_sent_ : 1 = false;          // close_notify queued
  bool hibernation_allowed_ : 1 = false;
};

}  // namespace podproxy::network
