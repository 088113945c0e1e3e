#include "proxy/upstream/http2_conn_pool.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "proxy/common/logger.h"
#include "proxy/http/http2/client_codec.h"
#include "proxy/http/http2/keepalive.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/upstream_transport.h"

namespace podproxy::upstream {

// One upstream connection: the network connection, the HTTP/2 client codec on it and the
// streams it carries.
class Http2ConnPool::ActiveClient final : public http::CodecTransport,
                                          public event::DeferredDeletable,
                                          private network::ConnectionCallbacks,
                                          private UpstreamDataSink,
                                          private http::http2::ConnectionKeepalive::Callbacks {
 public:
  using StreamList = std::list<std::unique_ptr<PoolStream>>;

  // Starts connecting.
  explicit ActiveClient(Http2ConnPool& pool);
  // Takes over a connection the other pool of an auto host connected.
  ActiveClient(Http2ConnPool& pool, HandedOffConnection connection);
  ~ActiveClient() override;

  // Gives up the (connected, stream-less) connection; the client is closed afterwards.
  HandedOffConnection handOff();

  // How many more streams this connection may take now.
  uint32_t capacity() const;
  // Closes the connection; streams on it are reset with `reason` / `details`.
  void close(ClientCloseReason reason,
             http::StreamResetReason reset_reason = http::StreamResetReason::kLocalReset,
             std::string_view details = "upstream_connection_closed");
  void setIdle(bool idle);
  // UpstreamDataSink. Half-close is never enabled here: the peer's FIN closes the connection.
  void onUpstreamData(buffer::Buffer& data, bool end_stream) override;

  // http::CodecTransport
  void write(buffer::Buffer& data, bool end_stream) override {
    connection_->write(data, end_stream);
  }

  Http2ConnPool& pool_;
  std::unique_ptr<network::Connection> connection_;
  UpstreamReadFilter* read_filter_ = nullptr;  // owned by connection_
  std::unique_ptr<http::http2::ClientCodec> codec_;
  std::unique_ptr<http::http2::ConnectionKeepalive> keepalive_;  // cluster's connection_keepalive
  StreamList streams_;
  ClientList::iterator entry;
  std::unique_ptr<event::Timer> idle_timer_;
  uint64_t streams_started_ = 0;
  bool connected_ = false;
  bool closed_ = false;
  bool no_new_streams_ = false;  // GOAWAY received, or the request limit reached

 private:
  void makeCodec();
  // Once connected, with the cluster's http2.connection_keepalive.
  void startKeepalive();

  // http::http2::ConnectionKeepalive::Callbacks
  void sendKeepalivePing() override { codec_->ping(); }
  void onKeepaliveTimeout() override;

  // network::ConnectionCallbacks
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;
  void onConnectionClosed(network::ConnectionEvent event);

  bool in_dispatch_ = false;
  bool close_after_dispatch_ = false;
  ClientCloseReason close_reason_ = ClientCloseReason::kLocalClose;
  http::StreamResetReason reset_reason_ = http::StreamResetReason::kLocalReset;
  std::string reset_details_ = "upstream_connection_closed";
};

// One request stream: the caller's StreamHandle, and the codec stream's decoder and callbacks
// (so the pool sees where each exchange ends). A tunnel (the codec's 101 for an extended
// CONNECT) ends when both directions did, as CodecClient's: the handle outlives the response
// for the caller's bytes until its own end_stream.
class Http2ConnPool::PoolStream final : public StreamHandle,
                                        public http::ResponseDecoder,
                                        public http::StreamCallbacks,
                                        public event::DeferredDeletable {
 public:
  PoolStream(ActiveClient& client, http::ResponseDecoder& decoder,
             http::StreamCallbacks& stream_callbacks)
      : client_(&client),
        connection_(*client.connection_),
        decoder_(&decoder),
        stream_callbacks_(&stream_callbacks) {
    encoder_ = &client.codec_->newStream(*this);
    encoder_->setStreamCallbacks(this);
  }

  // StreamHandle
  void encodeHeaders(const http::RequestHeaders& headers, bool end_stream) override {
    if (client_ != nullptr) encoder_->encodeHeaders(headers, end_stream);
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    if (client_ == nullptr) {
      data.clear();
      return;
    }
    encoder_->encodeData(data, end_stream);
    if (end_stream && tunnel_) {
      request_complete_ = true;
      // Still attached without a decoder: the upstream's side ended first (decodeData).
      if (decoder_ == nullptr) detach();
    }
  }
  void encodeTrailers(const http::TrailerMap& trailers) override {
    if (client_ != nullptr) encoder_->encodeTrailers(trailers);
  }
  void resetStream() override {
    if (client_ == nullptr) return;
    // Just this stream (RST_STREAM CANCEL); the connection carries on.
    encoder_->resetStream(http::StreamResetReason::kLocalReset);
    detach();
  }
  void readDisable(bool disable) override {
    if (client_ != nullptr) encoder_->readDisable(disable);
  }
  void setWatermarkCallbacks(StreamWatermarkCallbacks* callbacks) override {
    watermarks_ = callbacks;
  }
  const network::Connection& connection() const override { return connection_; }

  // http::ResponseDecoder (from the codec)
  void decode1xxHeaders(std::unique_ptr<http::ResponseHeaders> headers) override {
    response_started_ = true;
    if (decoder_ != nullptr) decoder_->decode1xxHeaders(std::move(headers));
  }
  void decodeHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) override {
    response_started_ = true;
    // The request side is open again, whatever the head said: the caller's bytes follow.
    if (headers->status == 101 && !end_stream) tunnel_ = true;
    if (decoder_ != nullptr) decoder_->decodeHeaders(std::move(headers), end_stream);
    if (end_stream) detach();
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    if (decoder_ != nullptr) {
      decoder_->decodeData(data, end_stream);
    } else {
      data.clear();
    }
    if (!end_stream) return;
    if (tunnel_ && !request_complete_) {
      // The upstream's side of the tunnel ended; the caller's goes on.
      decoder_ = nullptr;
      return;
    }
    detach();
  }
  void decodeTrailers(std::unique_ptr<http::TrailerMap> trailers) override {
    if (decoder_ != nullptr) decoder_->decodeTrailers(std::move(trailers));
    detach();
  }

