#include "proxy/upstream/http1_conn_pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/upstream/resource_manager.h"
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;
using namespace upstream::testing;

class Http1ConnPoolTest : public testing::PoolTest<Http1ConnPool> {};

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

TEST_F(Http1ConnPoolTest, AnIdleConnectionThatNeverServedStillReportsTheKeepAliveRace) {
  // The first request is cancelled before its connection is up, so the connection waits idle
  // without having served anything; the upstream then drops it as the next request arrives.
  FakeUpstream upstream([](int fd, int) { readRequest(fd); });
  makePool(upstream.port());

  TestStream a;
  Cancellable* handle = start(a);
  ASSERT_NE(handle, nullptr);
  handle->cancel();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->idleConnections() == 1; }));

  TestStream b;
  EXPECT_EQ(start(b), nullptr);
  EXPECT_TRUE(b.reused);  // so a router retries it on a new connection
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.done(); }));
  ASSERT_TRUE(b.reset.has_value());
  EXPECT_EQ(b.reset_details, "upstream_reset_before_response_started");
  EXPECT_EQ(pool_->stats().rq_reused, 0u);  // the stat still counts requests after requests
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

TEST_F(Http1ConnPoolTest, RetryOnNewConnectionSkipsIdleOnes) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream a;
  start(a);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  TestStream b;
  EXPECT_NE(start(b, StreamPurpose::kRetryOnNewConnection), nullptr);
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

constexpr std::string_view kSwitching =
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

TEST_F(Http1ConnPoolTest, TunnelNeverTakesAnIdleKeepAliveConnection) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  TestStream plain;
  start(plain);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return plain.done(); }));
  ASSERT_EQ(pool_->idleConnections(), 1u);

  TestStream ws;
  offerUpgrade(ws);
  EXPECT_NE(start(ws, StreamPurpose::kTunnel), nullptr);  // waits for a connection of its own
  EXPECT_FALSE(ws.ready);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return ws.done(); }));
  EXPECT_TRUE(ws.ok());  // refused with a plain 200: an ordinary answer
  EXPECT_FALSE(ws.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  // The connection that was offered the upgrade never goes back to the pool, whatever the
  // answer; the keep-alive one still waits there.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 1; }));
  EXPECT_EQ(pool_->idleConnections(), 1u);

  TestStream after;
  EXPECT_EQ(start(after), nullptr);
  EXPECT_TRUE(after.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return after.done(); }));
  EXPECT_TRUE(after.ok());
  EXPECT_EQ(upstream.accepted(), 2);
  finish();
}

TEST_F(Http1ConnPoolTest, TunnelCarriesTheCallersBytesAfterTheUpstreamFin) {
  std::mutex mutex;
  std::string upstream_got;
  std::atomic<bool> upstream_saw_fin{false};
  FakeUpstream upstream([&](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, std::string(kSwitching) + "bye");
    ::shutdown(fd, SHUT_WR);
    char buf[256];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
      std::lock_guard<std::mutex> lock(mutex);
      upstream_got.append(buf, static_cast<size_t>(n));
    }
    upstream_saw_fin = n == 0;
  });
  makePool(upstream.port());

  TestStream a;
  offerUpgrade(a);
  start(a, StreamPurpose::kTunnel);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done(); }));
  EXPECT_EQ(a.status, 101);
  EXPECT_EQ(a.body, "bye");
  EXPECT_TRUE(a.complete);  // the upstream's direction ended...
  EXPECT_FALSE(a.reset.has_value());
  // ...and the stream still holds the connection for the caller's direction.
  EXPECT_EQ(pool_->stats().rq_active, 1u);
  EXPECT_EQ(pool_->connections(), 1u);

  buffer::Buffer last;
  last.add("last words");
  a.handle->encodeData(last, false);
  buffer::Buffer none;
  a.handle->encodeData(none, true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream_saw_fin.load(); }));
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(upstream_got, "last words");
  }
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  EXPECT_EQ(pool_->stats().rq_active, 0u);
  EXPECT_FALSE(a.reset.has_value());
  EXPECT_EQ(pool_->idleConnections(), 0u);
  finish();
}

TEST_F(Http1ConnPoolTest, TunnelLostAfterTheUpstreamFinIsAReset) {
  // As the server does: a write to a reset peer must be an error (EPIPE), not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  FakeUpstream upstream([](int fd, int) {
    if (!readRequest(fd)) return;
    sendAll(fd, kSwitching);
    ::shutdown(fd, SHUT_WR);
    char c;
    (void)::recv(fd, &c, 1, 0);
    // Closed (by FakeUpstream) with SO_LINGER 0: an RST while the caller is still sending.
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  });
  makePool(upstream.port());

  TestStream a;
  offerUpgrade(a);
  start(a, StreamPurpose::kTunnel);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.complete; }));
  // The caller keeps writing; only a failed write can tell it the upstream is gone.
  ASSERT_TRUE(runUntil(dispatcher_, [&] {
    if (a.reset.has_value()) return true;
    buffer::Buffer more;
    more.add("x");
    a.handle->encodeData(more, false);
    return false;
  }));
  EXPECT_EQ(*a.reset, http::StreamResetReason::kConnectionTermination);
  EXPECT_EQ(a.reset_details, "upstream_reset_after_response_started");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 0; }));
  EXPECT_EQ(pool_->stats().rq_active, 0u);
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
