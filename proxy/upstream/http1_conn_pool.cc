#include "proxy/upstream/http1_conn_pool.h"

#include <algorithm>
#include <utility>

#include "proxy/common/logger.h"

namespace podproxy::upstream {

class Http1ConnPool::PendingRequest : public Cancellable {
 public:
  PendingRequest(Http1ConnPool& pool, http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                 http::StreamCallbacks& stream_callbacks, bool require_fresh)
      : pool_(pool),
        decoder(decoder),
        callbacks(callbacks),
        stream_callbacks(stream_callbacks),
        require_fresh(require_fresh) {}

  // Destroys this object.
  void cancel() override { pool_.cancelPending(*this); }

  Http1ConnPool& pool_;
  http::ResponseDecoder& decoder;
  PoolCallbacks& callbacks;
  http::StreamCallbacks& stream_callbacks;
  const bool require_fresh;
  // False while the request waits for the connection opened for it; true when it waits for a
  // connection slot (max_connections reached) and holds a max_pending_requests slot.
  bool holds_pending_slot = false;
  PendingList::iterator entry;
};

Http1ConnPool::Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                             const config::Cluster& cluster, ResourceManager& resources,
                             CodecFactory codec_factory)
    : dispatcher_(dispatcher),
      host_(std::move(host)),
      cluster_(cluster),
      resources_(resources),
      codec_factory_(std::move(codec_factory)) {}

Http1ConnPool::~Http1ConnPool() {
  for (auto& request : pending_) {
    if (request->holds_pending_slot) resources_.releasePendingRequest();
    resources_.releaseRequest();
  }
  for (uint64_t i = 0; i < stats_.rq_active; ++i) resources_.releaseRequest();
  for (size_t i = 0; i < clients_.size(); ++i) resources_.releaseConnection();
  // ~CodecClient closes without callbacks.
  clients_.clear();
}

Cancellable* Http1ConnPool::newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                      http::StreamCallbacks& stream_callbacks,
                                      bool require_fresh_connection) {
  if (!resources_.tryAcquireRequest()) {
    ++stats_.overflow;
    callbacks.onPoolFailure(PoolFailureReason::kOverflow, "upstream overflow: max_requests",
                            *host_);
    return nullptr;
  }
  if (!require_fresh_connection && !idle_.empty()) {
    CodecClient* client = idle_.back();
    idle_.pop_back();
    attach(*client, decoder, callbacks, stream_callbacks);
    return nullptr;
  }

  auto request = std::make_unique<PendingRequest>(*this, decoder, callbacks, stream_callbacks,
                                                  require_fresh_connection);
  bool open = false;
  if (resources_.tryAcquireConnection()) {
    open = true;
  } else if (resources_.tryAcquirePendingRequest()) {
    request->holds_pending_slot = true;
  } else {
    resources_.releaseRequest();
    ++stats_.overflow;
    callbacks.onPoolFailure(PoolFailureReason::kOverflow, "upstream overflow: max_pending_requests",
                            *host_);
    return nullptr;
  }
  PendingRequest* raw = request.get();
  pending_.push_back(std::move(request));
  raw->entry = std::prev(pending_.end());
  ++stats_.pending_total;
  stats_.pending_active = pending_.size();
  // Connecting always completes asynchronously, so the caller gets its handle first.
  if (open) openConnection();
  return raw;
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
                           PoolCallbacks& callbacks, http::StreamCallbacks& stream_callbacks) {
  const bool reused = client.streamsStarted() > 0;
  client.startStream(decoder, stream_callbacks);
  ++stats_.rq_total;
  ++stats_.rq_active;
  if (reused) ++stats_.rq_reused;
  // The caller may reset the stream (closing the client) inside; touch nothing after this.
  callbacks.onPoolReady(client, *host_, reused);
}

Http1ConnPool::PendingList::iterator Http1ConnPool::firstServable(bool fresh_connection) {
  return std::find_if(pending_.begin(), pending_.end(), [&](const auto& request) {
    return fresh_connection || !request->require_fresh;
  });
}

