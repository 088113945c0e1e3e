#pragma once

// What a router needs from a worker's connection pool for one upstream host, whatever the
// protocol: HTTP/1 (one stream per connection, keep-alive reuse) or HTTP/2 (streams multiplexed
// over few connections). See http1_conn_pool.h for the stream lifetime rules both follow.

#include <cstdint>
#include <functional>
#include <string_view>

#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/host.h"

namespace podproxy::upstream {

enum class PoolFailureReason { kConnectFailure, kTimeout, kOverflow, kLocalConnectionFailure };

// Why the caller wants a stream. Each pool decides what that asks of its connections, so the
// caller need not know the protocol (an `auto` pool only learns it per connection).
enum class StreamPurpose {
  // An ordinary request: any connection with room.
  kRequest,
  // Resending a request whose reused connection died before answering (the keep-alive race, a
  // refused HTTP/2 stream): never on a connection that carried streams, lest it fail again.
  kRetryOnNewConnection,
  // An Upgrade (WebSocket): HTTP/1.1 turns the connection into a byte tunnel after the 101, so
  // it needs one that served nothing; HTTP/2 carries it as one stream among others (RFC 8441).
  kTunnel,
};

class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;
  // The stream is ready: encode the request on `stream`. `reused` is true when the connection
  // served an earlier request (keep-alive, or an HTTP/2 connection already in use).
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

// Adds every counter of `s` to `into` (gauges such as cx_active add up too).
void addPoolStats(PoolStats& into, const PoolStats& s);

class ConnPool : public event::DeferredDeletable {
 public:
  // Returns a handle to cancel a pending request, or nullptr when onPoolReady/onPoolFailure
  // was already called synchronously.
  virtual Cancellable* newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                 http::StreamCallbacks& stream_callbacks,
                                 StreamPurpose purpose = StreamPurpose::kRequest) = 0;
  // The host left the cluster (or the worker is draining): idle connections close now, busy
  // ones when their streams end, pending requests still get served. `on_drained` runs once
  // idle() becomes true (possibly at once); delete the pool through deferredDelete().
  virtual void drain(std::function<void()> on_drained = nullptr) = 0;
  // Fails pending requests (kLocalConnectionFailure), resets active streams (kLocalReset,
  // "upstream_pool_shutdown") and closes every connection.
  virtual void shutdown() = 0;

  // No connection and no pending request.
  virtual bool idle() const = 0;
  // Streams in flight plus pending requests (least_request load balancing).
  virtual uint32_t activeRequests() const = 0;
  virtual const PoolStats& stats() const = 0;
  virtual const Host& host() const = 0;
  virtual const HostConstSharedPtr& hostPtr() const = 0;
  // Connections with no stream, and all connections.
  virtual size_t idleConnections() const = 0;
  virtual size_t connections() const = 0;
  virtual http::Protocol protocol() const = 0;
};

}  // namespace podproxy::upstream
