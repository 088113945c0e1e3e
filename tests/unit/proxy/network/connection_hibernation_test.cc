// Connection::hibernate and Connection::wake over a real loopback TCP pair: the accepted side
// is a Connection on a Dispatcher, the client side a plain blocking socket.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "proxy/network/connection.h"

namespace podproxy::network {
namespace {

using namespace std::chrono_literals;

// A connected loopback pair: `client` blocking, `server` non-blocking for libuv.
struct TcpPair {
  int client = -1;
  int server = -1;
  TcpPair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), len), 0);
    server = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    timeval tv{5, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~TcpPair() {
    if (client >= 0) ::close(client);
  }
};

class Filter : public ReadFilter {
 public:
  FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    received += data.toString();
    ended = ended || end_stream;
    data.clear();
    return FilterStatus::kStopIteration;
  }
  void onWake(const HibernationState& state) override { woken = state; }
  std::string received;
  bool ended = false;
  std::optional<HibernationState> woken;
};

// The owner: records events and takes (or refuses) the hibernating socket.
class Owner : public ConnectionCallbacks {
 public:
  void onEvent(ConnectionEvent event) override { events.push_back(event); }
  bool onHibernate(int socket_fd, const HibernationState& s) override {
    ++asked;
    if (!accept) return false;
    fd = socket_fd;
    state = s;
    return true;
  }
  bool accept = true;
  int asked = 0;
  int fd = -1;
  HibernationState state;
  std::vector<ConnectionEvent> events;
};

struct Harness {
  event::Dispatcher dispatcher{"test"};
  TcpPair pair;
  std::unique_ptr<Connection> connection;
  Filter* filter = nullptr;
  Owner owner;

  Harness() {
    auto* socket = new Socket;
    uv_tcp_init(dispatcher.loop(), &socket->handle);
    EXPECT_EQ(uv_tcp_open(&socket->handle, pair.server), 0);
    connection = Connection::fromAccepted(dispatcher, socket);
    connection->addConnectionCallbacks(owner);
    auto f = std::make_unique<Filter>();
    filter = f.get();
    connection->addReadFilter(std::move(f));
  }
  void spin(std::chrono::milliseconds duration) {
    auto guard = dispatcher.createTimer([this] { dispatcher.exit(); });
    guard->enable(duration);
    dispatcher.run();
  }
  template <typename Pred>
  bool runUntil(Pred done) {
    for (int i = 0; i < 500 && !done(); ++i) spin(10ms);
    return done();
  }
  ~Harness() {
    connection.reset();
    if (owner.fd >= 0) ::close(owner.fd);
    EXPECT_TRUE(dispatcher.shutdown());
  }
};

int openFds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

TEST(ConnectionHibernation, HandsTheSocketToItsOwnerWithoutAnEvent) {
  Harness h;
  h.connection->allowHibernation();
  h.connection->initializeReadFilters();
  ASSERT_EQ(::write(h.pair.client, "req", 3), 3);
  ASSERT_TRUE(h.runUntil([&] { return h.filter->received == "req"; }));
  ASSERT_TRUE(h.connection->canHibernate(*h.filter));

  const HibernationState state{123456, 7, true};
  ASSERT_TRUE(h.connection->hibernate(*h.filter, state));
  EXPECT_EQ(h.owner.asked, 1);
  ASSERT_GE(h.owner.fd, 0);
  EXPECT_EQ(h.owner.state.idle_deadline_ms, 123456u);
  EXPECT_EQ(h.owner.state.requests, 7u);
  EXPECT_TRUE(h.owner.state.http1);
  EXPECT_EQ(h.connection->state(), Connection::State::kClosed);
  h.connection.reset();
  h.spin(20ms);  // libuv closes its handle (and the original descriptor)
  EXPECT_TRUE(h.owner.events.empty());

  // The socket itself is untouched: the peer sees no FIN, and both directions still work
  // through the owner's descriptor.
  pollfd p{h.pair.client, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 50), 0) << "the peer saw the connection end";
  ASSERT_EQ(::write(h.pair.client, "next", 4), 4);
  pollfd q{h.owner.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&q, 1, 2000), 1);
  char buf[16];
  ASSERT_EQ(::read(h.owner.fd, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "next");
  ASSERT_EQ(::write(h.owner.fd, "resp", 4), 4);
  ASSERT_EQ(::read(h.pair.client, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "resp");
}

TEST(ConnectionHibernation, RefusedUnlessAllowed) {
  Harness h;
  h.connection->initializeReadFilters();
  h.spin(10ms);
  EXPECT_FALSE(h.connection->canHibernate(*h.filter));
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 0);
  EXPECT_EQ(h.connection->state(), Connection::State::kOpen);
}

