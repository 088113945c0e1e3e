#pragma once

// One listener on one worker: accepts on this worker's SO_REUSEPORT socket, enforces the
// listener's connection limit, builds each connection's network filter chain and owns the
// connections until they close, keeping idle ones hibernated in between.

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/event/timer_wheel.h"
#include "proxy/network/connection.h"
#include "proxy/server/hibernation_poller.h"

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
  // `drain` asks this listener's live connections to finish gracefully. With a `hibernation`
  // poller (the worker's; it must outlive the listener), idle plaintext connections whose
  // chain allows it hibernate (see Connection::hibernate).
  ActiveListener(event::Dispatcher& dispatcher, ListenerShared& shared, int fd,
                 NetworkFilterChainFactory factory, std::function<void()> drain,
                 HibernationPoller* hibernation = nullptr);
  ~ActiveListener();
  ActiveListener(const ActiveListener&) = delete;
  ActiveListener& operator=(const ActiveListener&) = delete;

  // Starts accepting; returns a libuv error name on failure.
  std::string start();
  // Stops accepting; connections carry on.
  void stopListening();
  // Stop accepting and ask every HTTP connection to finish gracefully (hibernated ones are
  // woken first, so they close as idle awake ones do).
  void drain();
  // Closes every connection now (hibernated ones included).
  void closeAll();
  // Open connections, hibernated ones included.
  size_t connectionCount() const { return connection_count_; }

 private:
  // The listener's entry for one connection. While the connection hibernates, `connection` is
  // null and the entry is its whole record: the socket, what rebuilding needs, and a wheel timer
  // for its idle deadline. Entries live in per-thread blocks off the malloc heap (BlockPool), so
  // the memory of a hibernated connection's freed objects is not pinned by its record.
  struct ActiveConnection final : network::ConnectionCallbacks,
                                  event::DeferredDeletable,
                                  event::WheelTimer,
                                  HibernationPoller::Sleeper {
    static void* operator new(size_t size);
    static void operator delete(void* p) noexcept;

    void onEvent(network::ConnectionEvent event) override;
    bool onHibernate(int fd, const network::HibernationState& state) override;
    void onWheelTimeout() override;    // the idle deadline of a hibernated connection
    void onSocketReadable() override;  // bytes, FIN or RST on a hibernated connection
    ActiveListener* parent = nullptr;
    std::unique_ptr<network::Connection> connection;  // nullptr while hibernated
    // Intrusive list of the listener's connections (a std::list node would be one more
    // allocation per connection).
    ActiveConnection* prev = nullptr;
    ActiveConnection* next = nullptr;
    network::HibernationState hibernation;  // valid while hibernated
    int fd = -1;                            // the socket while hibernated
  };

  static void onConnection(uv_stream_t* server, int status);
  void acceptOne();
  // Capture: records where the connection was going and which cluster that picks; false when
  // the connection must be refused (it would loop back into the proxy).
  bool classifyCapture(network::Connection& connection);
  void removeConnection(ActiveConnection& active);
  // Builds `active`'s Connection over an accepted or woken `socket`, the same way for both;
  // the filter chain is built after it.
  network::Connection& attach(ActiveConnection& active, network::Socket* socket);
  bool hibernate(ActiveConnection& active, int fd, const network::HibernationState& state);
  // Rebuilds a hibernated connection exactly as accept built it, then lets it read.
  void wake(ActiveConnection& active);
  void wakeAll();

  event::Dispatcher& dispatcher_;
  ListenerShared& shared_;
  int fd_;
  uv_tcp_t* handle_ = nullptr;
  NetworkFilterChainFactory factory_;
  std::function<void()> drain_;
  HibernationPoller* hibernation_;           // nullptr: connections never hibernate
  ActiveConnection* connections_ = nullptr;  // owned, linked through prev/next
  size_t connection_count_ = 0;
  bool destroying_ = false;
  bool draining_ = false;
};

}  // namespace podproxy::server
