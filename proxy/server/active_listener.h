#pragma once

// One listener on one worker: accepts on this worker's SO_REUSEPORT socket, enforces the
// listener's connection limit, builds each connection's network filter chain and owns the
// connections until they close.

#include <uv.h>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "proxy/event/dispatcher.h"
#include "proxy/network/connection.h"

namespace podproxy::http {
class ConnectionManager;
}

namespace podproxy::server {

// Shared by the instances of one listener on every worker.
struct ListenerShared {
  std::string name;
  uint32_t max_connections = 0;
  uint32_t buffer_limit = 0;
  std::atomic<uint32_t> connections{0};  // touched once per connection, never per request
  std::atomic<uint64_t> overflows{0};
};

// Adds the network filters of a new connection; returns the HTTP connection manager when the
// chain has one (so drain can reach it).
using NetworkFilterChainFactory = std::function<http::ConnectionManager*(network::Connection&)>;

class ActiveListener {
 public:
  ActiveListener(event::Dispatcher& dispatcher, ListenerShared& shared, int fd,
                 NetworkFilterChainFactory factory);
  ~ActiveListener();
  ActiveListener(const ActiveListener&) = delete;
  ActiveListener& operator=(const ActiveListener&) = delete;

  // Starts accepting; returns a libuv error name on failure.
  std::string start();
  // Stops accepting; connections carry on.
  void stopListening();
  // Stop accepting and ask every HTTP connection to finish gracefully.
  void drain();
  // Closes every connection now.
  void closeAll();
  size_t connectionCount() const { return connections_.size(); }

 private:
  struct ActiveConnection final : network::ConnectionCallbacks, event::DeferredDeletable {
    void onEvent(network::ConnectionEvent event) override;
    ActiveListener* parent = nullptr;
    std::unique_ptr<network::Connection> connection;
    http::ConnectionManager* http = nullptr;
    std::list<std::unique_ptr<ActiveConnection>>::iterator self;
  };

  static void onConnection(uv_stream_t* server, int status);
  void acceptOne();
  void removeConnection(ActiveConnection& active);

  event::Dispatcher& dispatcher_;
  ListenerShared& shared_;
  int fd_;
  uv_tcp_t* handle_ = nullptr;
  NetworkFilterChainFactory factory_;
  std::list<std::unique_ptr<ActiveConnection>> connections_;
};

}  // namespace podproxy::server
