#pragma once

// The HTTP/1 connection pool of one worker for one upstream host: keep-alive reuse (most
// recently used first), new connections under the cluster's circuit breakers, a bounded queue
// of requests waiting for a connection, connect and idle timeouts.
//
// Stream lifetime. The caller (the router) owns the ResponseDecoder, PoolCallbacks and
// StreamCallbacks it passes to newStream(); they must outlive the pending request (or the
// caller cancels it) and the stream (or the caller resets it). When a connection is ready,
// onPoolReady() hands over a StreamHandle: encode the request on it, call resetStream() on it to
// abandon the exchange (the connection is closed), readDisable() for a slow downstream, and
// setWatermarkCallbacks() to learn when the upstream cannot take more request body. The stream
// ends when the response completed (the decoder saw end_stream), when onResetStream() was
// called, or when the caller reset it.
//
// Resets. A connection lost under a stream gives onResetStream(kConnectionTermination,
// "upstream_reset_before_response_started") when no byte of the response arrived (with
// `reused` from onPoolReady this is the keep-alive race a router may retry on a fresh
// connection), "upstream_reset_after_response_started" otherwise; a malformed response gives
// kProtocolError with the codec's details.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

enum class PoolFailureReason { kConnectFailure, kTimeout, kOverflow, kLocalConnectionFailure };

class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;
  // The stream is ready: encode the request on `stream`. `reused` is true when the connection
  // served an earlier request (keep-alive).
  virtual void onPoolReady(StreamHandle& stream, const Host& host, bool reused) = 0;
  // kConnectFailure: details are Connection::failureReason() ("connection_refused", ...).
  // kTimeout: "connect_timeout". kOverflow: "upstream overflow: max_requests" or
  // "upstream overflow: max_pending_requests". kLocalConnectionFailure: "pool_shutdown".
  virtual void onPoolFailure(PoolFailureReason reason, std::string_view details,
                             const Host& host) = 0;
};

class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void cancel() = 0;
};

// Per-worker plain counters (no atomics); folded into metrics on scrape.
struct PoolStats {
  uint64_t cx_total = 0;         // connections opened
  uint64_t cx_active = 0;        // connections open or connecting now
  uint64_t cx_connect_fail = 0;  // connect failures, timeouts included
  uint64_t cx_connect_timeout = 0;
  uint64_t cx_idle_timeout = 0;
  uint64_t cx_destroy_remote = 0;  // closed by the upstream
  uint64_t cx_destroy_local = 0;   // closed by us
  uint64_t cx_max_requests = 0;    // closed after max_requests_per_connection
  uint64_t cx_protocol_error = 0;
  uint64_t rq_total = 0;   // streams started
  uint64_t rq_reused = 0;  // ... on a keep-alive connection
  uint64_t rq_active = 0;
  uint64_t rq_reset = 0;  // streams reset under the caller (not by it)
  uint64_t pending_total = 0;
  uint64_t pending_active = 0;
  uint64_t pending_failure = 0;  // pending requests failed (connect failure, shutdown)
  uint64_t overflow = 0;         // requests refused by a circuit breaker
};

class Http1ConnPool final : public event::DeferredDeletable, private CodecClientCallbacks {
 public:
  // `cluster` and `resources` must outlive the pool (the worker's ThreadLocalCluster owns all
  // three).
  Http1ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                const config::Cluster& cluster, ResourceManager& resources,
                CodecFactory codec_factory = http1CodecFactory());
  // Closes everything without calling anyone back; call shutdown() first to notify.
  ~Http1ConnPool() override;

  // Returns a handle to cancel a pending request, or nullptr when onPoolReady/onPoolFailure
  // was already called synchronously.
  Cancellable* newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                         http::StreamCallbacks& stream_callbacks,
                         bool require_fresh_connection = false);

  // The host left the cluster (or the worker is draining): idle connections close now, busy
  // ones close when their stream ends, pending requests still get served. `on_drained` runs
  // once idle() becomes true (possibly at once); delete the pool through deferredDelete().
  void drain(std::function<void()> on_drained = nullptr);
  // Fails pending requests (kLocalConnectionFailure), resets active streams (kLocalReset,
  // "upstream_pool_shutdown") and closes every connection.
  void shutdown();

  // No connection and no pending request.
  bool idle() const { return clients_.empty() && pending_.empty(); }
  // Streams in flight plus pending requests (least_request load balancing).
  uint32_t activeRequests() const {
    return static_cast<uint32_t>(stats_.rq_active + pending_.size());
  }
  const PoolStats& stats() const { return stats_; }
  const Host& host() const { return *host_; }
  const HostConstSharedPtr& hostPtr() const { return host_; }
  size_t idleConnections() const { return idle_.size(); }
  size_t connections() const { return clients_.size(); }

 private:
  class PendingRequest;
  using PendingList = std::list<std::unique_ptr<PendingRequest>>;

  // CodecClientCallbacks
  void onClientConnected(CodecClient& client) override;
  void onClientStreamDetached(CodecClient& client) override;
  void onClientReusable(CodecClient& client) override;
  void onClientClosed(CodecClient& client, ClientCloseReason reason,
                      std::string_view details) override;

  void openConnection();
  // Opens connections for pending requests no connecting connection will serve.
  void openConnectionsForPending();
  // Starts a stream on `client` and tells the caller.
  void attach(CodecClient& client, http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
              http::StreamCallbacks& stream_callbacks);
  // The first pending request that `client` may serve, or end().
  PendingList::iterator firstServable(bool fresh_connection);
  // Removes a pending request, releasing what it holds; returns its callbacks' owner object.
  std::unique_ptr<PendingRequest> takePending(PendingList::iterator it);
  void cancelPending(PendingRequest& request);
  void failAllPending(PoolFailureReason reason, std::string_view details);
  void removeIdle(CodecClient& client);
  void checkDrained();

  event::Dispatcher& dispatcher_;
  HostConstSharedPtr host_;
  const config::Cluster& cluster_;
  ResourceManager& resources_;
  CodecFactory codec_factory_;

  CodecClient::PoolList clients_;   // every connection, connecting / busy / idle
  std::vector<CodecClient*> idle_;  // most recently used at the back
  PendingList pending_;
  size_t connecting_ = 0;
  PoolStats stats_;

  bool draining_ = false;
  std::function<void()> on_drained_;
};

}  // namespace podproxy::upstream
