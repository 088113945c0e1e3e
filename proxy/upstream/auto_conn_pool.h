#pragma once

// The pool of one worker for one host of a TLS cluster with `protocol: auto`: HTTP/2 when the
// upstream's ALPN chooses h2, HTTP/1.1 otherwise (Envoy's mixed pool). It holds an HTTP/1 and an
// HTTP/2 pool for the host and remembers which protocol the host spoke last: requests go
// straight to that pool (HTTP/2 first, before anything is known). Every connection offers both
// protocols; one whose handshake chose the other protocol moves, handshake and all, to the
// other pool, the host's protocol flips, and the requests waiting in the first pool move with
// it, so requests queued during the first handshake (or while a host switched) all land on a
// connection that speaks their protocol. A request's StreamPurpose goes with it to whichever
// pool serves it: on an h2 host WebSockets share connections, on an HTTP/1.1 host each gets its
// own. Same caller contract as Http1ConnPool.

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/http/http2/settings.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/http1_conn_pool.h"
#include "proxy/upstream/http2_conn_pool.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class AutoConnPool final : public ConnPool, private AlpnMismatchHandler {
 public:
  // `cluster`, `resources` and `codec_stats` must outlive the pool.
  AutoConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
               const config::Cluster& cluster, ResourceManager& resources,
               http::http2::CodecStats* codec_stats = nullptr,
               CodecFactory http1_codec_factory = http1CodecFactory());
  ~AutoConnPool() override;

  Cancellable* newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                         http::StreamCallbacks& stream_callbacks,
                         StreamPurpose purpose = StreamPurpose::kRequest) override;
  void drain(std::function<void()> on_drained = nullptr) override;
  void shutdown() override;

  bool idle() const override { return http1_.idle() && http2_.idle(); }
  uint32_t activeRequests() const override {
    return http1_.activeRequests() + http2_.activeRequests();
  }
  // The sum of both pools' counters.
  const PoolStats& stats() const override;
  const Host& host() const override { return http1_.host(); }
  const HostConstSharedPtr& hostPtr() const override { return http1_.hostPtr(); }
  size_t idleConnections() const override {
    return http1_.idleConnections() + http2_.idleConnections();
  }
  size_t connections() const override { return http1_.connections() + http2_.connections(); }
  // What the host spoke last (kHttp2 until a handshake said otherwise).
  http::Protocol protocol() const override { return protocol_; }

  // Connections that moved to the other pool after their handshake.
  uint64_t handoffs() const { return handoffs_; }

 private:
  // A request between the caller and one of the two pools: the caller's cancel handle, which
  // stays valid when the request moves to the other pool. Reused from a free list, so steady
  // traffic allocates none.
  class Waiter final : public Cancellable, public PoolCallbacks {
   public:
    explicit Waiter(AutoConnPool& pool) : pool_(pool) {}
    void cancel() override;
    void onPoolReady(StreamHandle& stream, const Host& host, bool reused) override;
    void onPoolFailure(PoolFailureReason reason, std::string_view details,
                       const Host& host) override;

    http::ResponseDecoder* decoder = nullptr;
    PoolCallbacks* callbacks = nullptr;
    http::StreamCallbacks* stream_callbacks = nullptr;
    // Kept as the caller said it: each pool reads it for its own protocol, and the request
    // may move to the other one.
    StreamPurpose purpose = StreamPurpose::kRequest;
    ConnPool* target = nullptr;     // the pool that holds the request
    Cancellable* handle = nullptr;  // its handle there; null while moving
    bool active = false;            // between newStream and ready / failure / cancel
    uint64_t serial = 0;            // bumped on every reuse

   private:
    AutoConnPool& pool_;
  };

  ConnPool& poolFor(http::Protocol protocol);
  Waiter& acquire();
  void release(Waiter& waiter);
  // Hands `waiter` to `pool`; when the pool answers at once the waiter is released inside.
  void submit(Waiter& waiter, ConnPool& pool);
  void onSubPoolDrained();

  // AlpnMismatchHandler
  void onAlpnMismatch(ConnPool& from, HandedOffConnection connection) override;

  Http1ConnPool http1_;
  Http2ConnPool http2_;
  http::Protocol protocol_ = http::Protocol::kHttp2;
  std::vector<std::unique_ptr<Waiter>> waiters_;  // every waiter ever made
  std::vector<Waiter*> free_;
  uint64_t handoffs_ = 0;
  mutable PoolStats stats_;
  bool draining_ = false;
  std::function<void()> on_drained_;
};

}  // namespace podproxy::upstream
