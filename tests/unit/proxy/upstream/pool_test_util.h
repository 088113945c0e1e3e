#pragma once

// What the connection pool tests share: a blocking loopback upstream on its own threads, the
// router's side of one request, running the loop until a condition holds, and a fixture that
// checks nothing leaked out of the pool or the loop. The TCP proxy's tests use the loopback
// pieces too.

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
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/network/address.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"
#include "tests/unit/proxy/event/run_until.h"

namespace podproxy::upstream::testing {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1, port chosen by the kernel.
inline int listenLoopback(int backlog, uint16_t& port) {
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
inline bool readRequest(int fd) {
  std::string buf;
  char c[1024];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, c, sizeof(c), 0);
    if (n <= 0) return false;
    buf.append(c, static_cast<size_t>(n));
  }
  return true;
}

inline void sendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

inline constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

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
inline void respondForever(int fd, int) {
  while (readRequest(fd)) sendAll(fd, kOk);
}

using event::testing::runUntil;

// The router's side of one request: sends GET `path` when ready and records what happens.
class TestStream : public http::ResponseDecoder,
                   public PoolCallbacks,
                   public http::StreamCallbacks {
 public:
  explicit TestStream(std::string path = "/") : path_(std::move(path)) {}

  // PoolCallbacks
  void onPoolReady(StreamHandle& stream, const Host&, bool reused) override {
    ready = true;
    this->reused = reused;
    handle = &stream;
    if (on_ready) on_ready(stream);
    if (!send_on_ready) return;
    http::RequestHeaders headers;
    headers.method = "GET";
    headers.scheme = "http";  // HTTP/2 needs it; HTTP/1 sends none
    headers.path = path_;
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
  bool ok() const { return complete && status == 200 && body == "ok"; }

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

 private:
  std::string path_;
};

// Makes `s` offer an HTTP/1.1 WebSocket upgrade (GET /ws, no body) instead of its plain GET.
// An HTTP/2 client codec sends it as an extended CONNECT and answers the key itself.
inline void offerUpgrade(TestStream& s) {
  s.send_on_ready = false;
  s.on_ready = [](StreamHandle& stream) {
    http::RequestHeaders headers;
    headers.method = "GET";
    headers.scheme = "http";
    headers.path = "/ws";
    headers.authority = "upstream.test";
    headers.upgrade = "websocket";
    headers.headers.add("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    stream.encodeHeaders(headers, true);
  };
}

// A pool of type `Pool` for one loopback host, and the checks every test ends with.
template <typename Pool>
class PoolTest : public ::testing::Test {
 protected:
  // `pool_args` follow the pool constructor's common four (an HTTP/2 pool's codec stats).
  template <typename... Args>
  void makePool(uint16_t port, Args&&... pool_args) {
    host_ = std::make_shared<const Host>("backend", *network::Address::fromIp("127.0.0.1", port),
                                         "127.0.0.1");
    resources_ = std::make_unique<ResourceManager>(cluster_.circuit_breakers);
    pool_ = std::make_unique<Pool>(dispatcher_, host_, cluster_, *resources_,
                                   std::forward<Args>(pool_args)...);
  }

  Cancellable* start(TestStream& s, StreamPurpose purpose = StreamPurpose::kRequest) {
    return pool_->newStream(s, s, s, purpose);
  }

  // Every test ends here: nothing may leak out of the pool or the loop.
  void finish() {
    pool_->shutdown();
    EXPECT_EQ(resources_->connections(), 0u);
    EXPECT_EQ(resources_->requests(), 0u);
    EXPECT_EQ(resources_->pendingRequests(), 0u);
    pool_.reset();  // the pool's own teardown leaves no handle behind either
    EXPECT_TRUE(dispatcher_.shutdown());
  }

  event::Dispatcher dispatcher_{"test"};
  config::Cluster cluster_;
  HostConstSharedPtr host_;
  std::unique_ptr<ResourceManager> resources_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace podproxy::upstream::testing
