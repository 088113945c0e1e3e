#include "proxy/server/active_listener.h"

#include <unistd.h>

#include "filters/listener/original_dst.h"
#include "proxy/common/block_pool.h"
#include "proxy/common/logger.h"

namespace podproxy::server {

namespace {
template <typename T>
using EntryPool = common::BlockPool<sizeof(T)>;
}  // namespace

void* ActiveListener::ActiveConnection::operator new(size_t size) {
  // The whole cost of a hibernated connection in user space (plus its share of a block).
  static_assert(sizeof(ActiveConnection) <= 112);
  (void)size;  // always sizeof(ActiveConnection): the class is final
  return EntryPool<ActiveConnection>::local().allocate();
}

void ActiveListener::ActiveConnection::operator delete(void* p) noexcept {
  EntryPool<ActiveConnection>::local().deallocate(p);
}

ActiveListener::ActiveListener(event::Dispatcher& dispatcher, ListenerShared& shared, int fd,
                               NetworkFilterChainFactory factory, std::function<void()> drain,
                               HibernationPoller* hibernation)
    : dispatcher_(dispatcher),
      shared_(shared),
      fd_(fd),
      factory_(std::move(factory)),
      drain_(std::move(drain)),
      hibernation_(hibernation != nullptr && hibernation->valid() ? hibernation : nullptr) {}

ActiveListener::~ActiveListener() {
  // Connections go now, not deferred: what they reference (contexts, stats) dies with us.
  destroying_ = true;
  stopListening();
  closeAll();
}

std::string ActiveListener::start() {
  handle_ = new uv_tcp_t;
  uv_tcp_init(dispatcher_.loop(), handle_);
  handle_->data = this;
  int rc = uv_tcp_open(handle_, fd_);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), 1024, &ActiveListener::onConnection);
  }
  if (rc != 0) {
    event::closeAndDelete(handle_);
    handle_ = nullptr;
    return uv_err_name(rc);
  }
  return {};
}

void ActiveListener::stopListening() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  // Closing the handle closes this worker's socket; the other workers' sockets keep serving
  // until they stop too.
  event::closeAndDelete(handle_);
  handle_ = nullptr;
}

void ActiveListener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ActiveListener*>(server->data);
  if (self == nullptr) return;
  if (status != 0) {
    LOG_WARN("accept failed", {"listener", self->shared_.name}, {"error", uv_err_name(status)});
    return;
  }
  self->acceptOne();
}

void ActiveListener::acceptOne() {
  auto* client = new network::Socket;
  uv_tcp_init(dispatcher_.loop(), &client->handle);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(handle_),
                reinterpret_cast<uv_stream_t*>(&client->handle)) != 0) {
    network::Socket::closeAndDelete(client);
    return;
  }
  const uint32_t active = shared_.connections.fetch_add(1, std::memory_order_relaxed);
  if (shared_.max_connections > 0 && active >= shared_.max_connections) {
    shared_.connections.fetch_sub(1, std::memory_order_relaxed);
    shared_.overflows.fetch_add(1, std::memory_order_relaxed);
    LOG_DEBUG("listener connection limit reached", {"listener", shared_.name},
              {"max_connections", shared_.max_connections});
    network::Socket::closeAndDelete(client);
    return;
  }
  auto* tracked = new ActiveConnection;
  tracked->parent = this;
  network::Connection& connection = attach(*tracked, client);
  tracked->next = connections_;
  if (connections_ != nullptr) connections_->prev = tracked;
  connections_ = tracked;
  ++connection_count_;
  if (shared_.capture != nullptr && !classifyCapture(connection)) {
    connection.close(network::CloseType::kNoFlush);
    return;
  }
  factory_(connection);
  connection.initializeReadFilters();
}

network::Connection& ActiveListener::attach(ActiveConnection& active, network::Socket* socket) {
  active.connection = network::Connection::fromAccepted(dispatcher_, socket);
  network::Connection& connection = *active.connection;
  connection.setBufferLimits(shared_.buffer_limit);
  connection.addConnectionCallbacks(active);
  // Captured connections are sniffed first: rebuilding their chain would sniff again, so they
  // stay awake (as do TLS, HTTP/2 and tcp_proxy connections: see Connection::canHibernate).
  if (hibernation_ != nullptr && shared_.capture == nullptr) connection.allowHibernation();
  return connection;
}

bool ActiveListener::ActiveConnection::onHibernate(int socket_fd,
                                                   const network::HibernationState& state) {
  return parent->hibernate(*this, socket_fd, state);
}

void ActiveListener::ActiveConnection::onWheelTimeout() {
  parent->wake(*this);
}

void ActiveListener::ActiveConnection::onSocketReadable() {
  parent->wake(*this);
}

