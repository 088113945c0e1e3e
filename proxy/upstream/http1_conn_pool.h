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
// `reused` from onPoolReady this is the keep-alive race a router may retry, with
// StreamPurpose::kRetryOnNewConnection), "upstream_reset_after_response_started" otherwise; a
// malformed response gives kProtocolError with the codec's details.
//
// Purposes. kRetryOnNewConnection and kTunnel both get a connection opened for them, never an
// idle one: a retry must not meet the same race again, and an Upgrade makes its connection a
// byte tunnel (the codec then never lets that connection back into the pool, whatever the
// answer).

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
#include "proxy/upstream/conn_pool_base.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class Http1ConnPool final : public ConnPoolBase, private CodecClientCallbacks {
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
                         StreamPurpose purpose = StreamPurpose::kRequest) override;
  void drain(std::function<void()> on_drained = nullptr) override;
  void shutdown() override;

  size_t idleConnections() const override { return idle_.size(); }
  size_t connections() const override { return clients_.size(); }
  http::Protocol protocol() const override { return http::Protocol::kHttp11; }

  // Takes over a connection the other pool connected; it serves the oldest pending request or
  // waits idle. Its circuit-breaker connection slot comes with it.
  void adoptConnection(HandedOffConnection connection);

 private:
  // CodecClientCallbacks
  void onClientConnected(CodecClient& client) override;
  void onClientStreamDetached(CodecClient& client) override;
  void onClientReusable(CodecClient& client) override;
  void onClientClosed(CodecClient& client, ClientCloseReason reason,
                      std::string_view details) override;

  void openConnection();
  // The client's connection negotiated h2: off to the other pool.
  void handOff(CodecClient& client);
  // Opens connections for pending requests no connecting connection will serve.
  void openConnectionsForPending();
  // Starts a stream on `client` and tells the caller (`was_idle`: taken from the idle list).
  void attach(CodecClient& client, http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
              http::StreamCallbacks& stream_callbacks, bool was_idle);
  // Serves the oldest pending request `client` may take (`unused`: it carried no stream yet);
  // false when there is none.
  bool servePending(CodecClient& client, bool unused);
  void removeIdle(CodecClient& client);

  CodecFactory codec_factory_;

  CodecClient::PoolList clients_;   // every connection, connecting / busy / idle
  std::vector<CodecClient*> idle_;  // most recently used at the back
  size_t connecting_ = 0;
};

}  // namespace podproxy::upstream
