#include "proxy/upstream/thread_local_cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "proxy/event/dispatcher.h"
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;
using upstream::testing::runUntil;

// One-connection HTTP upstream: answers each request with 200 "ok" after `delay`, and records
// when we close the connection.
class OneConnectionUpstream {
 public:
  explicit OneConnectionUpstream(std::chrono::milliseconds delay = 0ms) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ::listen(listen_fd_, 8);
    socklen_t len = sizeof(sa);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this, delay] {
      fd_ = ::accept(listen_fd_, nullptr, nullptr);
      if (fd_ < 0) return;
      std::string buf;
      char c[1024];
      for (;;) {
        const ssize_t n = ::recv(fd_, c, sizeof(c), 0);
        if (n <= 0) break;
        buf.append(c, static_cast<size_t>(n));
        if (buf.find("\r\n\r\n") == std::string::npos) continue;
        buf.clear();
        std::this_thread::sleep_for(delay);
        constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        ::send(fd_, kOk.data(), kOk.size(), MSG_NOSIGNAL);
      }
      closed_by_peer_ = true;
    });
  }
  ~OneConnectionUpstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  bool closedByPeer() const { return closed_by_peer_.load(); }

 private:
  int listen_fd_ = -1;
  std::atomic<int> fd_{-1};
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> closed_by_peer_{false};
};

class TestStream : public http::ResponseDecoder,
                   public PoolCallbacks,
                   public http::StreamCallbacks {
 public:
  void onPoolReady(StreamHandle& stream, const Host&, bool) override {
    http::RequestHeaders headers;
    headers.method = "GET";
    headers.path = "/";
    headers.authority = "x";
    stream.encodeHeaders(headers, true);
  }
  void onPoolFailure(PoolFailureReason, std::string_view, const Host&) override { failed = true; }
  void decode1xxHeaders(std::unique_ptr<http::ResponseHeaders>) override {}
  void decodeHeaders(std::unique_ptr<http::ResponseHeaders>, bool end_stream) override {
    complete = end_stream;
  }
  void decodeData(buffer::Buffer& data, bool end_stream) override {
    data.clear();
    complete = end_stream;
  }
  void decodeTrailers(std::unique_ptr<http::TrailerMap>) override { complete = true; }
  void onResetStream(http::StreamResetReason, std::string_view) override { reset = true; }
  bool complete = false;
  bool failed = false;
  bool reset = false;
};

HostConstSharedPtr makeHost(uint16_t port) {
  return std::make_shared<const Host>("c", *network::Address::fromIp("127.0.0.1", port),
                                      "127.0.0.1");
}

HostSetConstSharedPtr makeSet(std::vector<HostConstSharedPtr> hosts) {
  auto set = std::make_shared<HostSet>();
  set->hosts = std::move(hosts);
  return set;
}

class ThreadLocalClusterTest : public ::testing::Test {
 protected:
  ThreadLocalClusterTest() { config_.name = "c"; }
  std::unique_ptr<ThreadLocalCluster> make(HostSetConstSharedPtr hosts) {
    resources_ = std::make_shared<ResourceManager>(config_.circuit_breakers);
    return std::make_unique<ThreadLocalCluster>(dispatcher_, config_, std::move(hosts), resources_,
                                                random_);
  }

  event::Dispatcher dispatcher_{"worker"};
  Random random_{7};
  config::Cluster config_;
  std::shared_ptr<ResourceManager> resources_;
};

TEST_F(ThreadLocalClusterTest, KeepsOnePoolPerHostAddressAcrossSnapshots) {
  auto cluster = make(makeSet({makeHost(1001), makeHost(1002)}));
  HostConstSharedPtr a = cluster->chooseHost();
  HostConstSharedPtr b = cluster->chooseHost();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->address(), b->address());  // round robin alternates
  ConnPool& pa = cluster->pool(*a);
  EXPECT_EQ(&cluster->pool(*a), &pa);
  EXPECT_NE(&cluster->pool(*b), &pa);
  EXPECT_EQ(&pa.host(), a.get());

  // A refresh returning the same address as a new Host object keeps the pool.
  cluster->updateHosts(makeSet({makeHost(a->address().port())}));
  EXPECT_EQ(&cluster->pool(*makeHost(a->address().port())), &pa);
  EXPECT_EQ(cluster->chooseHost()->address(), a->address());

  cluster->updateHosts(makeSet({}));
  EXPECT_EQ(cluster->chooseHost(), nullptr);
  EXPECT_TRUE(cluster->idle());
  cluster->shutdown();
  EXPECT_TRUE(dispatcher_.shutdown());
}

TEST_F(ThreadLocalClusterTest, RemovedHostIdleConnectionsAreClosed) {
  OneConnectionUpstream upstream;
  HostConstSharedPtr host = makeHost(upstream.port());
  auto cluster = make(makeSet({host}));
  TestStream s;
  cluster->pool(*host).newStream(s, s, s);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return s.complete; }));
  EXPECT_EQ(cluster->pool(*host).idleConnections(), 1u);
  EXPECT_FALSE(cluster->idle());

  cluster->updateHosts(makeSet({}));
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream.closedByPeer(); }));
  EXPECT_TRUE(cluster->idle());
  EXPECT_EQ(cluster->stats().cx_total, 1u);  // the retired pool's counters are kept
  EXPECT_EQ(cluster->stats().rq_total, 1u);
  EXPECT_EQ(resources_->connections(), 0u);
  cluster->shutdown();
  EXPECT_TRUE(dispatcher_.shutdown());
}

TEST_F(ThreadLocalClusterTest, RemovedHostBusyConnectionFinishesItsStreamThenCloses) {
  OneConnectionUpstream upstream(100ms);
  HostConstSharedPtr host = makeHost(upstream.port());
  auto cluster = make(makeSet({host}));
  TestStream s;
  ConnPool& pool = cluster->pool(*host);
  pool.newStream(s, s, s);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool.stats().rq_active == 1; }));

  cluster->updateHosts(makeSet({}));  // mid-request
  EXPECT_FALSE(cluster->idle());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return s.complete || s.reset; }));
  EXPECT_TRUE(s.complete);
  EXPECT_FALSE(s.reset);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return cluster->idle() && upstream.closedByPeer(); }));
  cluster->shutdown();
  EXPECT_TRUE(dispatcher_.shutdown());
}

TEST(ThreadLocalClusterManager, RoutesSnapshotsByName) {
  event::Dispatcher dispatcher("worker");
  Random random(1);
  {
    ThreadLocalClusterManager manager(dispatcher, random);
    config::Cluster c;
    c.name = "web";
    manager.addCluster(c, makeSet({makeHost(80)}),
                       std::make_shared<ResourceManager>(c.circuit_breakers));
    EXPECT_EQ(manager.get("missing"), nullptr);
    ThreadLocalCluster* web = manager.get("web");
    ASSERT_NE(web, nullptr);
    EXPECT_EQ(web->config().name, "web");
    EXPECT_EQ(web->chooseHost()->address().port(), 80);
    manager.onHostsUpdated("web", makeSet({makeHost(81)}));
    EXPECT_EQ(web->chooseHost()->address().port(), 81);
    manager.onHostsUpdated("missing", makeSet({}));  // ignored
    EXPECT_TRUE(manager.idle());
    manager.shutdown();
  }
  EXPECT_TRUE(dispatcher.shutdown());
}

}  // namespace
}  // namespace podproxy::upstream
