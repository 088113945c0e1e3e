// AutoConnPool without TLS: no ALPN ever says h2, so the first connection (opened by the HTTP/2
// side, which is tried first) moves to the HTTP/1 side with every request queued behind it, and
// the host is remembered as HTTP/1.1. The TLS cases (h2 and http/1.1 chosen by ALPN) are
// integration tests (tests/integration/test_upstream_auto_protocol.py).

#include "proxy/upstream/auto_conn_pool.h"

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

class AutoConnPoolTest : public ::testing::Test {
 protected:
  void makePool(uint16_t port) {
    host_ = std::make_shared<const Host>("backend", *network::Address::fromIp("127.0.0.1", port),
                                         "127.0.0.1");
    resources_ = std::make_unique<ResourceManager>(cluster_.circuit_breakers);
    pool_ = std::make_unique<AutoConnPool>(dispatcher_, host_, cluster_, *resources_);
  }

  Cancellable* start(TestStream& s, bool fresh = false) { return pool_->newStream(s, s, s, fresh); }

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
  std::unique_ptr<AutoConnPool> pool_;
};

TEST_F(AutoConnPoolTest, RequestsQueuedDuringTheFirstHandshakeMoveToHttp1) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());
  EXPECT_EQ(pool_->protocol(), http::Protocol::kHttp2);  // tried first

  std::vector<std::unique_ptr<TestStream>> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(std::make_unique<TestStream>());
    EXPECT_NE(start(*streams.back()), nullptr);  // all wait for the first connection
  }
  EXPECT_EQ(pool_->stats().cx_total, 1u);  // HTTP/2 would carry them all on one connection
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    for (auto& s : streams) {
      if (!s->done()) return false;
    }
    return true;
  }));
  for (auto& s : streams) {
    EXPECT_TRUE(s->complete) << s->reset_details << s->failure_details;
    EXPECT_EQ(s->status, 200);
    EXPECT_EQ(s->body, "ok");
  }
  EXPECT_EQ(pool_->protocol(), http::Protocol::kHttp11);
  EXPECT_EQ(pool_->handoffs(), 1u);
  // The first connection carried one of them; HTTP/1 opened one for each of the others.
  EXPECT_EQ(upstream.accepted(), 4);
  EXPECT_EQ(pool_->stats().cx_total, 4u);
  EXPECT_EQ(pool_->stats().cx_active, 4u);
  EXPECT_EQ(pool_->stats().rq_total, 4u);
  EXPECT_EQ(pool_->stats().rq_active, 0u);
  EXPECT_EQ(pool_->stats().pending_active, 0u);
  EXPECT_EQ(pool_->idleConnections(), 4u);

  // Remembered: the next request goes straight to an idle HTTP/1 connection.
  TestStream later;
  EXPECT_EQ(start(later), nullptr);
  EXPECT_TRUE(later.ready);
  EXPECT_TRUE(later.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return later.done(); }));
  EXPECT_EQ(later.body, "ok");
  EXPECT_EQ(pool_->handoffs(), 1u);
  EXPECT_EQ(upstream.accepted(), 4);
  finish();
}

TEST_F(AutoConnPoolTest, ACancelledQueuedRequestIsNeverServed) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());
  TestStream kept, cancelled;
  EXPECT_NE(start(kept), nullptr);
  Cancellable* handle = start(cancelled);
  ASSERT_NE(handle, nullptr);
  handle->cancel();
  EXPECT_EQ(pool_->activeRequests(), 1u);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return kept.done(); }));
  EXPECT_TRUE(kept.complete);
  EXPECT_FALSE(cancelled.ready);
  EXPECT_FALSE(cancelled.failure.has_value());
  EXPECT_EQ(upstream.accepted(), 1);
  finish();
}

TEST_F(AutoConnPoolTest, AConnectFailureFailsTheQueuedRequests) {
  uint16_t port = 0;
  const int fd = listenLoopback(1, port);
  ::close(fd);  // nothing listens there any more
  makePool(port);
  TestStream a, b;
  start(a);
  start(b);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_EQ(a.failure, PoolFailureReason::kConnectFailure);
  EXPECT_EQ(b.failure, PoolFailureReason::kConnectFailure);
  EXPECT_EQ(a.failure_details, "connection_refused");
  EXPECT_EQ(pool_->handoffs(), 0u);
  EXPECT_EQ(pool_->protocol(), http::Protocol::kHttp2);
  finish();
}

TEST_F(AutoConnPoolTest, DrainReportsOnceBothSidesAreEmpty) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());
  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  int drained = 0;
  pool_->drain([&] { ++drained; });
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->idle(); }));
  EXPECT_EQ(drained, 1);
  finish();
}

}  // namespace
}  // namespace podproxy::upstream
