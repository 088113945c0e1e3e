// Http2ConnPool against a real HTTP/2 server (nghttp2 on its own threads, over loopback):
// multiplexing on one connection, a second connection when SETTINGS_MAX_CONCURRENT_STREAMS is
// reached, the circuit breakers and max_requests_per_connection, and GOAWAY draining a
// connection without failing a request.

#include "proxy/upstream/http2_conn_pool.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/upstream/resource_manager.h"
#include "tests/unit/proxy/upstream/pool_test_util.h"

namespace podproxy::upstream {
namespace {

using namespace std::chrono_literals;
using upstream::testing::FakeUpstream;
using upstream::testing::PoolTest;
using upstream::testing::runUntil;
using upstream::testing::TestStream;

struct ServerOptions {
  uint32_t max_concurrent_streams = 100;
  // After this many requests on a connection, GOAWAY naming the last of them (0: never).
  int goaway_after = 0;
  // SETTINGS_ENABLE_CONNECT_PROTOCOL in its SETTINGS (RFC 8441).
  bool enable_connect_protocol = false;
  // Nothing is sent, its SETTINGS included, until `release` is set.
  bool hold_output = false;
};

// One server connection: an nghttp2 server session fed from a blocking socket. Requests whose
// path starts with "/hold" are answered only once `release` is set; others at once, "ok". A
// CONNECT is answered at its HEADERS: 200, "ok" and END_STREAM (a tunnel whose upstream side
// ends at once); the :protocol of the last one is kept in `protocol`.
class ServerConnection {
 public:
  ServerConnection(int fd, const ServerOptions& options, const std::atomic<bool>& release,
                   const std::atomic<bool>& stop, std::string& protocol,
                   std::atomic<int>& tunnel_ends)
      : fd_(fd),
        options_(options),
        release_(release),
        stop_(stop),
        protocol_(protocol),
        tunnel_ends_(tunnel_ends) {}

  void run() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &ServerConnection::onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &ServerConnection::onFrame);
    nghttp2_session_server_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                            options_.enable_connect_protocol ? 2 : 1);
    while (!stop_.load() && send()) {
      respondToReady();
      if (!send()) break;
      // Drained: close, as a server does after GOAWAY.
      if (goaway_sent_ && waiting_.empty() && nghttp2_session_want_read(session_) == 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5) <= 0) continue;
      uint8_t buf[16384];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(n)) < 0) break;
    }
    nghttp2_session_del(session_);
  }

 private:
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& self = *static_cast<ServerConnection*>(user);
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":path") self.paths_[frame->hd.stream_id] = v;
    if (n == ":method" && v == "CONNECT") self.connects_.push_back(frame->hd.stream_id);
    if (n == ":protocol") self.protocol_ = v;
    return 0;
  }

  static int onFrame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<ServerConnection*>(user);
    const int32_t id = frame->hd.stream_id;
    if (std::find(self.connects_.begin(), self.connects_.end(), id) != self.connects_.end()) {
      if (frame->hd.type == NGHTTP2_HEADERS) self.waiting_.push_back(id);  // the tunnel's head
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ++self.tunnel_ends_;
      return 0;
    }
    const bool request_end =
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (!request_end) return 0;
    self.waiting_.push_back(frame->hd.stream_id);
    if (self.options_.goaway_after > 0 && ++self.requests_ == self.options_.goaway_after) {
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR,
                            nullptr, 0);
      self.goaway_sent_ = true;
    }
    return 0;
  }

  static ssize_t readBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void*) {
    const size_t n = std::min<size_t>(length, 2);
    std::memcpy(buf, "ok", n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  void respondToReady() {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (paths_[*it].starts_with("/hold") && !release_.load()) {
        ++it;
        continue;
      }
      const nghttp2_nv status{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(":status")),
                              const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>("200")), 7, 3,
                              NGHTTP2_NV_FLAG_NONE};
      nghttp2_data_provider body{};
      body.read_callback = &ServerConnection::readBody;
      nghttp2_submit_response(session_, *it, &status, 1, &body);
      it = waiting_.erase(it);
    }
  }

  bool send() {
    if (options_.hold_output && !release_.load()) return true;
    const uint8_t* data = nullptr;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(fd_, data + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += w;
      }
    }
    return n == 0;
  }

  int fd_;
  const ServerOptions& options_;
  const std::atomic<bool>& release_;
  const std::atomic<bool>& stop_;
  nghttp2_session* session_ = nullptr;
  std::string& protocol_;
  std::atomic<int>& tunnel_ends_;  // CONNECT streams whose client sent END_STREAM
  std::map<int32_t, std::string> paths_;
  std::vector<int32_t> connects_;
  std::vector<int32_t> waiting_;  // complete requests not answered yet
  int requests_ = 0;
  bool goaway_sent_ = false;
};

