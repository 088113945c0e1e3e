#pragma once

// The HTTP/2 connection pool of one worker for one upstream host: streams multiplexed over as
// few connections as the peer allows. A connection takes new streams while it has fewer than
// the peer's SETTINGS_MAX_CONCURRENT_STREAMS (and ours); when every connection is full another
// one opens (circuit breakers permitting), and requests beyond that wait in a bounded queue. A
// GOAWAY from the upstream (or max_requests_per_connection) drains a connection: its streams
// finish, new ones go elsewhere, and it closes when empty. Same caller contract as
// Http1ConnPool (see http1_conn_pool.h); a stream the upstream refused (REFUSED_STREAM, or
// beyond GOAWAY's last stream id) is reported as "upstream_reset_before_response_started", which
// a router may retry. Purposes: kRetryOnNewConnection never goes on a connection that carried
// streams (the retry stays off the connection that refused it); kTunnel is an ordinary stream
// (RFC 8441 extended CONNECT), sharing connections with the others.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string_view>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/http/http2/settings.h"
#include "proxy/upstream/conn_pool_base.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class Http2ConnPool final : public ConnPoolBase {
 public:
  // `cluster`, `resources` and `codec_stats` must outlive the pool.
  Http2ConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                const config::Cluster& cluster, ResourceManager& resources,
                http::http2::CodecStats* codec_stats = nullptr);
  // Closes everything without calling anyone back; call shutdown() first to notify.
  ~Http2ConnPool() override;

  Cancellable* newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                         http::StreamCallbacks& stream_callbacks,
                         StreamPurpose purpose = StreamPurpose::kRequest) override;
  void drain(std::function<void()> on_drained = nullptr) override;
  void shutdown() override;

  size_t idleConnections() const override;
  size_t connections() const override { return clients_.size(); }
  http::Protocol protocol() const override { return http::Protocol::kHttp2; }

  // Takes over a connection the other pool connected; pending requests start on it at once.
  // Its circuit-breaker connection slot comes with it.
  void adoptConnection(HandedOffConnection connection);

 private:
  class ActiveClient;
  class PoolStream;
  using ClientList = std::list<std::unique_ptr<ActiveClient>>;

  void openConnection();
  // The client's connection did not negotiate h2: off to the other pool.
  void handOff(ActiveClient& client);
  // A connected client that can take one more stream (`unused`: one that never carried one).
  ActiveClient* readyClient(bool unused);
  // Streams the connections still connecting will be able to take.
  size_t connectingCapacity() const;
  void attach(ActiveClient& client, http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
              http::StreamCallbacks& stream_callbacks);
  // Hands pending requests to clients with room, opens connections for the rest.
  void servePending();
  void onClientConnected(ActiveClient& client);
  void onStreamDone(ActiveClient& client);
  // Closes clients that may take no more streams and have none (drain, GOAWAY, limit).
  void maybeCloseDrained(ActiveClient& client);
  void onClientClosed(ActiveClient& client, ClientCloseReason reason, std::string_view details);

  http::http2::CodecStats own_codec_stats_;
  http::http2::CodecStats* codec_stats_;
  ClientList clients_;
};

}  // namespace podproxy::upstream