  // http::StreamCallbacks (from the codec)
  void onResetStream(http::StreamResetReason reason, std::string_view details) override {
    if (client_ == nullptr) return;
    http::StreamCallbacks* callbacks = stream_callbacks_;
    ++client_->pool_.stats_.rq_reset;
    const std::string why(details);
    detach();
    callbacks->onResetStream(reason, why);
  }
  void onAboveWriteBufferHighWatermark() override {
    if (watermarks_ != nullptr) watermarks_->onAboveWriteBufferHighWatermark();
  }
  void onBelowWriteBufferLowWatermark() override {
    if (watermarks_ != nullptr) watermarks_->onBelowWriteBufferLowWatermark();
  }

  // The connection went away under the stream: forget the caller's objects, return its
  // callbacks for the reset the pool reports after cleaning up.
  http::StreamCallbacks* detachForClose() {
    http::StreamCallbacks* callbacks = stream_callbacks_;
    detach();
    return callbacks;
  }
  bool responseStarted() const { return response_started_; }
  StreamWatermarkCallbacks* watermarks() const { return watermarks_; }

  ActiveClient::StreamList::iterator entry;

 private:
  // The exchange is over for the caller: the slot goes back to the pool.
  void detach() {
    if (client_ == nullptr) return;
    ActiveClient& client = *client_;
    client_ = nullptr;
    decoder_ = nullptr;
    stream_callbacks_ = nullptr;
    watermarks_ = nullptr;
    std::unique_ptr<PoolStream> self = std::move(*entry);
    client.streams_.erase(entry);
    // The codec may still be calling us.
    client.pool_.dispatcher_.deferredDelete(std::move(self));
    --client.pool_.stats_.rq_active;
    client.pool_.resources_.releaseRequest();
    client.pool_.onStreamDone(client);
  }