// The HTTP/2 server: one ServerConnection per connection FakeUpstream accepts.
class FakeH2Upstream {
 public:
  explicit FakeH2Upstream(ServerOptions options)
      : options_(options), server_([this](int fd, int) {
          ServerConnection(fd, options_, release_, stop_, protocol_, tunnel_ends_).run();
        }) {}
  // Before server_ joins its threads.
  ~FakeH2Upstream() { stop_ = true; }
  uint16_t port() const { return server_.port(); }
  int accepted() const { return server_.accepted(); }
  void release() { release_ = true; }
  // Read only once the exchange that set it is over.
  const std::string& protocol() const { return protocol_; }
  int tunnelEnds() const { return tunnel_ends_.load(); }

 private:
  ServerOptions options_;
  std::string protocol_;
  std::atomic<int> tunnel_ends_{0};
  std::atomic<bool> release_{false};
  std::atomic<bool> stop_{false};
  FakeUpstream server_;  // last: its threads use the members above
};

class Http2ConnPoolTest : public PoolTest<Http2ConnPool> {
 protected:
  void makePool(uint16_t port) {
    cluster_.protocol = config::Cluster::Protocol::kHttp2;
    PoolTest::makePool(port, &codec_stats_);
  }
  ~Http2ConnPoolTest() override { pool_.reset(); }  // before codec_stats_

  // One exchange, which brings the server's SETTINGS (its stream limit) before a test counts on
  // them.
  void learnPeerSettings() {
    TestStream warmup;
    start(warmup);
    ASSERT_TRUE(runUntil(dispatcher_, [&] { return warmup.done(); }));
    ASSERT_TRUE(warmup.ok());
  }

  http::http2::CodecStats codec_stats_;
};

TEST_F(Http2ConnPoolTest, MultiplexesConcurrentAndLaterStreamsOnOneConnection) {
  FakeH2Upstream upstream({});
  makePool(upstream.port());

  TestStream a, b, c;
  start(a);
  start(b);
  start(c);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done() && c.done(); }));
  EXPECT_TRUE(a.ok() && b.ok() && c.ok());

  TestStream d;
  start(d);
  EXPECT_TRUE(d.ready);  // a connected connection with room: at once
  EXPECT_TRUE(d.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return d.done(); }));
  EXPECT_TRUE(d.ok());

  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool_->stats().cx_total, 1u);
  EXPECT_EQ(pool_->stats().rq_total, 4u);
  EXPECT_EQ(pool_->stats().rq_reused, 3u);  // all but the first stream of the connection
  EXPECT_EQ(pool_->connections(), 1u);
  EXPECT_EQ(pool_->idleConnections(), 1u);
  EXPECT_EQ(codec_stats_.streams_total, 4u);
  finish();
}

TEST_F(Http2ConnPoolTest, OpensASecondConnectionWhenThePeersStreamLimitIsReached) {
  FakeH2Upstream upstream({.max_concurrent_streams = 1});
  makePool(upstream.port());

  ASSERT_NO_FATAL_FAILURE(learnPeerSettings());

  TestStream a("/hold/a"), b("/hold/b");
  start(a);
  EXPECT_TRUE(a.ready);
  start(b);
  EXPECT_FALSE(b.ready);  // the only connection is full: b waits for a new one
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return b.ready; }));
  EXPECT_FALSE(b.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  EXPECT_EQ(pool_->connections(), 2u);

  upstream.release();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(pool_->stats().cx_total, 2u);
  finish();
}

