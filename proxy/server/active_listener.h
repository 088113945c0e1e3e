#pragma once

// One listener on one worker: accepts on this worker's SO_REUSEPORT socket, enforces the
// listener's connection limit, builds each connection's network filter chain and owns the
// connections until they close.

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/network/connection.h"

namespace podproxy::server {

// Shared by the instances of one listener on every worker.
struct ListenerShared {
  std::string name;
  uint32_t max_connections = 0;
  uint32_t buffer_limit = 0;
  std::atomic<uint32_t> connections{0};  // touched once per connection, never per request
  std::atomic<uint64_t> overflows{0};

  // Transparent capture (nullptr otherwise).
  const config::CaptureOptions* capture = nullptr;
  // Ports of every listener of this process: a captured connection whose original destination
  // is one of them on a local address would loop back into us.
  std::set<uint16_t> own_ports;
  // Service address ("ip:port") -> cluster, from the clusters' service_addresses.
  const std::map<std::string, std::string>* service_clusters = nullptr;
  std::atomic<uint64_t> loops_refused{0};
};

// Adds the network filters of a new connection.
using NetworkFilterChainFactory = std::function<void(network::Connection&)>;

class ActiveListener {
 public:
  // `drain` asks this listener's live connections to finish gracefully.
  ActiveListener(event::Dispatcher& dispatcher, ListenerShared& shared, int fd,
                 NetworkFilterChainFactory factory, std::function<void()> drain);
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
  size_t connectionCount() const { return connection_count_; }

 private:
  struct ActiveConnection final : network::ConnectionCallbacks, event::DeferredDeletable {
    void onEvent(network::ConnectionEvent event) override;
    ActiveListener* parent = nullptr;
    std::unique_ptr<network::Connection> connection;
    // Intrusive list of the listener's connections (a std::list node would be one more
    // allocation per connection).
    ActiveConnection* prev = nullptr;
    ActiveConnection* next = nullptr;
  };

  static void onConnection(uv_stream_t* server, int status);
  void acceptOne();
  // Capture: records where the connection was going and which cluster that picks; false when
  // the connection must be refused (it would loop back into the proxy).
  bool classifyCapture(network::Connection& connection);
  void removeConnection(ActiveConnection& active);

  event::Dispatcher& dispatcher_;
  ListenerShared& shared_;
  int fd_;
  uv_tcp_t* handle_ = nullptr;
  NetworkFilterChainFactory factory_;
  std::function<void()> drain_;
  ActiveConnection* connections_ = nullptr;  // owned, linked through prev/next
  size_t connection_count_ = 0;
  bool destroying_ = false;
};

}  // namespace podproxy::server