  ActiveClient* client_;
  const network::Connection& connection_;
  http::RequestEncoder* encoder_ = nullptr;
  http::ResponseDecoder* decoder_;
  http::StreamCallbacks* stream_callbacks_;
  StreamWatermarkCallbacks* watermarks_ = nullptr;
  bool response_started_ = false;
  bool tunnel_ = false;            // a 101 opened a tunnel
  bool request_complete_ = false;  // ... and the caller ended its side
};

Http2ConnPool::ActiveClient::ActiveClient(Http2ConnPool& pool) : pool_(pool) {
  const Host& host = *pool.host_;
  connection_ = network::Connection::connectTo(pool.dispatcher_, host.address(),
                                               pool.cluster_.connect_timeout,
                                               createTransportSocket(host), host.sourceAddress());
  connection_->addConnectionCallbacks(*this);
  read_filter_ = addUpstreamReadFilter(*connection_, *this);
  makeCodec();
}

Http2ConnPool::ActiveClient::ActiveClient(Http2ConnPool& pool, HandedOffConnection connection)
    : pool_(pool), connection_(std::move(connection.connection)) {
  read_filter_ = connection.read_filter;
  connection_->addConnectionCallbacks(*this);
  read_filter_->setSink(*this);
  connected_ = true;
  makeCodec();
  startKeepalive();
}

HandedOffConnection Http2ConnPool::ActiveClient::handOff() {
  closed_ = true;
  if (idle_timer_) idle_timer_->disable();
  return handOffConnection(connection_, read_filter_, *this);
}

void Http2ConnPool::ActiveClient::makeCodec() {
  const config::Cluster& cluster = pool_.cluster_;
  http::http2::Http2Settings settings;
  settings.max_concurrent_streams = cluster.http2.max_concurrent_streams;
  settings.initial_stream_window_size = cluster.http2.initial_stream_window_size;
  settings.initial_connection_window_size = cluster.http2.initial_connection_window_size;
  settings.stream_buffer_limit_bytes = cluster.http2.initial_stream_window_size;
  codec_ = std::make_unique<http::http2::ClientCodec>(*this, settings, pool_.codec_stats_);
}

void Http2ConnPool::ActiveClient::startKeepalive() {
  const config::Http2Keepalive& keepalive = pool_.cluster_.http2.connection_keepalive;
  if (!keepalive.enabled()) return;
  keepalive_ = std::make_unique<http::http2::ConnectionKeepalive>(
      pool_.dispatcher_, keepalive.interval, keepalive.timeout,
      static_cast<http::http2::ConnectionKeepalive::Callbacks&>(*this));
}

void Http2ConnPool::ActiveClient::onKeepaliveTimeout() {
  // The upstream sent nothing, not even the PING's ACK, for the whole timeout: the host is
  // gone or unreachable. Its streams fail now instead of at their route timeouts, and no new
  // stream is given to this connection.
  ++pool_.codec_stats_->keepalive_timeout;
  LOG_DEBUG("upstream keepalive timeout", {"host", pool_.host_->addressString()},
            {"streams", streams_.size()});
  close(ClientCloseReason::kLocalClose, http::StreamResetReason::kConnectionTermination,
        "upstream_keepalive_timeout");
}

Http2ConnPool::ActiveClient::~ActiveClient() {
  if (connection_ == nullptr) return;  // handed off
  connection_->removeConnectionCallbacks(*this);
  connection_->close(network::CloseType::kNoFlush);
}

uint32_t Http2ConnPool::ActiveClient::capacity() const {
  if (!connected_ || closed_ || no_new_streams_ || !codec_->reusable()) return 0;
  const uint32_t limit = codec_->maxConcurrentStreams();
  const auto active = static_cast<uint32_t>(streams_.size());
  uint32_t room = limit > active ? limit - active : 0;
  const uint32_t max_requests = pool_.cluster_.max_requests_per_connection;
  if (max_requests > 0) {
    const uint64_t left = max_requests > streams_started_ ? max_requests - streams_started_ : 0;
    room = static_cast<uint32_t>(std::min<uint64_t>(room, left));
  }
  return room;
}