TEST(ConnectionHibernation, RefusedForAFilterThatIsNotTheWholeChain) {
  Harness h;
  h.connection->allowHibernation();
  Filter other;
  EXPECT_FALSE(h.connection->canHibernate(other));
  h.connection->addReadFilter(std::make_unique<Filter>());
  h.connection->initializeReadFilters();
  h.spin(10ms);
  // Two filters: rebuilding the chain from one's state would not rebuild the other.
  EXPECT_FALSE(h.connection->canHibernate(*h.filter));
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 0);
}

TEST(ConnectionHibernation, RefusedWhileOutputIsQueued) {
  Harness h;
  h.connection->allowHibernation();
  h.connection->initializeReadFilters();
  h.spin(10ms);
  buffer::Buffer out;
  out.add("response");
  h.connection->write(out, false);  // flushed only after this I/O pass
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 0);
  char buf[16];
  h.spin(20ms);
  ASSERT_EQ(::read(h.pair.client, buf, sizeof(buf)), 8);
  // Flushed: now it can.
  EXPECT_TRUE(h.connection->hibernate(*h.filter, {}));
}

TEST(ConnectionHibernation, RefusedWhileReadingIsDisabled) {
  Harness h;
  h.connection->allowHibernation();
  h.connection->initializeReadFilters();
  h.spin(10ms);
  h.connection->readDisable(true);
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  h.connection->readDisable(false);
  EXPECT_TRUE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 1);
}

TEST(ConnectionHibernation, RefusedAfterThePeersFin) {
  // Half-close keeps the connection open after the peer's FIN: the FIN alone must refuse it.
  Harness h;
  h.connection->allowHibernation();
  h.connection->enableHalfClose(true);
  h.connection->initializeReadFilters();
  ASSERT_EQ(::shutdown(h.pair.client, SHUT_WR), 0);
  ASSERT_TRUE(h.runUntil([&] { return h.filter->ended; }));
  ASSERT_EQ(h.connection->state(), Connection::State::kOpen);
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 0);
}

TEST(ConnectionHibernation, RefusedAfterOurFin) {
  Harness h;
  h.connection->allowHibernation();
  h.connection->enableHalfClose(true);
  h.connection->initializeReadFilters();
  buffer::Buffer none;
  h.connection->write(none, true);  // our FIN: nothing to send, then shutdown(SHUT_WR)
  h.spin(20ms);
  char c;
  ASSERT_EQ(::read(h.pair.client, &c, 1), 0);  // the peer saw our FIN
  ASSERT_EQ(h.connection->state(), Connection::State::kOpen);
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 0);
}

TEST(ConnectionHibernation, RefusedByTheOwnerLeavesTheConnectionAsItWas) {
  Harness h;
  h.connection->allowHibernation();
  h.connection->initializeReadFilters();
  h.spin(10ms);
  h.owner.accept = false;
  const int fds = openFds();
  EXPECT_FALSE(h.connection->hibernate(*h.filter, {}));
  EXPECT_EQ(h.owner.asked, 1);
  EXPECT_EQ(openFds(), fds);  // the duplicate was closed again
  EXPECT_EQ(h.connection->state(), Connection::State::kOpen);
  ASSERT_EQ(::write(h.pair.client, "still", 5), 5);
  ASSERT_TRUE(h.runUntil([&] { return h.filter->received == "still"; }));
}

TEST(ConnectionHibernation, WakePassesTheSavedStateToTheFilters) {
  Harness h;
  EXPECT_FALSE(h.filter->woken.has_value());
  h.connection->wake(HibernationState{99, 3, true});
  ASSERT_TRUE(h.filter->woken.has_value());
  EXPECT_EQ(h.filter->woken->idle_deadline_ms, 99u);
  EXPECT_EQ(h.filter->woken->requests, 3u);
  EXPECT_TRUE(h.filter->woken->http1);
}

}  // namespace
}  // namespace podproxy::network