TEST_F(Http2ConnPoolTest, QueuesAtMaxConnectionsAndOverflowsAtMaxPending) {
  cluster_.circuit_breakers.max_connections = 1;
  cluster_.circuit_breakers.max_pending_requests = 1;
  FakeH2Upstream upstream({.max_concurrent_streams = 1});
  makePool(upstream.port());

  ASSERT_NO_FATAL_FAILURE(learnPeerSettings());

  TestStream a("/hold/a"), b("/hold/b"), c("/hold/c");
  EXPECT_EQ(start(a), nullptr);
  EXPECT_TRUE(a.ready);
  EXPECT_NE(start(b), nullptr);  // the connection is full, no second one may open: queued
  EXPECT_EQ(resources_->pendingRequests(), 1u);
  EXPECT_EQ(start(c), nullptr);  // queue full
  ASSERT_TRUE(c.failure.has_value());
  EXPECT_EQ(*c.failure, PoolFailureReason::kOverflow);
  EXPECT_EQ(c.failure_details, "upstream overflow: max_pending_requests");

  upstream.release();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done(); }));
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_TRUE(b.reused);  // on the one connection, once a's stream ended
  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool_->stats().overflow, 1u);
  EXPECT_EQ(resources_->pendingRequests(), 0u);
  finish();
}

TEST_F(Http2ConnPoolTest, HonoursMaxRequestsPerConnection) {
  cluster_.max_requests_per_connection = 2;
  FakeH2Upstream upstream({});
  makePool(upstream.port());

  TestStream a, b, c;
  start(a);
  start(b);
  start(c);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return a.done() && b.done() && c.done(); }));
  EXPECT_TRUE(a.ok() && b.ok() && c.ok());
  // Two streams on the first connection; the third needed a second one.
  EXPECT_FALSE(c.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  EXPECT_EQ(pool_->stats().cx_total, 2u);
  EXPECT_EQ(pool_->stats().cx_max_requests, 1u);
  // The spent connection closes once its streams are done; the other stays for reuse.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 1; }));
  EXPECT_EQ(pool_->idleConnections(), 1u);
  finish();
}

TEST_F(Http2ConnPoolTest, GoawayDrainsTheConnectionWithoutFailingAStream) {
  // The server says GOAWAY when the second request arrives, naming it as the last it serves.
  FakeH2Upstream upstream({.goaway_after = 2});
  makePool(upstream.port());

  TestStream held("/hold"), quick("/quick");
  start(held);
  start(quick);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return quick.done(); }));
  EXPECT_TRUE(quick.ok());
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return codec_stats_.goaway_received == 1; }));
  EXPECT_FALSE(held.done());  // in flight, still served

  // New streams go to a new connection, not to the one that said GOAWAY.
  TestStream after;
  start(after);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return after.done(); }));
  EXPECT_TRUE(after.ok());
  EXPECT_FALSE(after.reused);
  EXPECT_EQ(upstream.accepted(), 2);

  upstream.release();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return held.done(); }));
  EXPECT_TRUE(held.ok()) << held.reset_details;
  // The drained connection closes once its last stream is done; the new one stays.
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return pool_->connections() == 1; }));
  EXPECT_EQ(pool_->stats().cx_total, 2u);
  EXPECT_EQ(pool_->stats().rq_reset, 0u);
  finish();
}

TEST_F(Http2ConnPoolTest, TunnelSharesAReadyConnectionWithRoom) {
  FakeH2Upstream upstream({.enable_connect_protocol = true});
  makePool(upstream.port());
  ASSERT_NO_FATAL_FAILURE(learnPeerSettings());

  TestStream held("/hold");
  start(held);
  ASSERT_TRUE(held.ready);
  TestStream ws;
  offerUpgrade(ws);
  // At once, beside the stream in flight on the one connection.
  EXPECT_EQ(start(ws, StreamPurpose::kTunnel), nullptr);
  EXPECT_TRUE(ws.ready);
  EXPECT_TRUE(ws.reused);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return ws.complete || ws.reset.has_value(); }));
  ASSERT_FALSE(ws.reset.has_value()) << ws.reset_details;
  EXPECT_EQ(ws.status, 101);
  buffer::Buffer bye;
  bye.add("bye");
  ws.handle->encodeData(bye, true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream.tunnelEnds() == 1; }));

  upstream.release();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return held.done(); }));
  EXPECT_TRUE(held.ok());
  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool_->stats().cx_total, 1u);
  EXPECT_EQ(pool_->stats().rq_reused, 2u);  // the held stream and the tunnel
  finish();
}