void Http2ConnPool::ActiveClient::setIdle(bool idle) {
  const auto timeout = pool_.cluster_.idle_timeout;
  if (!idle || timeout.count() == 0 || closed_) {
    if (idle_timer_) idle_timer_->disable();
    return;
  }
  if (!idle_timer_) {
    idle_timer_ = pool_.dispatcher_.createTimer([this] { close(ClientCloseReason::kIdleTimeout); });
  }
  idle_timer_->enable(timeout);
}

void Http2ConnPool::ActiveClient::close(ClientCloseReason reason,
                                        http::StreamResetReason reset_reason,
                                        std::string_view details) {
  if (closed_) return;
  close_reason_ = reason;
  reset_reason_ = reset_reason;
  reset_details_ = std::string(details);
  if (in_dispatch_) {
    // The codec is reading from the connection's buffer: close once it returns.
    close_after_dispatch_ = true;
    return;
  }
  connection_->close(network::CloseType::kNoFlush);
}

void Http2ConnPool::ActiveClient::onUpstreamData(buffer::Buffer& data, bool) {
  if (keepalive_) keepalive_->onInput();
  in_dispatch_ = true;
  const http::CodecStatus status = codec_->dispatch(data);
  in_dispatch_ = false;
  if (!status) {
    close_after_dispatch_ = false;
    data.clear();
    close(ClientCloseReason::kProtocolError, http::StreamResetReason::kProtocolError,
          status.error().details);
    return;
  }
  if (close_after_dispatch_) {
    close_after_dispatch_ = false;
    connection_->close(network::CloseType::kNoFlush);
    return;
  }
  if (codec_->goAwayReceived()) no_new_streams_ = true;
  // SETTINGS may have changed how many streams fit; a GOAWAY may have emptied us.
  pool_.servePending();
  pool_.maybeCloseDrained(*this);
}

void Http2ConnPool::ActiveClient::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::kConnected:
      // An adopted connection sees the event that handed it over too.
      if (connected_) return;
      connected_ = true;
      if (pool_.alpn_mismatch_ != nullptr && !negotiatedHttp2(*connection_)) {
        pool_.handOff(*this);
        return;
      }
      codec_->flush();  // preface and SETTINGS
      startKeepalive();
      pool_.onClientConnected(*this);
      return;
    case network::ConnectionEvent::kConnectFailed: {
      closed_ = true;
      pool_.onClientClosed(*this, connectFailureReason(*connection_), connection_->failureReason());
      return;
    }
    case network::ConnectionEvent::kRemoteClose:
    case network::ConnectionEvent::kLocalClose:
      onConnectionClosed(event);
      return;
  }
}

void Http2ConnPool::ActiveClient::onConnectionClosed(network::ConnectionEvent event) {
  closed_ = true;
  if (idle_timer_) idle_timer_->disable();
  keepalive_.reset();
  if (event == network::ConnectionEvent::kRemoteClose) {
    close_reason_ = ClientCloseReason::kRemoteClose;
  }
  std::vector<std::pair<http::StreamCallbacks*, bool>> resets;
  while (!streams_.empty()) {
    PoolStream& stream = *streams_.front();
    const bool started = stream.responseStarted();
    resets.emplace_back(stream.detachForClose(), started);
  }
  const ClientCloseReason reason = close_reason_;
  const http::StreamResetReason reset_reason = reset_reason_;
  const std::string details = reset_details_;
  pool_.stats_.rq_reset += resets.size();
  pool_.onClientClosed(*this, reason, connection_->failureReason());
  for (auto [callbacks, started] : resets) {
    if (reason == ClientCloseReason::kRemoteClose) {
      callbacks->onResetStream(http::StreamResetReason::kConnectionTermination,
                               started ? "upstream_reset_after_response_started"
                                       : "upstream_reset_before_response_started");
    } else {
      callbacks->onResetStream(reset_reason, details);
    }
  }
}

