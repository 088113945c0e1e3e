#include "proxy/upstream/http1_conn_pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1, port chosen by the kernel.
int listenLoopback(int backlog, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  EXPECT_EQ(::listen(fd, backlog), 0);
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  port = ntohs(sa.sin_port);
  return fd;
}

// Reads one request head (tests send no bodies). False on EOF or error.
bool readRequest(int fd) {
  std::string buf;
  char c[1024];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, c, sizeof(c), 0);
    if (n <= 0) return false;
    buf.append(c, static_cast<size_t>(n));
  }
  return true;
}

void sendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

// A blocking upstream on its own threads: `handler(fd, index)` serves the index-th accepted
// connection and returns when done with it (the fd is closed afterwards).
class FakeUpstream {
 public:
  using Handler = std::function<void(int fd, int index)>;
  explicit FakeUpstream(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = listenLoopback(64, port_);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeUpstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void acceptLoop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      const int index = accepted_.fetch_add(1);
      std::lock_guard<std::mutex> lock(mutex_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd, index] {
        handler_(fd, index);
        ::close(fd);
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
  std::atomic<int> accepted_{0};
};

// Keep-alive responder: answers every request with 200 "ok".
void respondForever(int fd, int) {
  while (readRequest(fd)) sendAll(fd, kOk);
}

// Runs the loop until `pred` holds or `timeout` passes; returns pred().
bool runUntil(event::Dispatcher& dispatcher, const std::function<bool()>& pred,
              std::chrono::milliseconds timeout = 5000ms) {
  if (pred()) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto timer = dispatcher.createTimer([&] {
    if (pred() || std::chrono::steady_clock::now() > deadline) dispatcher.exit();
  });
  timer->enableRepeating(1ms);
  dispatcher.run();
  return pred();
}

// The router's side of one request: sends GET / when ready and records what happens.
class TestStream : public http::ResponseDecoder,
                   public PoolCallbacks,
                   public http::StreamCallbacks {
 public:
  // PoolCallbacks
  void onPoolReady(StreamHandle& stream, const Host&, bool reused) override {
    ready = true;
    this->reused = reused;
    handle = &stream;
    if (on_ready) on_ready(stream);
    if (!send_on_ready) return;
    http::RequestHeaders headers;
    headers.method = "GET";
    headers.path = "/";
    headers.authority = "upstream.test";
    stream.encodeHeaders(headers, true);
  }
  void onPoolFailure(PoolFailureReason reason, std::string_view details, const Host&) override {
    failure = reason;
    failure_details = std::string(details);
  }

  // http::ResponseDecoder
  void decode1xxHeaders(std::unique_ptr<http::ResponseHeaders>) override {}
  void decodeHeaders(std::unique_ptr<http::ResponseHeaders> headers, bool end_stream) override {
    status = headers->status;
    complete = end_stream;
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    body += data.toString();
    data.clear();
    complete = end_stream;
  }
  void decodeTrailers(std::unique_ptr<http::TrailerMap>) override { complete = true; }

  // http::StreamCallbacks
  void onResetStream(http::StreamResetReason reason, std::string_view details) override {
    reset = reason;
    reset_details = std::string(details);
  }

  bool done() const { return complete || reset.has_value() || failure.has_value(); }

  bool send_on_ready = true;
  std::function<void(StreamHandle&)> on_ready;  // runs before the request is sent
  bool ready = false;
  bool reused = false;
  StreamHandle* handle = nullptr;
  std::optional<PoolFailureReason> failure;
  std::string failure_details;
  uint16_t status = 0;
  std::string body;
  bool complete = false;
  std::optional<http::StreamResetReason> reset;
  std::string reset_details;
};

class Http1ConnPoolTest : public ::testing::Test {
 protected:
  void makePool(uint16_t port) {
    host_ = std::make_shared<const Host>("backend", *network::Address::fromIp("127.0.0.1", port),
                                         "127.0.0.1");
    resources_ = std::make_unique<ResourceManager>(cluster_.circuit_breakers);
    pool_ = std::make_unique<Http1ConnPool>(dispatcher_, host_, cluster_, *resources_);
  }

  Cancellable* start(TestStream& s, bool fresh = false) { return pool_->newStream(s, s, s, fresh); }

  // Every test ends here: nothing may leak out of the pool or the loop.
  void finish() {
    pool_->shutdown();
    EXPECT_EQ(resources_->connections(), 0u);
    EXPECT_EQ(resources_->requests(), 0u);
    EXPECT_EQ(resources_->pendingRequests(), 0u);
    EXPECT_TRUE(dispatcher_.shutdown());
  }

  event::Dispatcher dispatcher_{"test"};
  config::Cluster cluster_;
  HostConstSharedPtr host_;
  std::unique_ptr<ResourceManager> resources_;
  std::unique_ptr<Http1ConnPool> pool_;
};

TEST_F(Http1ConnPoolTest, ReusesKeepAliveConnectionForSequentialRequests) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream first;
  EXPECT_NE(start(first), nullptr);  // waits for the connect
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return first.done(); }));
  EXPECT_TRUE(first.complete);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "ok");
  EXPECT_FALSE(first.reused);
  EXPECT_EQ(pool_->idleConnections(), 1u);

  TestStream second;
  EXPECT_EQ(start(second), nullptr);  // an idle connection: ready at once
  EXPECT_TRUE(second.ready);
  EXPECT_TRUE(second.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return second.done(); }));
  EXPECT_EQ(second.body, "ok");

  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool_->stats().cx_total, 1u);
  EXPECT_EQ(pool_->stats().rq_total, 2u);
  EXPECT_EQ(pool_->stats().rq_reused, 1u);
  EXPECT_EQ(pool_->stats().rq_active, 0u);
  finish();
}

