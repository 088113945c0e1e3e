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
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;
using namespace upstream::testing;

class AutoConnPoolTest : public testing::PoolTest<AutoConnPool> {};

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

TEST_F(AutoConnPoolTest, EachSideReadsATunnelsPurposeForItsOwnProtocol) {
  FakeUpstream upstream(respondForever);
  makePool(upstream.port());

  // On the HTTP/2 side a tunnel is an ordinary stream: both wait for the one connection.
  TestStream a, b;
  offerUpgrade(a);
  offerUpgrade(b);
  EXPECT_NE(start(a, StreamPurpose::kTunnel), nullptr);
  EXPECT_NE(start(b, StreamPurpose::kTunnel), nullptr);
  EXPECT_EQ(pool_->stats().cx_total, 1u);

  // That connection speaks HTTP/1.1, where a tunnel needs a connection that carried nothing:
  // each gets a new one, and the handed-off connection (idle by the time they move) is left for
  // ordinary requests.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_EQ(pool_->protocol(), http::Protocol::kHttp11);
  EXPECT_TRUE(a.ok()) << a.reset_details << a.failure_details;
  EXPECT_TRUE(b.ok()) << b.reset_details << b.failure_details;
  EXPECT_FALSE(a.reused);
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 3);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 1; }));
  EXPECT_EQ(pool_->idleConnections(), 1u);

  // Known to be HTTP/1.1 now: a tunnel still skips the idle connection, a request takes it.
  TestStream c;
  offerUpgrade(c);
  EXPECT_NE(start(c, StreamPurpose::kTunnel), nullptr);
  EXPECT_FALSE(c.ready);
  TestStream plain;
  EXPECT_EQ(start(plain), nullptr);
  EXPECT_TRUE(plain.ready);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return c.done() && plain.done(); }));
  EXPECT_TRUE(c.ok());
  EXPECT_FALSE(c.reused);
  EXPECT_TRUE(plain.ok());
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
