#include "filters/network/tcp_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/resource_manager.h"
#include "proxy/upstream/thread_local_cluster.h"
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::filters {
namespace {

using namespace std::chrono_literals;
using upstream::testing::FakeUpstream;
using upstream::testing::listenLoopback;
using upstream::testing::runUntil;
using upstream::testing::sendAll;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  return sa;
}

// A blocking client socket with a bounded receive timeout, so a broken proxy fails the test
// instead of hanging it.
int connectClient(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in sa = loopback(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  return fd;
}

// Reads until EOF (returns true) or an error/timeout (false; errno kept in `err`).
bool readToEof(int fd, std::string& out, int* err = nullptr) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) {
      if (err != nullptr) *err = errno;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

void echo(int fd, int) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    sendAll(fd, std::string_view(buf, static_cast<size_t>(n)));
  }
}

class TcpProxyTest : public ::testing::Test {
 protected:
  // Points the proxy's cluster at `upstream_port` and starts listening for downstreams.
  void start(uint16_t upstream_port) {
    cluster_.name = "backend";
    cluster_.connect_timeout = 1000ms;
    auto hosts = std::make_shared<upstream::HostSet>();
    hosts->hosts.push_back(std::make_shared<const upstream::Host>(
        "backend", *network::Address::fromIp("127.0.0.1", upstream_port), "127.0.0.1"));
    resources_ = std::make_shared<upstream::ResourceManager>(cluster_.circuit_breakers);
    clusters_.addCluster(cluster_, hosts, resources_);
    if (config_.cluster.empty()) config_.cluster = "backend";

    server_ = new uv_tcp_t;
    uv_tcp_init(dispatcher_.loop(), server_);
    server_->data = this;
    sockaddr_in sa = loopback(0);
    ASSERT_EQ(uv_tcp_bind(server_, reinterpret_cast<sockaddr*>(&sa), 0), 0);
    ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(server_), 64, &TcpProxyTest::onAccept), 0);
    int len = sizeof(sa);
    uv_tcp_getsockname(server_, reinterpret_cast<sockaddr*>(&sa), &len);
    proxy_port_ = ntohs(sa.sin_port);
  }

  static void onAccept(uv_stream_t* server, int status) {
    auto* self = static_cast<TcpProxyTest*>(server->data);
    ASSERT_EQ(status, 0);
    auto* socket = new network::Socket;
    uv_tcp_init(self->dispatcher_.loop(), &socket->handle);
    ASSERT_EQ(uv_accept(server, reinterpret_cast<uv_stream_t*>(&socket->handle)), 0);
    auto conn = network::Connection::fromAccepted(self->dispatcher_, socket);
    auto proxy = std::make_unique<TcpProxy>(self->config_, self->clusters_, &self->stats_);
    self->proxies_.push_back(proxy.get());
    conn->addReadFilter(std::move(proxy));
    conn->initializeReadFilters();
    self->downstreams_.push_back(std::move(conn));
  }

  bool allDownstreamsClosed() const {
    for (const auto& c : downstreams_) {
      if (c->state() != network::Connection::State::kClosed) return false;
    }
    return !downstreams_.empty();
  }

  // Runs the loop while `client` works on its own thread.
  void runClient(const std::function<void()>& client) {
    std::atomic<bool> done{false};
    std::thread t([&] {
      client();
      done = true;
    });
    // The client's socket timeouts are 5 s: give it longer before failing.
    EXPECT_TRUE(runUntil(
        dispatcher_, [&] { return done.load(); }, 10000ms));
    t.join();
  }

  void finish() {
    ASSERT_TRUE(runUntil(dispatcher_, [&] { return stats_.cx_active == 0; }));
    EXPECT_EQ(resources_->connections(), 0u);
    event::closeAndDelete(server_);
    proxies_.clear();
    downstreams_.clear();
    clusters_.shutdown();
    EXPECT_TRUE(dispatcher_.shutdown());
  }

  event::Dispatcher dispatcher_{"test"};
  Random random_{42};
  upstream::ThreadLocalClusterManager clusters_{dispatcher_, random_};
  config::Cluster cluster_;
  config::TcpProxyConfig config_;
  std::shared_ptr<upstream::ResourceManager> resources_;
  TcpProxyStats stats_;
  uv_tcp_t* server_ = nullptr;
  uint16_t proxy_port_ = 0;
  std::vector<std::unique_ptr<network::Connection>> downstreams_;
  std::vector<TcpProxy*> proxies_;
};

TEST_F(TcpProxyTest, EchoesRoundTripAndCountsBytes) {
  FakeUpstream upstream(echo);
  start(upstream.port());
  std::string reply;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    sendAll(fd, "hello");
    char buf[5];
    size_t got = 0;
    while (got < 5) {
      const ssize_t n = ::recv(fd, buf + got, 5 - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    reply.assign(buf, got);
    ::close(fd);
  });
  EXPECT_EQ(reply, "hello");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return allDownstreamsClosed(); }));
  EXPECT_EQ(stats_.cx_total, 1u);
  EXPECT_EQ(stats_.downstream_rx_bytes, 5u);
  EXPECT_EQ(stats_.upstream_rx_bytes, 5u);
  ASSERT_EQ(proxies_.size(), 1u);
  EXPECT_EQ(proxies_[0]->bytesFromDownstream(), 5u);
  EXPECT_TRUE(proxies_[0]->upstreamConnected());
  finish();
}