bool ActiveListener::hibernate(ActiveConnection& active, int fd,
                               const network::HibernationState& state) {
  if (hibernation_ == nullptr || draining_ || destroying_ || active.connection == nullptr) {
    return false;
  }
  if (!hibernation_->add(fd, active)) return false;
  active.fd = fd;
  active.hibernation = state;
  if (state.idle_deadline_ms != 0) {
    // Wakes it at its idle deadline, the tick its awake timer would have fired in; the rebuilt
    // manager then closes it as idle.
    const uint64_t now = dispatcher_.nowMs();
    const uint64_t left = state.idle_deadline_ms > now ? state.idle_deadline_ms - now : 0;
    dispatcher_.timerWheel().arm(active, std::chrono::milliseconds(left));
  }
  // We are inside the connection's own callback: it goes after this I/O pass.
  dispatcher_.deferredDelete(std::move(active.connection));
  hibernation_->noteHibernated();
  return true;
}

void ActiveListener::wake(ActiveConnection& active) {
  if (active.connection != nullptr || active.fd < 0) return;
  hibernation_->remove(active.fd);
  event::TimerWheel::disarm(active);
  const int fd = active.fd;
  active.fd = -1;
  auto* socket = new network::Socket;
  uv_tcp_init(dispatcher_.loop(), &socket->handle);
  const int rc = uv_tcp_open(&socket->handle, fd);
  if (rc != 0) {
    LOG_WARN("cannot wake a hibernated connection", {"listener", shared_.name},
             {"error", uv_err_name(rc)});
    ::close(fd);
  }
  // Built as accept built it (the peer address is read again), so the chain is the same and
  // its manager counts on from the state it saved.
  network::Connection& connection = attach(active, socket);
  factory_(connection);
  connection.wake(active.hibernation);
  if (rc != 0) {
    // Its filters are told the way any closed connection's are (stats stay balanced).
    connection.close(network::CloseType::kNoFlush);
    return;
  }
  connection.initializeReadFilters();
}

void ActiveListener::wakeAll() {
  ActiveConnection* next = nullptr;
  for (ActiveConnection* a = connections_; a != nullptr; a = next) {
    next = a->next;  // a failed wake may remove `a`, never another entry
    if (a->connection == nullptr) wake(*a);
  }
}

bool ActiveListener::classifyCapture(network::Connection& connection) {
  const network::Address& local = connection.localAddress();
  auto original = filters::originalDestination(connection.fd(), local.family());
  // Not redirected (a direct connection to the capture port): it "meant" us.
  const network::Address destination = original ? *original : local;
  const bool local_address = destination.isLoopback() || destination.ip() == local.ip();
  if (local_address && shared_.own_ports.contains(destination.port())) {
    shared_.loops_refused.fetch_add(1, std::memory_order_relaxed);
    LOG_DEBUG("refused a connection to the proxy's own listener", {"listener", shared_.name},
              {"destination", destination.toString()},
              {"peer", connection.remoteAddress().toString()});
    return false;
  }
  network::CaptureInfo info;
  info.original_destination = destination;
  info.upstream_target = destination;
  const config::CaptureOptions& capture = *shared_.capture;
  if (capture.direction == config::CaptureOptions::Direction::kInbound &&
      capture.inbound_target == config::CaptureOptions::InboundTarget::kLoopback) {
    // The app listens on localhost (or everywhere): reach it over loopback.
    info.upstream_target = *network::Address::fromIp(
        destination.family() == AF_INET6 ? "::1" : "127.0.0.1", destination.port());
  } else if (capture.direction == config::CaptureOptions::Direction::kInbound) {
    // To the Pod's own address: connect from 127.0.0.6 (::6), the source the init step exempts
    // from capture, as Istio does; otherwise our own connection is redirected back to us.
    info.upstream_source =
        *network::Address::fromIp(destination.family() == AF_INET6 ? "::6" : "127.0.0.6", 0);
  }
  info.cluster = std::string(config::kPassthroughCluster);
  if (capture.direction == config::CaptureOptions::Direction::kOutbound &&
      shared_.service_clusters != nullptr) {
    auto it = shared_.service_clusters->find(destination.toString());
    if (it != shared_.service_clusters->end()) info.cluster = it->second;
  }
  connection.setCaptureInfo(std::move(info));
  return true;
}

void ActiveListener::ActiveConnection::onEvent(network::ConnectionEvent event) {
  if (event == network::ConnectionEvent::kRemoteClose ||
      event == network::ConnectionEvent::kLocalClose) {
    parent->removeConnection(*this);
  }
}

void ActiveListener::removeConnection(ActiveConnection& active) {
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  std::unique_ptr<ActiveConnection> owned(&active);
  if (active.prev != nullptr) {
    active.prev->next = active.next;
  } else {
    connections_ = active.next;
  }
  if (active.next != nullptr) active.next->prev = active.prev;
  active.prev = active.next = nullptr;
  --connection_count_;
  if (destroying_) return;  // `owned` dies here: we are not inside its callbacks
  // We are inside the connection's own callback: destroy it after this I/O pass.
  dispatcher_.deferredDelete(std::move(owned));
}

void ActiveListener::drain() {
  stopListening();
  draining_ = true;
  // Awake again, they are idle connections like any other: the drain closes them.
  wakeAll();
  if (drain_) drain_();
}

void ActiveListener::closeAll() {
  // Woken first so their managers see the close (stats, observers) as for any connection.
  wakeAll();
  while (connections_ != nullptr) {
    connections_->connection->close(network::CloseType::kNoFlush);
  }
}

}  // namespace podproxy::server
