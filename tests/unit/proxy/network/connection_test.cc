// Connection over real loopback sockets: a blocking peer in a thread, our side on a Dispatcher.

#include "proxy/network/connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "proxy/network/listen_socket.h"

namespace podproxy::network {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1:0 whose accepted peer is driven by the test body.
class Peer {
 public:
  Peer() {
    auto sockets = createListenSockets(*Address::parse("127.0.0.1:0"), 1);
    EXPECT_TRUE(sockets.has_value());
    listen_fd_ = sockets->fds[0];
    address_ = sockets->bound;
    // Blocking accept for the test thread.
    const int flags = fcntl(listen_fd_, F_GETFL);
    fcntl(listen_fd_, F_SETFL, flags & ~O_NONBLOCK);
  }
  ~Peer() {
    if (fd_ >= 0) ::close(fd_);
    ::close(listen_fd_);
  }
  int accept() {
    fd_ = ::accept(listen_fd_, nullptr, nullptr);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd_;
  }
  std::string readAll() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  const Address& address() const { return address_; }
  int fd() const { return fd_; }

 private:
  int listen_fd_ = -1;
  int fd_ = -1;
  Address address_;
};

class Recorder : public ConnectionCallbacks, public ReadFilter {
 public:
  void onEvent(ConnectionEvent event) override { events.push_back(event); }
  void onAboveWriteBufferHighWatermark() override { ++above; }
  void onBelowWriteBufferLowWatermark() override { ++below; }
  FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    received += data.toString();
    data.clear();
    if (end_stream) saw_end_stream = true;
    if (on_data) on_data();
    return FilterStatus::kStopIteration;
  }
  std::vector<ConnectionEvent> events;
  std::string received;
  bool saw_end_stream = false;
  int above = 0;
  int below = 0;
  std::function<void()> on_data;
};

// The filter is owned by the connection; the test keeps a pointer to read what it recorded.
struct Harness {
  event::Dispatcher dispatcher{"test"};
  std::unique_ptr<Connection> connection;
  Recorder* recorder = nullptr;
  Recorder callbacks;

  void connect(const Address& address) {
    connection = Connection::connectTo(dispatcher, address, 2000ms);
    auto filter = std::make_unique<Recorder>();
    recorder = filter.get();
    connection->addReadFilter(std::move(filter));
    connection->addConnectionCallbacks(callbacks);
  }
  // Connects to `peer`, which accepts, and returns once the connection is up with its filters
  // initialized (false if that took more than ~5 s).
  bool connectAccepted(Peer& peer) {
    connect(peer.address());
    std::thread t([&] { peer.accept(); });
    const bool up = runUntil([&] { return !callbacks.events.empty(); });
    t.join();
    if (up) connection->initializeReadFilters();
    return up;
  }
  // Runs the loop until `done` or ~5 s.
  template <typename Pred>
  bool runUntil(Pred done) {
    auto guard = dispatcher.createTimer([this] { dispatcher.exit(); });
    for (int i = 0; i < 500 && !done(); ++i) {
      guard->enable(10ms);
      dispatcher.run();
    }
    return done();
  }
  // Runs the loop for about `duration`, for things that must NOT happen.
  void spin(std::chrono::milliseconds duration) {
    auto guard = dispatcher.createTimer([this] { dispatcher.exit(); });
    guard->enable(duration);
    dispatcher.run();
  }
  ~Harness() {
    connection.reset();
    EXPECT_TRUE(dispatcher.shutdown());
  }
};

TEST(Connection, ConnectRefusedReportsConnectFailed) {
  Address closed;
  {
    Peer p;  // bind a port, then free it so nothing listens there
    closed = p.address();
  }
  Harness h;
  h.connect(closed);
  ASSERT_TRUE(h.runUntil([&] { return !h.callbacks.events.empty(); }));
  EXPECT_EQ(h.callbacks.events[0], ConnectionEvent::kConnectFailed);
  EXPECT_EQ(h.connection->failureReason(), "connection_refused");
}

TEST(Connection, WritesAndReadsAndDeliversHalfCloseAsEndStream) {
  Peer peer;
  Harness h;
  h.connect(peer.address());
  h.connection->enableHalfClose(true);
  std::string peer_got;
  std::thread t([&] {
    peer.accept();
    ::write(peer.fd(), "hello", 5);
    ::shutdown(peer.fd(), SHUT_WR);
    peer_got = peer.readAll();
  });
  ASSERT_TRUE(h.runUntil([&] { return !h.callbacks.events.empty(); }));
  EXPECT_EQ(h.callbacks.events[0], ConnectionEvent::kConnected);
  h.connection->initializeReadFilters();
  ASSERT_TRUE(h.runUntil([&] { return h.recorder->saw_end_stream; }));
  EXPECT_EQ(h.recorder->received, "hello");
  // Our side may still write after the peer's FIN, then half-close too.
  buffer::Buffer out;
  out.add("world");
  h.connection->write(out, true);
  ASSERT_TRUE(h.runUntil([&] { return h.connection->state() == Connection::State::kClosed; }));
  t.join();
  EXPECT_EQ(peer_got, "world");
}

