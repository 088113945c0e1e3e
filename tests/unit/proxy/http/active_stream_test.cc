// ActiveStream's decode iteration, driven through a real ConnectionManager over loopback: what
// each filter sees when one of them stops on the headers (as the router does).

#include "proxy/http/active_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/http/connection_manager.h"
#include "proxy/http/http2/server_codec.h"
#include "proxy/network/connection.h"
#include "proxy/network/listen_socket.h"

namespace podproxy::http {
namespace {

using namespace std::chrono_literals;

// Records every decode call; stops on headers when told to.
class RecordingFilter : public StreamDecoderFilter {
 public:
  RecordingFilter(std::vector<std::string>& log, std::string name, bool stop_headers,
                  FilterDataStatus data_status)
      : log_(log), name_(std::move(name)), stop_headers_(stop_headers), data_status_(data_status) {}

  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  FilterHeadersStatus decodeHeaders(RequestHeaders& headers, bool end_stream) override {
    log_.push_back(name_ + ":headers " + headers.path + (end_stream ? " end" : ""));
    return stop_headers_ ? FilterHeadersStatus::kStopIteration : FilterHeadersStatus::kContinue;
  }
  FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override {
    log_.push_back(name_ + ":data " + data.toString() + (end_stream ? " end" : ""));
    if (data_status_ == FilterDataStatus::kStopIterationNoBuffer) data.clear();
    return data_status_;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap& trailers) override {
    const std::string_view* value = trailers.get("x-t");
    log_.push_back(name_ + ":trailers " + std::string(value != nullptr ? *value : "?"));
    return FilterTrailersStatus::kContinue;
  }
  StreamDecoderFilterCallbacks* callbacks_ = nullptr;

 private:
  std::vector<std::string>& log_;
  const std::string name_;
  const bool stop_headers_;
  const FilterDataStatus data_status_;
};

// Either the router alone (stops on headers, takes the body), or a filter that stops on the
// headers and passes the body on, in front of a last filter that takes it.
class Chain : public FilterChainFactory {
 public:
  explicit Chain(bool two_filters) : two_filters_(two_filters) {}
  void createFilterChain(FilterChainFactoryCallbacks& callbacks) override {
    if (two_filters_) {
      auto first =
          std::make_unique<RecordingFilter>(log, "first", true, FilterDataStatus::kContinue);
      holder = first.get();
      callbacks.addDecoderFilter(std::move(first));
      callbacks.addDecoderFilter(std::make_unique<RecordingFilter>(
          log, "last", false, FilterDataStatus::kStopIterationNoBuffer));
    } else {
      auto router = std::make_unique<RecordingFilter>(log, "router", true,
                                                      FilterDataStatus::kStopIterationNoBuffer);
      holder = router.get();
      callbacks.addDecoderFilter(std::move(router));
    }
  }
  std::vector<std::string> log;
  RecordingFilter* holder = nullptr;  // the filter that stops on the headers

 private:
  const bool two_filters_;
};

// A ConnectionManager on our side of a loopback connection; the test writes the client bytes.
class StreamHarness {
 public:
  explicit StreamHarness(bool two_filters, FilterChainFactory* factory = nullptr)
      : chain_(two_filters),
        context_{config_, factory != nullptr ? *factory : chain_, random_, stats_} {
    auto sockets = network::createListenSockets(*network::Address::parse("127.0.0.1:0"), 1);
    EXPECT_TRUE(sockets.has_value());
    listen_fd_ = sockets->fds[0];
    fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) & ~O_NONBLOCK);
    connection_ = network::Connection::connectTo(dispatcher_, sockets->bound, 2000ms);
    connection_->addReadFilter(std::make_unique<ConnectionManager>(context_));
    connection_->initializeReadFilters();
    std::thread accept([this] { client_fd_ = ::accept(listen_fd_, nullptr, nullptr); });
    runUntil([] { return false; }, 50ms);
    accept.join();
  }
  ~StreamHarness() {
    connection_.reset();
    EXPECT_TRUE(dispatcher_.shutdown());
    if (client_fd_ >= 0) ::close(client_fd_);
    ::close(listen_fd_);
  }