TEST_F(Http1ConnPoolTest, OpensSecondConnectionForConcurrentRequests) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a, b;
  start(a);
  start(b);
  EXPECT_EQ(pool_->stats().pending_active, 2u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_TRUE(a.complete);
  EXPECT_TRUE(b.complete);
  EXPECT_FALSE(a.reused);
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  EXPECT_EQ(pool_->idleConnections(), 2u);
  EXPECT_EQ(pool_->stats().pending_active, 0u);
  finish();
}

TEST_F(Http1ConnPoolTest, QueuesAtMaxConnectionsAndOverflowsAtMaxPending) {
  cluster_.circuit_breakers.max_connections = 1;
  cluster_.circuit_breakers.max_pending_requests = 1;
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a, b, c;
  EXPECT_NE(start(a), nullptr);
  EXPECT_NE(start(b), nullptr);  // no connection slot: queued
  EXPECT_EQ(resources_->pendingRequests(), 1u);
  EXPECT_EQ(start(c), nullptr);  // queue full
  ASSERT_TRUE(c.failure.has_value());
  EXPECT_EQ(*c.failure, PoolFailureReason::kOverflow);
  EXPECT_EQ(c.failure_details, "upstream overflow: max_pending_requests");
  EXPECT_EQ(resources_->pendingOverflows(), 1u);

  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_TRUE(a.complete);
  EXPECT_TRUE(b.complete);
  EXPECT_TRUE(b.reused);  // served by a's connection once it was free
  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool_->stats().overflow, 1u);
  finish();
}

TEST_F(Http1ConnPoolTest, OverflowsAtMaxRequests) {
  cluster_.circuit_breakers.max_requests = 1;
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a, b;
  start(a);
  EXPECT_EQ(start(b), nullptr);
  ASSERT_TRUE(b.failure.has_value());
  EXPECT_EQ(*b.failure, PoolFailureReason::kOverflow);
  EXPECT_EQ(b.failure_details, "upstream overflow: max_requests");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_TRUE(a.complete);
  // The slot is released when the stream ends.
  EXPECT_EQ(resources_->requests(), 0u);
  TestStream c;
  EXPECT_EQ(start(c), nullptr);
  EXPECT_TRUE(c.ready);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return c.done(); }));
  EXPECT_TRUE(c.complete);
  finish();
}

