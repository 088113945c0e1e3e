#include "proxy/upstream/http1_conn_pool.h"

#include <algorithm>
#include <utility>

#include "proxy/common/logger.h"

namespace podproxy::upstream {

Http1ConnPool::Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                             const config::Cluster& cluster, ResourceManager& resources,
                             CodecFactory codec_factory)
    : ConnPoolBase(dispatcher, std::move(host), cluster, resources),
      codec_factory_(std::move(codec_factory)) {}

Http1ConnPool::~Http1ConnPool() {
  releaseSlots(clients_.size());
  // ~CodecClient closes without callbacks.
  clients_.clear();
}

Cancellable* Http1ConnPool::newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                      http::StreamCallbacks& stream_callbacks,
                                      StreamPurpose purpose) {
  if (!acquireRequest(callbacks)) return nullptr;
  // A retry and a tunnel need a connection that carried nothing. Never an idle one: even one
  // whose request was cancelled before it connected may have been closed by the upstream since,
  // and neither would be retried again.
  const bool needs_unused_connection = purpose != StreamPurpose::kRequest;
  if (!needs_unused_connection && !idle_.empty()) {
    CodecClient* client = idle_.back();
    idle_.pop_back();
    attach(*client, decoder, callbacks, stream_callbacks, /*was_idle=*/true);
    return nullptr;
  }

  // A new connection for it if the circuit breaker allows; else it waits for a connection slot.
  const bool open = resources_.tryAcquireConnection();
  PendingRequests::Request* request =
      pending_.enqueue(decoder, callbacks, stream_callbacks, needs_unused_connection, !open);
  if (request == nullptr) return nullptr;  // overflow, already reported
  // Connecting always completes asynchronously, so the caller gets its handle first.
  if (open) openConnection();
  return request;
}

void Http1ConnPool::openConnection() {
  CodecClientCallbacks& callbacks = *this;  // a private base: convert here, not in make_unique
  clients_.push_back(std::make_unique<CodecClient>(dispatcher_, host_, cluster_.connect_timeout,
                                                   codec_factory_, callbacks));
  clients_.back()->pool_entry = std::prev(clients_.end());
  ++connecting_;
  ++stats_.cx_total;
  ++stats_.cx_active;
}

void Http1ConnPool::openConnectionsForPending() {
  while (pending_.size() > connecting_ && resources_.tryAcquireConnection(false)) {
    openConnection();
  }
}

void Http1ConnPool::attach(CodecClient& client, http::ResponseDecoder& decoder,
                           PoolCallbacks& callbacks, http::StreamCallbacks& stream_callbacks,
                           bool was_idle) {
  const bool served_before = client.streamsStarted() > 0;
  client.startStream(decoder, stream_callbacks);
  ++stats_.rq_total;
  ++stats_.rq_active;
  if (served_before) ++stats_.rq_reused;
  // The caller may reset the stream (closing the client) inside; touch nothing after this.
  // `reused` tells the caller the keep-alive race is possible: so it is on any connection that
  // waited idle, even one whose first request was cancelled before it connected.
  callbacks.onPoolReady(client, *host_, served_before || was_idle);
}

bool Http1ConnPool::servePending(CodecClient& client, bool unused) {
  auto it = pending_.firstServable(unused);
  if (it == pending_.end()) return false;
  std::unique_ptr<PendingRequests::Request> request = pending_.take(it);
  attach(client, request->decoder, request->callbacks, request->stream_callbacks,
         /*was_idle=*/false);
  return true;
}

void Http1ConnPool::removeIdle(CodecClient& client) {
  auto it = std::find(idle_.begin(), idle_.end(), &client);
  if (it != idle_.end()) idle_.erase(it);
}

void Http1ConnPool::onClientConnected(CodecClient& client) {
  --connecting_;
  if (alpn_mismatch_ != nullptr && negotiatedHttp2(client.connection())) {
    handOff(client);
    return;
  }
  if (servePending(client, /*unused=*/true)) return;
  onClientReusable(client);
}

void Http1ConnPool::handOff(CodecClient& client) {
  HandedOffConnection connection = client.handOff();
  --stats_.cx_active;  // the slot in resources_ travels with the connection
  std::unique_ptr<CodecClient> owned = std::move(*client.pool_entry);
  clients_.erase(client.pool_entry);
  // We are inside the connection's callback.
  dispatcher_.deferredDelete(std::move(owned));
  alpn_mismatch_->onAlpnMismatch(*this, std::move(connection));
  // The handler moved our pending requests to the other pool; anything still here needs a
  // connection of its own.
  openConnectionsForPending();
  checkDrained();
}

void Http1ConnPool::adoptConnection(HandedOffConnection connection) {
  CodecClientCallbacks& callbacks = *this;
  clients_.push_back(std::make_unique<CodecClient>(dispatcher_, host_, std::move(connection),
                                                   codec_factory_, callbacks));
  CodecClient& client = *clients_.back();
  client.pool_entry = std::prev(clients_.end());
  ++stats_.cx_active;
  if (servePending(client, /*unused=*/true)) return;
  onClientReusable(client);
}

void Http1ConnPool::onClientStreamDetached(CodecClient&) {
  --stats_.rq_active;
  resources_.releaseRequest();
}

void Http1ConnPool::onClientReusable(CodecClient& client) {
  if (draining_) {
    client.close();
    return;
  }
  const uint32_t max_requests = cluster_.max_requests_per_connection;
  if (max_requests > 0 && client.streamsStarted() >= max_requests) {
    ++stats_.cx_max_requests;
    client.close();
    return;
  }
  if (servePending(client, /*unused=*/false)) return;
  idle_.push_back(&client);
  client.setIdleTimeout(cluster_.idle_timeout);
}

void Http1ConnPool::onClientClosed(CodecClient& client, ClientCloseReason reason,
                                   std::string_view details) {
  if (!client.connected()) --connecting_;
  removeIdle(client);
  recordConnectionClose(stats_, reason);
  --stats_.cx_active;
  resources_.releaseConnection();
  CodecClient::PoolList::iterator entry = client.pool_entry;
  std::unique_ptr<CodecClient> owned = std::move(*entry);
  clients_.erase(entry);
  // We are inside the client's (and its connection's) callback.
  dispatcher_.deferredDelete(std::move(owned));

  if (!pending_.failOnConnectFailure(reason, details)) openConnectionsForPending();
  checkDrained();
}

void Http1ConnPool::drain(std::function<void()> on_drained) {
  startDrain(std::move(on_drained));
  std::vector<CodecClient*> idle = idle_;
  for (CodecClient* client : idle) client->close();
  checkDrained();
}

void Http1ConnPool::shutdown() {
  draining_ = true;
  pending_.failAll(PoolFailureReason::kLocalConnectionFailure, "pool_shutdown");
  while (!clients_.empty()) {
    CodecClient& client = *clients_.front();
    client.close(http::StreamResetReason::kLocalReset, "upstream_pool_shutdown");
    if (!clients_.empty() && clients_.front().get() == &client) {
      // Already closed earlier but still listed: cannot happen, but never spin.
      dispatcher_.deferredDelete(std::move(clients_.front()));
      clients_.pop_front();
      resources_.releaseConnection();
    }
  }
  idle_.clear();
  checkDrained();
}

}  // namespace podproxy::upstream