  // Whatever the client has received so far (non-blocking).
  std::string received() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(client_fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  void send(std::string_view bytes) {
    ASSERT_EQ(::write(client_fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // The client half-closes: its FIN, while it can still read.
  void shutdownClientWrite() { ASSERT_EQ(::shutdown(client_fd_, SHUT_WR), 0); }
  // True when the client has read everything and the next read is the proxy's FIN.
  bool clientSeesEof() {
    char c;
    return ::recv(client_fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
  }
  bool connectionClosed() const {
    return connection_->state() == network::Connection::State::kClosed;
  }
  const ConnectionManagerStats& stats() const { return stats_; }
  // The listener's drain (SIGTERM), as it reaches this connection's manager.
  void drain() { ConnectionManager::drainAll(context_); }
  template <typename Pred>
  bool runUntil(Pred done, std::chrono::milliseconds limit = 5000ms) {
    auto guard = dispatcher_.createTimer([this] { dispatcher_.exit(); });
    for (auto waited = 0ms; waited < limit && !done(); waited += 10ms) {
      guard->enable(10ms);
      dispatcher_.run();
    }
    return done();
  }
  std::vector<std::string>& log() { return chain_.log; }
  RecordingFilter& holder() { return *chain_.holder; }

 private:
  event::Dispatcher dispatcher_{"test"};
  config::HttpConnectionManagerConfig config_;
  Chain chain_;
  Random random_{42};
  ConnectionManagerStats stats_;
  ConnectionManagerContext context_;
  std::unique_ptr<network::Connection> connection_;
  int listen_fd_ = -1;
  int client_fd_ = -1;
};

TEST(ActiveStream, FilterStoppedOnHeadersStillReceivesTheBody) {
  StreamHarness h(/*two_filters=*/false);
  h.send("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");

  ASSERT_TRUE(h.runUntil([&] { return h.log().size() >= 2; }));
  EXPECT_EQ(h.log(), (std::vector<std::string>{"router:headers /p", "router:data hello end"}));
}

TEST(ActiveStream, FilterStoppedOnHeadersStillReceivesChunksAndTrailers) {
  StreamHarness h(/*two_filters=*/false);
  h.send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  ASSERT_TRUE(h.runUntil([&] { return h.log().size() >= 2; }));
  h.send("0\r\nx-t: done\r\n\r\n");

  ASSERT_TRUE(h.runUntil([&] { return h.log().size() >= 3; }));
  EXPECT_EQ(h.log()[0], "router:headers /c");
  EXPECT_EQ(h.log()[1], "router:data abc");
  EXPECT_EQ(h.log().back(), "router:trailers done");
}

TEST(ActiveStream, LaterFiltersGetBodyAndTrailersOnceAfterContinueDecoding) {
  StreamHarness h(/*two_filters=*/true);
  h.send(
      "POST /two HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nx-t: t1\r\n\r\n");
  ASSERT_TRUE(h.runUntil([&] { return h.log().size() >= 3; }));
  // Nothing passes the filter holding the headers.
  h.runUntil([] { return false; }, 50ms);
  EXPECT_EQ(h.log(), (std::vector<std::string>{"first:headers /two", "first:data abc",
                                               "first:trailers t1"}));

  h.holder().callbacks_->continueDecoding();

  EXPECT_EQ(h.log(),
            (std::vector<std::string>{"first:headers /two", "first:data abc", "first:trailers t1",
                                      "last:headers /two", "last:data abc", "last:trailers t1"}));
}

// Answers every request with a chunked body and trailers.
class Responder : public StreamDecoderFilter {
 public:
  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  FilterHeadersStatus decodeHeaders(RequestHeaders&, bool) override {
    auto headers = std::make_unique<ResponseHeaders>();
    headers->status = 200;
    callbacks_->encodeHeaders(std::move(headers), false);
    buffer::Buffer body;
    body.add("abc");
    callbacks_->encodeData(body, false);
    auto trailers = std::make_unique<TrailerMap>();
    trailers->add("x-t", "t2");
    callbacks_->encodeTrailers(std::move(trailers));
    return FilterHeadersStatus::kStopIteration;
  }
  FilterDataStatus decodeData(buffer::Buffer& data, bool) override {
    data.clear();
    return FilterDataStatus::kStopIterationNoBuffer;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap&) override {
    return FilterTrailersStatus::kContinue;
  }

 private:
  StreamDecoderFilterCallbacks* callbacks_ = nullptr;
};

// Holds the response headers; logs what it sees of the rest.
class HoldingEncoder : public StreamEncoderFilter {
 public:
  explicit HoldingEncoder(std::vector<std::string>& log) : log_(log) {}
  void setEncoderFilterCallbacks(StreamEncoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  FilterHeadersStatus encodeHeaders(ResponseHeaders& headers, bool) override {
    log_.push_back("headers " + std::to_string(headers.status));
    return FilterHeadersStatus::kStopIteration;
  }
  FilterDataStatus encodeData(buffer::Buffer& data, bool) override {
    log_.push_back("data " + data.toString());
    return FilterDataStatus::kContinue;
  }
  FilterTrailersStatus encodeTrailers(TrailerMap& trailers) override {
    log_.push_back("trailers " + std::string(*trailers.get("x-t")));
    return FilterTrailersStatus::kContinue;
  }
  StreamEncoderFilterCallbacks* callbacks_ = nullptr;

 private:
  std::vector<std::string>& log_;
};

class EncodeChain : public FilterChainFactory {
 public:
  void createFilterChain(FilterChainFactoryCallbacks& callbacks) override {
    callbacks.addDecoderFilter(std::make_unique<Responder>());
    auto encoder = std::make_unique<HoldingEncoder>(log);
    holder = encoder.get();
    callbacks.addEncoderFilter(std::move(encoder));
  }
  std::vector<std::string> log;
  HoldingEncoder* holder = nullptr;
};

TEST(ActiveStream, EncoderFilterStoppedOnHeadersSeesBodyAndTrailersAndReleasesThemInOrder) {
  EncodeChain chain;
  StreamHarness h(false, &chain);
  h.send("GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(h.runUntil([&] { return chain.log.size() >= 3; }));
  EXPECT_EQ(chain.log, (std::vector<std::string>{"headers 200", "data abc", "trailers t2"}));
  h.runUntil([] { return false; }, 50ms);
  EXPECT_EQ(h.received(), "");  // nothing passes the held headers

  chain.holder->callbacks_->continueEncoding();
  std::string response;
  ASSERT_TRUE(h.runUntil([&] {
    response += h.received();
    return response.find("\r\n0\r\n") != std::string::npos;
  }));
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(response.find("transfer-encoding: chunked"), std::string::npos);
  EXPECT_NE(response.find("\r\n3\r\nabc\r\n0\r\nx-t: t2\r\n\r\n"), std::string::npos);
  EXPECT_EQ(chain.log.size(), 3u);  // the holder saw everything exactly once
}

// Counts its destructions and says whether it lives inside the stream object (built in the
// stream's filter storage); the last one answers 200 "ok".
template <size_t kPadding>
class CountingFilter : public StreamDecoderFilter {
 public:
  CountingFilter(int& destroyed, bool& in_stream, bool last)
      : destroyed_(destroyed), in_stream_(in_stream), last_(last) {}
  ~CountingFilter() override { ++destroyed_; }
  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
    const auto* stream = reinterpret_cast<const char*>(dynamic_cast<ActiveStream*>(&callbacks));
    const auto* self = reinterpret_cast<const char*>(this);
    in_stream_ = self >= stream && self < stream + sizeof(ActiveStream);
  }
  FilterHeadersStatus decodeHeaders(RequestHeaders&, bool) override {
    if (!last_) return FilterHeadersStatus::kContinue;
    auto headers = std::make_unique<ResponseHeaders>();
    headers->headers.add("content-length", "2");
    callbacks_->encodeHeaders(std::move(headers), false);
    buffer::Buffer body;
    body.add("ok");
    callbacks_->encodeData(body, true);
    return FilterHeadersStatus::kStopIteration;
  }
  FilterDataStatus decodeData(buffer::Buffer&, bool) override {
    return FilterDataStatus::kContinue;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap&) override {
    return FilterTrailersStatus::kContinue;
  }

 private:
  int& destroyed_;
  bool& in_stream_;
  const bool last_;
  StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  char padding_[kPadding] = {};
};

// A small filter (room in the stream) and one too large for it (on the heap).
class InPlaceChain : public FilterChainFactory {
 public:
  void createFilterChain(FilterChainFactoryCallbacks& callbacks) override {
    addDecoderFilterInPlace<CountingFilter<8>>(callbacks, small_destroyed, small_in_stream, false);
    addDecoderFilterInPlace<CountingFilter<4096>>(callbacks, large_destroyed, large_in_stream,
                                                  true);
  }
  int small_destroyed = 0;
  int large_destroyed = 0;
  bool small_in_stream = false;
  bool large_in_stream = true;
};

TEST(ActiveStream, FiltersBuiltInTheStreamOrOnTheHeapAreEachDestroyedOnce) {
  InPlaceChain chain;
  std::string response;
  {
    StreamHarness h(false, &chain);
    h.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(h.runUntil([&] {
      response += h.received();
      return chain.small_destroyed == 2 && chain.large_destroyed == 2;
    }));
    response += h.received();
  }
  EXPECT_TRUE(chain.small_in_stream);
  EXPECT_FALSE(chain.large_in_stream);
  EXPECT_EQ(chain.small_destroyed, 2);
  EXPECT_EQ(chain.large_destroyed, 2);
  // Two whole responses, one per request.
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  const size_t second = response.find("HTTP/1.1 200 OK\r\n", 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_EQ(response.substr(second - 2, 2), "ok");
  EXPECT_EQ(response.substr(response.size() - 2), "ok");
}

// The router's part in a tunnel: answers an Upgrade with 101 and records the client's bytes.
class TunnelFilter : public StreamDecoderFilter {
 public:
  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  FilterHeadersStatus decodeHeaders(RequestHeaders& headers, bool) override {
    EXPECT_EQ(headers.upgrade, "websocket");
    auto response = std::make_unique<ResponseHeaders>();
    response->status = 101;
    response->headers.add("upgrade", "websocket");
    callbacks_->encodeHeaders(std::move(response), false);
    return FilterHeadersStatus::kStopIteration;
  }
  FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override {
    received += data.toString();
    data.clear();
    if (end_stream) ++ends;
    return FilterDataStatus::kStopIterationNoBuffer;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap&) override {
    return FilterTrailersStatus::kContinue;
  }
  void onDestroy() override { ++destroyed; }
  // The upstream's bytes, and with end_stream its FIN.
  void respond(std::string_view bytes, bool end_stream) {
    buffer::Buffer data;
    data.add(bytes);
    callbacks_->encodeData(data, end_stream);
  }

  StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  std::string received;
  int ends = 0;
  int destroyed = 0;
};

class TunnelChain : public FilterChainFactory {
 public:
  void createFilterChain(FilterChainFactoryCallbacks& callbacks) override {
    auto filter = std::make_unique<TunnelFilter>();
    tunnel = filter.get();
    callbacks.addDecoderFilter(std::move(filter));
  }
  TunnelFilter* tunnel = nullptr;
};

constexpr std::string_view kUpgradeRequest =
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

// Until the client has the 101 and `body` after it, and then (if `eof`) the proxy's FIN.
bool clientReceives(StreamHarness& h, std::string& got, std::string_view body, bool eof) {
  return h.runUntil([&] {
    got += h.received();
    const size_t head_end = got.find("\r\n\r\n");
    return head_end != std::string::npos && got.substr(head_end + 4) == body &&
           (!eof || h.clientSeesEof());
  });
}

TEST(ActiveStreamTunnel, UpstreamFinIsAHalfCloseAndTheClientFinEndsTheStream) {
  TunnelChain chain;
  StreamHarness h(false, &chain);
  h.send(kUpgradeRequest);
  ASSERT_TRUE(h.runUntil([&] { return chain.tunnel != nullptr; }));
  TunnelFilter& tunnel = *chain.tunnel;
  tunnel.respond("bye", true);
  std::string got;
  ASSERT_TRUE(clientReceives(h, got, "bye", /*eof=*/true));
  EXPECT_EQ(got.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);

  // The client reads EOF yet keeps writing: its bytes still reach the stream.
  h.send("last ");
  h.send("words");
  ASSERT_TRUE(h.runUntil([&] { return tunnel.received == "last words"; }));
  EXPECT_EQ(tunnel.ends, 0);
  EXPECT_EQ(tunnel.destroyed, 0);
  EXPECT_FALSE(h.connectionClosed());
  EXPECT_EQ(h.stats().downstream_rq_active, 1u);

  // Its FIN ends the second direction: the stream completes once and the connection goes.
  h.shutdownClientWrite();
  ASSERT_TRUE(h.runUntil([&] { return h.connectionClosed(); }));
  EXPECT_EQ(tunnel.ends, 1);
  EXPECT_EQ(tunnel.destroyed, 1);
  EXPECT_EQ(h.stats().downstream_rq_active, 0u);
  EXPECT_EQ(h.stats().downstream_rq_rx_reset, 0u);
}

TEST(ActiveStreamTunnel, ClientFinFirstLeavesTheResponseDirectionOpen) {
  TunnelChain chain;
  StreamHarness h(false, &chain);
  h.send(kUpgradeRequest);
  ASSERT_TRUE(h.runUntil([&] { return chain.tunnel != nullptr; }));
  TunnelFilter& tunnel = *chain.tunnel;
  h.send("question");
  h.shutdownClientWrite();
  ASSERT_TRUE(h.runUntil([&] { return tunnel.ends == 1; }));
  EXPECT_EQ(tunnel.received, "question");
  EXPECT_EQ(tunnel.destroyed, 0);

  tunnel.respond("ans", false);
  tunnel.respond("wer", true);
  std::string got;
  ASSERT_TRUE(clientReceives(h, got, "answer", /*eof=*/true));
  ASSERT_TRUE(h.runUntil([&] { return h.connectionClosed(); }));
  EXPECT_EQ(tunnel.destroyed, 1);
  EXPECT_EQ(h.stats().downstream_rq_active, 0u);
}

TEST(ActiveStreamTunnel, EndTunnelStopsWaitingForTheClient) {
  for (const bool upstream_fin_first : {false, true}) {
    SCOPED_TRACE(upstream_fin_first);
    TunnelChain chain;
    StreamHarness h(false, &chain);
    h.send(kUpgradeRequest);
    ASSERT_TRUE(h.runUntil([&] { return chain.tunnel != nullptr; }));
    TunnelFilter& tunnel = *chain.tunnel;
    if (upstream_fin_first) tunnel.respond("bye", true);
    std::string got;
    ASSERT_TRUE(clientReceives(h, got, upstream_fin_first ? "bye" : "", upstream_fin_first));
    // The idle timeout: the client never sent its FIN, and need not.
    tunnel.callbacks_->endTunnel();
    ASSERT_TRUE(h.runUntil([&] { return h.connectionClosed(); }));
    EXPECT_TRUE(h.clientSeesEof());  // a FIN, not a reset
    EXPECT_EQ(tunnel.destroyed, 1);
    EXPECT_EQ(tunnel.ends, 0);
    EXPECT_EQ(h.stats().downstream_rq_active, 0u);
  }
}

struct Http2Frame {
  uint8_t type;
  uint8_t flags;
  uint32_t stream;
  std::string payload;
};

// The complete HTTP/2 frames in `bytes`.
std::vector<Http2Frame> parseFrames(std::string_view bytes) {
  std::vector<Http2Frame> frames;
  while (bytes.size() >= 9) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    const size_t length = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
    if (bytes.size() < 9 + length) break;
    const uint32_t stream = ((uint32_t{byte(5)} & 0x7f) << 24) | (uint32_t{byte(6)} << 16) |
                            (uint32_t{byte(7)} << 8) | byte(8);
    frames.push_back({byte(3), byte(4), stream, std::string(bytes.substr(9, length))});
    bytes.remove_prefix(9 + length);
  }
  return frames;
}

TEST(ActiveStreamHttp2, DrainClosesOnlyAfterTheLastResponseIsOnTheWire) {
  // HTTP/2 output waits for the end of the loop pass (Session::sendSoon). The drained
  // connection closes as its last stream completes, in the same pass: unless the close flushes
  // that output first, the client gets GOAWAY and a FIN but never the response.
  StreamHarness h(/*two_filters=*/false);
  std::string request(http2::kClientPreface);
  request += std::string("\0\0\0\x04\0\0\0\0\0", 9);  // SETTINGS, empty
  // HEADERS, END_STREAM | END_HEADERS, stream 1: GET http://h/ (HPACK: 3 indexed fields and
  // :authority as a literal with an indexed name).
  request += std::string("\0\0\x06\x01\x05\0\0\0\x01", 9);
  request += std::string("\x82\x86\x84\x41\x01h", 6);
  h.send(request);
  ASSERT_TRUE(h.runUntil([&] { return !h.log().empty(); }));
  EXPECT_EQ(h.log()[0], "router:headers / end");

  h.drain();
  auto headers = std::make_unique<ResponseHeaders>();
  headers->status = 200;
  h.holder().callbacks_->encodeHeaders(std::move(headers), false);
  buffer::Buffer body;
  body.add("hello");
  h.holder().callbacks_->encodeData(body, true);

  std::string got;
  ASSERT_TRUE(h.runUntil([&] {
    got += h.received();
    return h.clientSeesEof();
  }));
  EXPECT_EQ(h.stats().downstream_rq_active, 0u);
  bool goaway = false;
  bool response_headers = false;
  std::string response_body;
  bool response_ended = false;
  for (const Http2Frame& frame : parseFrames(got)) {
    if (frame.type == 0x7) goaway = true;
    if (frame.stream != 1) continue;
    if (frame.type == 0x1) response_headers = true;
    if (frame.type == 0x0) {
      response_body += frame.payload;
      response_ended = (frame.flags & 0x1) != 0;
    }
  }
  EXPECT_TRUE(goaway);
  EXPECT_TRUE(response_headers);
  EXPECT_EQ(response_body, "hello");
  EXPECT_TRUE(response_ended);
}

}  // namespace
}  // namespace podproxy::http