TEST_F(Http1ConnPoolTest, ConnectRefusedFailsPendingRequests) {
  uint16_t port = 0;
  const int fd = listenLoopback(1, port);
  ::close(fd);  // nothing listens there any more
  makePool(port);

  TestStream a, b;
  start(a);
  start(b);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  ASSERT_TRUE(a.failure.has_value());
  EXPECT_EQ(*a.failure, PoolFailureReason::kConnectFailure);
  EXPECT_EQ(a.failure_details, "connection_refused");
  ASSERT_TRUE(b.failure.has_value());
  EXPECT_EQ(*b.failure, PoolFailureReason::kConnectFailure);
  EXPECT_FALSE(a.ready);
  EXPECT_GE(pool_->stats().cx_connect_fail, 1u);
  EXPECT_EQ(pool_->stats().pending_active, 0u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  finish();
}

TEST_F(Http1ConnPoolTest, ConnectTimeoutAgainstFullBacklog) {
  // A listener that never accepts, its accept queue filled by two earlier connects: the kernel
  // drops further SYNs, so our connect can only time out.
  uint16_t port = 0;
  const int listen_fd = listenLoopback(0, port);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
  cluster_.connect_timeout = 100ms;
  makePool(port);

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  ASSERT_TRUE(a.failure.has_value());
  EXPECT_EQ(*a.failure, PoolFailureReason::kTimeout);
  EXPECT_EQ(a.failure_details, "connect_timeout");
  EXPECT_EQ(pool_->stats().cx_connect_timeout, 1u);
  finish();
  for (int fd : fillers) ::close(fd);
  ::close(listen_fd);
}

TEST_F(Http1ConnPoolTest, IdleTimeoutClosesIdleConnection) {
  cluster_.idle_timeout = 50ms;
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_EQ(pool_->idleConnections(), 1u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  EXPECT_EQ(pool_->stats().cx_idle_timeout, 1u);
  EXPECT_EQ(pool_->idleConnections(), 0u);
  finish();
}

TEST_F(Http1ConnPoolTest, UpstreamClosingIdleConnectionRemovesItQuietly) {
  // Answers one request, then closes the keep-alive connection a little later.
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, kOk);
    std::this_thread::sleep_for(50ms);
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_TRUE(a.complete);
  EXPECT_FALSE(a.reset.has_value());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  EXPECT_EQ(pool_->idleConnections(), 0u);
  EXPECT_EQ(pool_->stats().cx_destroy_remote, 1u);

  // The next request gets a new connection, not the dead one.
  TestStream b;
  EXPECT_NE(start(b), nullptr);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  EXPECT_TRUE(b.complete);
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  finish();
}

TEST_F(Http1ConnPoolTest, KeepAliveRaceReportsResetBeforeResponseStarted) {
  // Answers the first request; reads the second and closes without a byte of response.
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, kOk);
    readRequest(fd);
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  ASSERT_TRUE(a.complete);

  TestStream b;
  EXPECT_EQ(start(b), nullptr);
  EXPECT_TRUE(b.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  ASSERT_TRUE(b.reset.has_value());
  EXPECT_EQ(*b.reset, http::StreamResetReason::kConnectionTermination);
  EXPECT_EQ(b.reset_details, "upstream_reset_before_response_started");
  EXPECT_EQ(b.status, 0);
  EXPECT_EQ(pool_->connections(), 0u);
  EXPECT_EQ(resources_->requests(), 0u);
  finish();
}

TEST_F(Http1ConnPoolTest, ConnectionLostMidResponseReportsResetAfterResponseStarted) {
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_EQ(a.status, 200);
  EXPECT_FALSE(a.complete);
  ASSERT_TRUE(a.reset.has_value());
  EXPECT_EQ(*a.reset, http::StreamResetReason::kConnectionTermination);
  EXPECT_EQ(a.reset_details, "upstream_reset_after_response_started");
  finish();
}

TEST_F(Http1ConnPoolTest, CloseDelimitedResponseCompletesOnEof) {
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil-close");
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_TRUE(a.complete);
  EXPECT_FALSE(a.reset.has_value());
  EXPECT_EQ(a.body, "until-close");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  finish();
}

TEST_F(Http1ConnPoolTest, MalformedResponseIsProtocolError) {
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, "NOT HTTP AT ALL\r\n\r\n");
    readRequest(fd);
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  ASSERT_TRUE(a.reset.has_value());
  EXPECT_EQ(*a.reset, http::StreamResetReason::kProtocolError);
  EXPECT_FALSE(a.reset_details.empty());
  EXPECT_EQ(pool_->stats().cx_protocol_error, 1u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  finish();
}

TEST_F(Http1ConnPoolTest, ResetStreamClosesConnectionWithoutCallback) {
  std::atomic<bool> upstream_saw_eof{false};
  FakeUpstream upstream([&](int fd, int) {
    if (!readRequest(fd)) return;
    // Never answers; returns when we close.
    char c;
    if (::recv(fd, &c, 1, 0) == 0) upstream_saw_eof = true;
  });
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.ready && upstream.accepted() == 1; }));
  a.handle->resetStream();
  EXPECT_FALSE(a.reset.has_value());
  EXPECT_EQ(pool_->stats().rq_active, 0u);
  EXPECT_EQ(resources_->requests(), 0u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream_saw_eof.load(); }));
  EXPECT_EQ(pool_->connections(), 0u);
  EXPECT_EQ(pool_->stats().cx_destroy_local, 1u);
  finish();
}