void Http2ConnPool::ActiveClient::onAboveWriteBufferHighWatermark() {
  std::vector<StreamWatermarkCallbacks*> targets;
  for (auto& stream : streams_) {
    if (stream->watermarks() != nullptr) targets.push_back(stream->watermarks());
  }
  for (auto* target : targets) target->onAboveWriteBufferHighWatermark();
}

void Http2ConnPool::ActiveClient::onBelowWriteBufferLowWatermark() {
  std::vector<StreamWatermarkCallbacks*> targets;
  for (auto& stream : streams_) {
    if (stream->watermarks() != nullptr) targets.push_back(stream->watermarks());
  }
  for (auto* target : targets) target->onBelowWriteBufferLowWatermark();
}

Http2ConnPool::Http2ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                             const config::Cluster& cluster, ResourceManager& resources,
                             http::http2::CodecStats* codec_stats)
    : ConnPoolBase(dispatcher, std::move(host), cluster, resources),
      codec_stats_(codec_stats != nullptr ? codec_stats : &own_codec_stats_) {}

Http2ConnPool::~Http2ConnPool() {
  releaseSlots(clients_.size());
  clients_.clear();
}

size_t Http2ConnPool::idleConnections() const {
  return static_cast<size_t>(std::count_if(clients_.begin(), clients_.end(), [](const auto& c) {
    return c->connected_ && c->streams_.empty();
  }));
}

Cancellable* Http2ConnPool::newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                      http::StreamCallbacks& stream_callbacks,
                                      StreamPurpose purpose) {
  if (!acquireRequest(callbacks)) return nullptr;
  // A tunnel is one stream like any other here; only a retry shuns used connections.
  const bool needs_unused_connection = purpose == StreamPurpose::kRetryOnNewConnection;
  if (ActiveClient* client = readyClient(needs_unused_connection)) {
    attach(*client, decoder, callbacks, stream_callbacks);
    return nullptr;
  }
  // A connection on its way may have room for it; else a new one if the circuit breaker
  // allows; else it waits for a connection slot.
  bool open = false;
  if (needs_unused_connection || pending_.size() >= connectingCapacity()) {
    open = resources_.tryAcquireConnection();
  }
  const bool covered = !needs_unused_connection && pending_.size() < connectingCapacity();
  PendingRequests::Request* request = pending_.enqueue(decoder, callbacks, stream_callbacks,
                                                       needs_unused_connection, !covered && !open);
  if (request == nullptr) return nullptr;  // overflow, already reported
  if (open) openConnection();
  return request;
}

void Http2ConnPool::handOff(ActiveClient& client) {
  HandedOffConnection connection = client.handOff();
  --stats_.cx_active;  // the slot in resources_ travels with the connection
  std::unique_ptr<ActiveClient> owned = std::move(*client.entry);
  clients_.erase(client.entry);
  // We are inside the connection's callback.
  dispatcher_.deferredDelete(std::move(owned));
  alpn_mismatch_->onAlpnMismatch(*this, std::move(connection));
  // The handler moved our pending requests to the other pool; anything still here needs a
  // connection of its own.
  servePending();
  checkDrained();
}

void Http2ConnPool::adoptConnection(HandedOffConnection connection) {
  clients_.push_back(std::make_unique<ActiveClient>(*this, std::move(connection)));
  ActiveClient& client = *clients_.back();
  client.entry = std::prev(clients_.end());
  ++stats_.cx_active;
  client.codec_->flush();  // preface and SETTINGS
  onClientConnected(client);
}

void Http2ConnPool::openConnection() {
  clients_.push_back(std::make_unique<ActiveClient>(*this));
  clients_.back()->entry = std::prev(clients_.end());
  ++stats_.cx_total;
  ++stats_.cx_active;
}

Http2ConnPool::ActiveClient* Http2ConnPool::readyClient(bool unused) {
  for (auto& client : clients_) {
    if (unused && client->streams_started_ > 0) continue;
    if (client->capacity() > 0) return client.get();
  }
  return nullptr;
}

size_t Http2ConnPool::connectingCapacity() const {
  size_t capacity = 0;
  for (const auto& client : clients_) {
    if (!client->connected_ && !client->closed_) {
      capacity += std::max<uint32_t>(1, cluster_.http2.max_concurrent_streams);
    }
  }
  return capacity;
}