std::unique_ptr<Http1ConnPool::PendingRequest> Http1ConnPool::takePending(
    PendingList::iterator it) {
  std::unique_ptr<PendingRequest> request = std::move(*it);
  pending_.erase(it);
  if (request->holds_pending_slot) resources_.releasePendingRequest();
  stats_.pending_active = pending_.size();
  return request;
}

void Http1ConnPool::cancelPending(PendingRequest& request) {
  std::unique_ptr<PendingRequest> owned = takePending(request.entry);
  resources_.releaseRequest();
  // A connection opened for it still completes and waits idle for the next request.
  checkDrained();
}

void Http1ConnPool::failAllPending(PoolFailureReason reason, std::string_view details) {
  // Take them all first, so that a retry submitted from a failure callback is not failed too.
  std::vector<std::unique_ptr<PendingRequest>> failed;
  while (!pending_.empty()) {
    failed.push_back(takePending(pending_.begin()));
    resources_.releaseRequest();
    ++stats_.pending_failure;
  }
  for (auto& request : failed) request->callbacks.onPoolFailure(reason, details, *host_);
}

void Http1ConnPool::removeIdle(CodecClient& client) {
  auto it = std::find(idle_.begin(), idle_.end(), &client);
  if (it != idle_.end()) idle_.erase(it);
}

void Http1ConnPool::onClientConnected(CodecClient& client) {
  --connecting_;
  auto it = firstServable(true);
  if (it != pending_.end()) {
    std::unique_ptr<PendingRequest> request = takePending(it);
    attach(client, request->decoder, request->callbacks, request->stream_callbacks);
    return;
  }
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
  auto it = firstServable(false);
  if (it != pending_.end()) {
    std::unique_ptr<PendingRequest> request = takePending(it);
    attach(client, request->decoder, request->callbacks, request->stream_callbacks);
    return;
  }
  idle_.push_back(&client);
  client.setIdleTimeout(cluster_.idle_timeout);
}

void Http1ConnPool::onClientClosed(CodecClient& client, ClientCloseReason reason,
                                   std::string_view details) {
  if (!client.connected()) --connecting_;
  removeIdle(client);
  switch (reason) {
    case ClientCloseReason::kConnectTimeout:
      ++stats_.cx_connect_timeout;
      [[fallthrough]];
    case ClientCloseReason::kConnectFailure:
      ++stats_.cx_connect_fail;
      break;
    case ClientCloseReason::kRemoteClose:
      ++stats_.cx_destroy_remote;
      break;
    case ClientCloseReason::kIdleTimeout:
      ++stats_.cx_idle_timeout;
      ++stats_.cx_destroy_local;
      break;
    case ClientCloseReason::kProtocolError:
      ++stats_.cx_protocol_error;
      ++stats_.cx_destroy_local;
      break;
    case ClientCloseReason::kLocalClose:
      ++stats_.cx_destroy_local;
      break;
  }
  --stats_.cx_active;
  resources_.releaseConnection();
  CodecClient::PoolList::iterator entry = client.pool_entry;
  std::unique_ptr<CodecClient> owned = std::move(*entry);
  clients_.erase(entry);
  // We are inside the client's (and its connection's) callback.
  dispatcher_.deferredDelete(std::move(owned));

  if (reason == ClientCloseReason::kConnectFailure ||
      reason == ClientCloseReason::kConnectTimeout) {
    // The host is not answering: let callers decide (retry elsewhere) rather than queue behind
    // more doomed connects.
    LOG_DEBUG("upstream connect failed", {"host", host_->address().toString()},
              {"reason", details});
    failAllPending(reason == ClientCloseReason::kConnectTimeout
                       ? PoolFailureReason::kTimeout
                       : PoolFailureReason::kConnectFailure,
                   details);
  } else {
    openConnectionsForPending();
  }
  checkDrained();
}

void Http1ConnPool::drain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  std::vector<CodecClient*> idle = idle_;
  for (CodecClient* client : idle) client->close();
  checkDrained();
}

void Http1ConnPool::checkDrained() {
  if (draining_ && idle() && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

void Http1ConnPool::shutdown() {
  draining_ = true;
  failAllPending(PoolFailureReason::kLocalConnectionFailure, "pool_shutdown");
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