TEST_F(Http2ConnPoolTest, RetryOnNewConnectionAvoidsAConnectionThatCarriedStreams) {
  FakeH2Upstream upstream({});
  makePool(upstream.port());
  ASSERT_NO_FATAL_FAILURE(learnPeerSettings());
  ASSERT_EQ(pool_->idleConnections(), 1u);

  // The connected one has room, but it carried a stream: the retry waits for a new one.
  TestStream retry;
  EXPECT_NE(start(retry, StreamPurpose::kRetryOnNewConnection), nullptr);
  EXPECT_FALSE(retry.ready);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return retry.done(); }));
  EXPECT_TRUE(retry.ok());
  EXPECT_FALSE(retry.reused);
  EXPECT_EQ(upstream.accepted(), 2);
  EXPECT_EQ(pool_->stats().cx_total, 2u);
  finish();
}

TEST_F(Http2ConnPoolTest, ExtendedConnectOnANewConnectionWaitsForTheServersSettings) {
  // The server says nothing, SETTINGS included, until released.
  FakeH2Upstream upstream({.enable_connect_protocol = true, .hold_output = true});
  makePool(upstream.port());

  TestStream ws;
  offerUpgrade(ws);
  start(ws);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return ws.ready; }));
  // Connected and ready, but the request must not go (nor fail) before the SETTINGS.
  EXPECT_FALSE(runUntil(
      dispatcher_, [&] { return ws.done(); }, 300ms));
  EXPECT_FALSE(ws.reset.has_value());

  upstream.release();
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return ws.complete || ws.reset.has_value(); }));
  ASSERT_FALSE(ws.reset.has_value()) << ws.reset_details;
  EXPECT_EQ(ws.status, 101);  // the server's 200, as the HTTP/1.1 answer it stands for
  EXPECT_EQ(ws.body, "ok");
  EXPECT_EQ(upstream.protocol(), "websocket");
  // The upstream's side ended; the tunnel's stream stays ours until our own end.
  EXPECT_EQ(pool_->stats().rq_active, 1u);
  buffer::Buffer bye;
  bye.add("bye");
  ws.handle->encodeData(bye, true);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return upstream.tunnelEnds() == 1; }));
  EXPECT_EQ(pool_->stats().rq_active, 0u);
  EXPECT_EQ(pool_->stats().rq_reset, 0u);
  EXPECT_EQ(codec_stats_.tx_reset, 0u);
  finish();
}

TEST_F(Http2ConnPoolTest, ExtendedConnectToAServerWithoutTheSettingFailsUnsent) {
  FakeH2Upstream upstream({.enable_connect_protocol = false});
  makePool(upstream.port());

  TestStream ws;
  offerUpgrade(ws);
  start(ws);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return ws.done(); }));
  ASSERT_TRUE(ws.reset.has_value());
  EXPECT_EQ(*ws.reset, http::StreamResetReason::kUnsupported);
  EXPECT_EQ(ws.reset_details,
            "upstream does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)");
  EXPECT_EQ(ws.status, 0);
  EXPECT_EQ(upstream.protocol(), "");  // nothing reached the server
  // The connection itself is fine: an ordinary request goes on it.
  TestStream plain;
  start(plain);
  ASSERT_TRUE(runUntil(dispatcher_, [&] { return plain.done(); }));
  EXPECT_TRUE(plain.ok());
  EXPECT_TRUE(plain.reused);
  EXPECT_EQ(upstream.accepted(), 1);
  finish();
}

}  // namespace
}  // namespace podproxy::upstream