void Http2ConnPool::attach(ActiveClient& client, http::ResponseDecoder& decoder,
                           PoolCallbacks& callbacks, http::StreamCallbacks& stream_callbacks) {
  const bool reused = client.streams_started_ > 0;
  ++client.streams_started_;
  client.setIdle(false);
  client.streams_.push_back(std::make_unique<PoolStream>(client, decoder, stream_callbacks));
  PoolStream& stream = *client.streams_.back();
  stream.entry = std::prev(client.streams_.end());
  ++stats_.rq_total;
  ++stats_.rq_active;
  if (reused) ++stats_.rq_reused;
  const uint32_t max_requests = cluster_.max_requests_per_connection;
  if (max_requests > 0 && client.streams_started_ >= max_requests && !client.no_new_streams_) {
    client.no_new_streams_ = true;
    ++stats_.cx_max_requests;
  }
  callbacks.onPoolReady(stream, *host_, reused);
}

void Http2ConnPool::servePending() {
  // Runs after every read and every finished stream: nothing queued is the usual case, and
  // connectingCapacity() below walks every connection.
  if (pending_.empty()) return;
  for (auto it = pending_.begin(); it != pending_.end();) {
    ActiveClient* client = readyClient((*it)->needs_unused_connection);
    if (client == nullptr) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    std::unique_ptr<PendingRequests::Request> request = pending_.take(it);
    attach(*client, request->decoder, request->callbacks, request->stream_callbacks);
    it = next;
  }
  while (pending_.size() > connectingCapacity() && resources_.tryAcquireConnection(false)) {
    openConnection();
  }
}

void Http2ConnPool::onClientConnected(ActiveClient& client) {
  servePending();
  maybeCloseDrained(client);
}

void Http2ConnPool::onStreamDone(ActiveClient& client) {
  if (client.closed_) return;
  servePending();
  maybeCloseDrained(client);
}

void Http2ConnPool::maybeCloseDrained(ActiveClient& client) {
  if (client.closed_ || !client.connected_ || !client.streams_.empty()) return;
  if (draining_ || client.no_new_streams_ || !client.codec_->reusable()) {
    client.close(ClientCloseReason::kLocalClose);
    return;
  }
  client.setIdle(true);
}

void Http2ConnPool::onClientClosed(ActiveClient& client, ClientCloseReason reason,
                                   std::string_view details) {
  recordConnectionClose(stats_, reason);
  --stats_.cx_active;
  resources_.releaseConnection();
  std::unique_ptr<ActiveClient> owned = std::move(*client.entry);
  clients_.erase(client.entry);
  // We are inside the client's (and its connection's) callback.
  dispatcher_.deferredDelete(std::move(owned));

  if (!pending_.failOnConnectFailure(reason, details)) servePending();
  checkDrained();
}

void Http2ConnPool::drain(std::function<void()> on_drained) {
  startDrain(std::move(on_drained));
  std::vector<ActiveClient*> idle;
  for (auto& client : clients_) {
    if (client->connected_ && client->streams_.empty()) idle.push_back(client.get());
  }
  for (ActiveClient* client : idle) client->close(ClientCloseReason::kLocalClose);
  checkDrained();
}

void Http2ConnPool::shutdown() {
  draining_ = true;
  pending_.failAll(PoolFailureReason::kLocalConnectionFailure, "pool_shutdown");
  while (!clients_.empty()) {
    ActiveClient& client = *clients_.front();
    client.close(ClientCloseReason::kLocalClose, http::StreamResetReason::kLocalReset,
                 "upstream_pool_shutdown");
    if (!clients_.empty() && clients_.front().get() == &client) {
      // Still connecting: no close event will come.
      std::unique_ptr<ActiveClient> owned = std::move(clients_.front());
      clients_.pop_front();
      resources_.releaseConnection();
      --stats_.cx_active;
      dispatcher_.deferredDelete(std::move(owned));
    }
  }
  checkDrained();
}

}  // namespace podproxy::upstream