TEST_F(TcpProxyTest, ForwardsHalfCloseBothWays) {
  // Reads to EOF, then answers and closes: only works if our FIN reached it and its reply
  // still comes back through the half-closed connection.
  std::atomic<bool> upstream_saw_eof{false};
  FakeUpstream upstream([&](int fd, int) {
    std::string got;
    if (!readToEof(fd, got)) return;
    upstream_saw_eof = true;
    sendAll(fd, "bye:" + got);
  });
  start(upstream.port());
  std::string reply;
  bool clean_eof = false;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    sendAll(fd, "ping");
    ::shutdown(fd, SHUT_WR);
    clean_eof = readToEof(fd, reply);
    ::close(fd);
  });
  EXPECT_TRUE(upstream_saw_eof.load());
  EXPECT_TRUE(clean_eof);
  EXPECT_EQ(reply, "bye:ping");
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return allDownstreamsClosed(); }));
  finish();
}

TEST_F(TcpProxyTest, IdleTimeoutClosesBothSides) {
  config_.idle_timeout = 100ms;
  std::atomic<bool> upstream_saw_eof{false};
  FakeUpstream upstream([&](int fd, int) {
    std::string got;
    if (readToEof(fd, got)) upstream_saw_eof = true;
  });
  start(upstream.port());
  bool closed = false;
  std::chrono::milliseconds waited{};
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    const auto t0 = std::chrono::steady_clock::now();
    std::string got;
    closed = readToEof(fd, got);
    waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    ::close(fd);
  });
  EXPECT_TRUE(closed);
  EXPECT_GE(waited.count(), 80);
  EXPECT_LT(waited.count(), 3000);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream_saw_eof.load(); }));
  EXPECT_EQ(stats_.idle_timeout, 1u);
  finish();
}

TEST_F(TcpProxyTest, ActivityKeepsIdleTimerFromFiring) {
  config_.idle_timeout = 150ms;
  FakeUpstream upstream(echo);
  start(upstream.port());
  std::string echoed;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    for (int i = 0; i < 5; ++i) {  // 5 x 60ms: longer than the timeout in total
      sendAll(fd, "x");
      char c;
      if (::recv(fd, &c, 1, 0) == 1) echoed.push_back(c);
      std::this_thread::sleep_for(60ms);
    }
    ::close(fd);
  });
  EXPECT_EQ(echoed, "xxxxx");
  EXPECT_EQ(stats_.idle_timeout, 0u);
  finish();
}

TEST_F(TcpProxyTest, UpstreamRefusedClosesDownstream) {
  uint16_t port = 0;
  ::close(listenLoopback(1, port));  // nothing listens there any more
  start(port);
  bool closed = false;
  std::string got;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    int err = 0;
    closed = readToEof(fd, got, &err) || err == ECONNRESET;
    ::close(fd);
  });
  EXPECT_TRUE(closed);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(stats_.connect_fail, 1u);
  finish();
}

TEST_F(TcpProxyTest, UnknownClusterClosesDownstream) {
  config_.cluster = "missing";
  FakeUpstream upstream(echo);
  start(upstream.port());
  bool closed = false;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    std::string got;
    int err = 0;
    closed = readToEof(fd, got, &err) || err == ECONNRESET;
    ::close(fd);
  });
  EXPECT_TRUE(closed);
  EXPECT_EQ(stats_.no_cluster, 1u);
  EXPECT_EQ(upstream.accepted(), 0);
  finish();
}

TEST_F(TcpProxyTest, UpstreamResetIsForwardedAsReset) {
  FakeUpstream upstream([](int fd, int) {
    char c;
    if (::recv(fd, &c, 1, 0) != 1) return;
    linger l{1, 0};  // close with RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  });
  start(upstream.port());
  int err = 0;
  bool clean_eof = true;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    sendAll(fd, "x");
    std::string got;
    clean_eof = readToEof(fd, got, &err);
    ::close(fd);
  });
  EXPECT_FALSE(clean_eof);
  EXPECT_EQ(err, ECONNRESET);
  finish();
}

TEST_F(TcpProxyTest, LargeTransferSurvivesBackpressure) {
  // 8 MiB through an echo upstream while the client reads slowly at first: both write buffers
  // pass their watermarks, reading pauses and resumes, and every byte arrives in order.
  FakeUpstream upstream(echo);
  start(upstream.port());
  constexpr size_t kSize = 8 * 1024 * 1024;
  std::string payload(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) payload[i] = static_cast<char>('a' + (i * 7) % 26);
  std::string received;
  runClient([&] {
    const int fd = connectClient(proxy_port_);
    std::thread writer([&] {
      sendAll(fd, payload);
      ::shutdown(fd, SHUT_WR);
    });
    std::this_thread::sleep_for(200ms);  // let the buffers fill up
    readToEof(fd, received);
    writer.join();
    ::close(fd);
  });
  EXPECT_EQ(received.size(), kSize);
  EXPECT_TRUE(received == payload);
  EXPECT_EQ(stats_.downstream_rx_bytes, kSize);
  EXPECT_EQ(stats_.upstream_rx_bytes, kSize);
  finish();
}

}  // namespace
}  // namespace podproxy::filters