TEST(Connection, IdleConnectionHoldsNoSliceAfterReadAndWrite) {
  Peer peer;
  Harness h;
  h.connect(peer.address());
  std::thread t([&] {
    peer.accept();
    ::write(peer.fd(), "request", 7);
  });
  ASSERT_TRUE(h.runUntil([&] { return !h.callbacks.events.empty(); }));
  t.join();
  const size_t baseline = buffer::SlicePool::local().liveCount();
  h.connection->initializeReadFilters();
  ASSERT_TRUE(h.runUntil([&] { return h.recorder->received == "request"; }));
  // The filter drained what it read: no slice (nor reserved read space) stays attached.
  EXPECT_EQ(buffer::SlicePool::local().liveCount(), baseline);
  buffer::Buffer out;
  out.add("response");
  h.connection->write(out, false);
  EXPECT_EQ(buffer::SlicePool::local().liveCount(), baseline + 1);  // queued for the flush
  std::string got;
  std::thread reader([&] {
    char buf[16];
    const ssize_t n = ::read(peer.fd(), buf, sizeof(buf));
    if (n > 0) got.assign(buf, static_cast<size_t>(n));
  });
  ASSERT_TRUE(h.runUntil([&] { return h.connection->bufferedWriteBytes() == 0; }));
  reader.join();
  EXPECT_EQ(got, "response");
  h.spin(20ms);
  EXPECT_EQ(buffer::SlicePool::local().liveCount(), baseline);
  EXPECT_EQ(h.connection->state(), Connection::State::kOpen);
}

TEST(Connection, WatermarksFireWhenThePeerDoesNotRead) {
  Peer peer;
  Harness h;
  ASSERT_TRUE(h.connectAccepted(peer));
  h.connection->setBufferLimits(64 * 1024);
  // Far more than the kernel buffers hold, so some stays queued above the watermark.
  buffer::Buffer out;
  out.add(std::string(32 * 1024 * 1024, 'x'));
  h.connection->write(out, false);
  EXPECT_EQ(h.callbacks.above, 1);
  h.spin(200ms);  // let the socket fill
  EXPECT_EQ(h.callbacks.below, 0);
  // Now the peer reads everything; the queue drains below the low watermark.
  std::thread reader([&] {
    char buf[65536];
    size_t total = 0;
    while (total < 32u * 1024 * 1024) {
      const ssize_t n = ::read(peer.fd(), buf, sizeof(buf));
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  });
  ASSERT_TRUE(h.runUntil([&] { return h.callbacks.below == 1; }));
  EXPECT_EQ(h.connection->bufferedWriteBytes(), 0u);
  reader.join();
}

TEST(Connection, ReadDisableIsReferenceCountedAndRedeliversBufferedInput) {
  Peer peer;
  Harness h;
  ASSERT_TRUE(h.connectAccepted(peer));
  // First chunk arrives; the filter then disables reading twice (two independent reasons).
  h.recorder->on_data = [&] {
    h.connection->readDisable(true);
    h.connection->readDisable(true);
    h.recorder->on_data = nullptr;
  };
  ::write(peer.fd(), "one", 3);
  ASSERT_TRUE(h.runUntil([&] { return h.recorder->received == "one"; }));
  ::write(peer.fd(), "two", 3);
  h.spin(100ms);
  EXPECT_EQ(h.recorder->received, "one");  // still disabled
  h.connection->readDisable(false);
  h.spin(100ms);
  EXPECT_EQ(h.recorder->received, "one");  // one reason left
  h.connection->readDisable(false);
  ASSERT_TRUE(h.runUntil([&] { return h.recorder->received == "onetwo"; }));
}

TEST(Connection, FlushWriteCloseDeliversQueuedBytesThenFin) {
  Peer peer;
  Harness h;
  h.connect(peer.address());
  std::string peer_got;
  std::thread t([&] {
    peer.accept();
    peer_got = peer.readAll();  // returns at our FIN
  });
  ASSERT_TRUE(h.runUntil([&] { return !h.callbacks.events.empty(); }));
  h.connection->initializeReadFilters();
  buffer::Buffer out;
  out.add(std::string(1024 * 1024, 'y'));
  h.connection->write(out, false);
  h.connection->close(CloseType::kFlushWrite);
  // Closed once everything is sent, our FIN is out and the lingering wait has ended.
  ASSERT_TRUE(h.runUntil([&] { return h.connection->state() == Connection::State::kClosed; }));
  t.join();
  EXPECT_EQ(peer_got.size(), 1024u * 1024);
}

TEST(Connection, FlushWriteCloseGivesUpOnAPeerThatNeverReads) {
  // The peer neither reads nor closes: the flush can never finish, and the close is bounded
  // (5 s) instead of holding the socket and its queued output forever.
  Peer peer;
  Harness h;
  ASSERT_TRUE(h.connectAccepted(peer));
  buffer::Buffer out;
  out.add(std::string(32 * 1024 * 1024, 'z'));  // far more than the kernel buffers hold
  h.connection->write(out, false);
  const uint64_t closed_at = h.dispatcher.nowMs();
  h.connection->close(CloseType::kFlushWrite);
  h.spin(4500ms);
  EXPECT_EQ(h.connection->state(), Connection::State::kClosing);  // still trying
  EXPECT_GT(h.connection->bufferedWriteBytes(), 0u);
  ASSERT_EQ(h.callbacks.events.size(), 1u);  // kConnected only
  for (int i = 0; i < 60 && h.connection->state() != Connection::State::kClosed; ++i) {
    h.spin(50ms);
  }
  ASSERT_EQ(h.connection->state(), Connection::State::kClosed);
  const uint64_t elapsed = h.dispatcher.nowMs() - closed_at;
  EXPECT_GE(elapsed, 5000u);
  EXPECT_LT(elapsed, 6000u);
  ASSERT_EQ(h.callbacks.events.size(), 2u);
  EXPECT_EQ(h.callbacks.events[1], ConnectionEvent::kLocalClose);
  EXPECT_EQ(h.connection->bufferedWriteBytes(), 0u);  // the queued output was dropped
}

}  // namespace
}  // namespace podproxy::network
