#pragma once

// The requests a connection pool holds while no stream is free for them: first in, first out,
// each cancellable by its caller, with the max_pending_requests slots they hold and the counters
// every pool keeps. Shared by the HTTP/1 and HTTP/2 pools, which differ only in when a request
// can be served.

#include <functional>
#include <list>
#include <memory>
#include <string_view>

#include "proxy/http/codec.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class PendingRequests {
 public:
  class Request;
  using List = std::list<std::unique_ptr<Request>>;

  class Request final : public Cancellable {
   public:
    Request(PendingRequests& owner, http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
            http::StreamCallbacks& stream_callbacks, bool needs_unused_connection)
        : decoder(decoder),
          callbacks(callbacks),
          stream_callbacks(stream_callbacks),
          needs_unused_connection(needs_unused_connection),
          owner_(owner) {}
    // Destroys this object.
    void cancel() override { owner_.cancel(*this); }

    http::ResponseDecoder& decoder;
    PoolCallbacks& callbacks;
    http::StreamCallbacks& stream_callbacks;
    // Only a connection that has carried no stream may serve it (the pool's reading of the
    // caller's StreamPurpose).
    const bool needs_unused_connection;

   private:
    friend class PendingRequests;
    PendingRequests& owner_;
    // False while the request waits for a connection opened for it; true when it waits for a
    // connection slot (max_connections reached) and holds a max_pending_requests slot.
    bool holds_pending_slot_ = false;
    List::iterator entry_;
  };

  // `on_cancelled` runs after a caller cancelled a request (the pool may have drained).
  PendingRequests(const Host& host, ResourceManager& resources, PoolStats& stats,
                  std::function<void()> on_cancelled);
  ~PendingRequests();

  // Queues a request whose max_requests slot the pool already holds. With
  // `needs_pending_slot` (no connection is coming for it) it also takes a max_pending_requests
  // slot; when none is free the request fails with kOverflow and nullptr is returned.
  Request* enqueue(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                   http::StreamCallbacks& stream_callbacks, bool needs_unused_connection,
                   bool needs_pending_slot);

  // The oldest request a connection of this kind may serve (`unused_connection`: one that has
  // carried no stream yet, so requests that need such a one qualify too).
  List::iterator firstServable(bool unused_connection);
  // Removes a request to serve it; its max_requests slot passes to the caller.
  std::unique_ptr<Request> take(List::iterator it);
  // Fails every queued request (connect failure, shutdown), releasing its slots.
  void failAll(PoolFailureReason reason, std::string_view details);
  // After a connection closed: when it never connected, fails every queued request (the host
  // is not answering; callers may retry elsewhere rather than queue behind more doomed
  // connects) and returns true.
  bool failOnConnectFailure(ClientCloseReason reason, std::string_view details);

  List::iterator begin() { return list_.begin(); }
  List::iterator end() { return list_.end(); }
  size_t size() const { return list_.size(); }
  bool empty() const { return list_.empty(); }

 private:
  void cancel(Request& request);

  const Host& host_;
  ResourceManager& resources_;
  PoolStats& stats_;
  std::function<void()> on_cancelled_;
  List list_;
};

}  // namespace podproxy::upstream