TEST_F(Http1ConnPoolTest, ReadDisableOnHandleHoldsTheResponse) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  // Disable before the request goes out, so the response cannot have been read already.
  a.on_ready = [](StreamHandle& stream) {
    stream.readDisable(true);
    stream.readDisable(true);  // counted: one enable is not enough
  };
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.ready; }));
  runUntil(
      dispatcher_, [] { return false; }, 100ms);
  EXPECT_FALSE(a.complete);
  a.handle->readDisable(false);
  runUntil(
      dispatcher_, [] { return false; }, 50ms);
  EXPECT_FALSE(a.complete);
  a.handle->readDisable(false);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(a.body, "ok");
  // The connection went back idle reading again: a second request on it completes.
  TestStream b;
  EXPECT_EQ(start(b), nullptr);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  EXPECT_TRUE(b.complete);
  finish();
}

TEST_F(Http1ConnPoolTest, HonoursMaxRequestsPerConnection) {
  cluster_.max_requests_per_connection = 1;
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_EQ(pool_->idleConnections(), 0u);
  TestStream b;
  start(b);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  EXPECT_TRUE(b.complete);
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  EXPECT_EQ(pool_->stats().cx_max_requests, 2u);
  finish();
}

TEST_F(Http1ConnPoolTest, RequireFreshConnectionSkipsIdleOnes) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  TestStream b;
  EXPECT_NE(start(b, /*fresh=*/true), nullptr);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  EXPECT_TRUE(b.complete);
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  finish();
}

TEST_F(Http1ConnPoolTest, CancelledPendingRequestGetsNoCallback) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  Cancellable* handle = start(a);
  ASSERT_NE(handle, nullptr);
  handle->cancel();
  EXPECT_EQ(pool_->stats().pending_active, 0u);
  EXPECT_EQ(resources_->requests(), 0u);
  // The connection opened for it still completes and waits idle.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->idleConnections() == 1; }));
  EXPECT_FALSE(a.ready);
  EXPECT_FALSE(a.failure.has_value());
  finish();
}

TEST_F(Http1ConnPoolTest, ShutdownFailsPendingAndResetsActiveStreams) {
  FakeUpstream upstream([](int fd, int) {
    readRequest(fd);
    char c;
    ::recv(fd, &c, 1, 0);
  });
  cluster_.circuit_breakers.max_connections = 1;
  makePool(upstream.port());

  TestStream a, b;
  start(a);
  start(b);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.ready; }));
  pool_->shutdown();
  ASSERT_TRUE(a.reset.has_value());
  EXPECT_EQ(*a.reset, http::StreamResetReason::kLocalReset);
  EXPECT_EQ(a.reset_details, "upstream_pool_shutdown");
  ASSERT_TRUE(b.failure.has_value());
  EXPECT_EQ(*b.failure, PoolFailureReason::kLocalConnectionFailure);
  EXPECT_TRUE(pool_->idle());
  finish();
}

TEST(ResourceManager, RefusesBeyondLimitAndCountsOverflows) {
  config::CircuitBreakers limits;
  limits.max_connections = 2;
  limits.max_pending_requests = 0;
  limits.max_requests = 1;
  ResourceManager rm(limits);
  EXPECT_TRUE(rm.tryAcquireConnection());
  EXPECT_TRUE(rm.tryAcquireConnection());
  EXPECT_FALSE(rm.tryAcquireConnection());
  EXPECT_FALSE(rm.tryAcquireConnection(/*count_overflow=*/false));
  EXPECT_EQ(rm.connections(), 2u);
  EXPECT_EQ(rm.connectionOverflows(), 1u);
  rm.releaseConnection();
  EXPECT_TRUE(rm.tryAcquireConnection());
  EXPECT_FALSE(rm.tryAcquirePendingRequest());
  EXPECT_EQ(rm.pendingRequests(), 0u);
  EXPECT_TRUE(rm.tryAcquireRequest());
  EXPECT_FALSE(rm.tryAcquireRequest());
  EXPECT_EQ(rm.requestOverflows(), 1u);
}

}  // namespace
}  // namespace podproxy::upstream
