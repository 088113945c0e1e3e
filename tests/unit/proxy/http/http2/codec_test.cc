#include <gtest/gtest.h>

#include <string>

#include "proxy/event/dispatcher.h"
#include "tests/unit/proxy/http/http2/codec_pair.h"

namespace podproxy::http::http2 {
namespace {

using testing::CodecPair;
using testing::FakeResponseDecoder;
using testing::RecordingStreamCallbacks;

buffer::Buffer bufferOf(std::string_view s) {
  buffer::Buffer b;
  b.add(s);
  return b;
}

RequestHeaders get(std::string_view path) {
  RequestHeaders h;
  h.method = "GET";
  h.scheme = "http";
  h.authority = "example.com";
  h.path = path;
  return h;
}

TEST(Http2Codec, TranslatesRequestHeadersBothWays) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestHeaders h = get("/a?b=c");
  h.headers.add("cookie", "a=1");
  h.headers.add("cookie", "b=2");
  h.headers.add("connection", "keep-alive, x-hop");
  h.headers.add("x-hop", "gone");
  h.headers.add("keep-alive", "timeout=5");
  h.headers.add("transfer-encoding", "chunked");
  h.headers.add("upgrade", "websocket");
  h.headers.add("te", "trailers, deflate");
  h.headers.add("host", "other.example");
  h.headers.add("x-kept", "yes");
  p.client.newStream(response).encodeHeaders(h, true);
  p.pump();
  ASSERT_TRUE(p.server_status);
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  const RequestHeaders& got = *p.callbacks.last().headers;
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.scheme, "http");
  EXPECT_EQ(got.authority, "example.com");
  EXPECT_EQ(got.path, "/a?b=c");
  EXPECT_EQ(got.http_major, 2);
  EXPECT_TRUE(p.callbacks.last().headers_end_stream);
  // RFC 9113 8.2.3: cookie crumbs joined for HTTP/1.
  ASSERT_NE(got.headers.get("cookie"), nullptr);
  EXPECT_EQ(*got.headers.get("cookie"), "a=1; b=2");
  EXPECT_EQ(got.headers.get("connection"), nullptr);
  EXPECT_EQ(got.headers.get("x-hop"), nullptr);
  EXPECT_EQ(got.headers.get("keep-alive"), nullptr);
  EXPECT_EQ(got.headers.get("transfer-encoding"), nullptr);
  EXPECT_EQ(got.headers.get("upgrade"), nullptr);
  EXPECT_EQ(got.headers.get("host"), nullptr);
  ASSERT_NE(got.headers.get("te"), nullptr);
  EXPECT_EQ(*got.headers.get("te"), "trailers");
  ASSERT_NE(got.headers.get("x-kept"), nullptr);
  EXPECT_EQ(*got.headers.get("x-kept"), "yes");
}

TEST(Http2Codec, CarriesHeaderBlocksOnBothSidesOfTheInlineArray) {
  // A HeaderBlock keeps 32 fields inline and moves them to the heap beyond that: blocks of
  // 31, 32, 33 and 64 fields (pseudo-headers included) arrive whole and in order, both ways.
  for (const size_t regular : {27u, 28u, 29u, 60u}) {
    CodecPair p;
    FakeResponseDecoder response;
    RequestHeaders h = get("/many");  // four pseudo-header fields
    for (size_t i = 0; i < regular; ++i) h.headers.add("x-q" + std::to_string(i), "v");
    p.client.newStream(response).encodeHeaders(h, true);
    p.pump();
    ASSERT_EQ(p.callbacks.streams.size(), 1u);
    const HeaderMap& got = p.callbacks.last().headers->headers;
    ASSERT_EQ(got.size(), regular);
    for (size_t i = 0; i < regular; ++i) {
      EXPECT_EQ(got.entries()[i].name, "x-q" + std::to_string(i)) << regular;
    }

    ResponseHeaders rh;
    rh.status = 200;  // one pseudo-header field
    for (size_t i = 0; i < regular + 3; ++i) rh.headers.add("x-r" + std::to_string(i), "v");
    p.callbacks.encoders.back()->encodeHeaders(rh, true);
    p.pump();
    ASSERT_NE(response.headers, nullptr);
    EXPECT_EQ(response.headers->status, 200);
    const HeaderMap& back = response.headers->headers;
    ASSERT_EQ(back.size(), regular + 3);
    for (size_t i = 0; i < regular + 3; ++i) {
      EXPECT_EQ(back.entries()[i].name, "x-r" + std::to_string(i)) << regular;
    }
  }
}

TEST(Http2Codec, EmptyTrailerBlockEndsTheResponse) {
  // Raw frames from the server: a trailer HEADERS without a single field.
  testing::Pipe to_server;
  ClientCodec client(to_server, Http2Settings{});
  FakeResponseDecoder response;
  client.newStream(response).encodeHeaders(get("/t"), false);
  buffer::Buffer in;
  in.add(testing::frame(0x4, 0, 0, ""));                        // SETTINGS
  in.add(testing::frame(0x1, 0x4, 1, std::string("\x88", 1)));  // HEADERS :status 200
  in.add(testing::frame(0x0, 0, 1, "body"));                    // DATA
  in.add(testing::frame(0x1, 0x4 | 0x1, 1, ""));                // HEADERS, END_STREAM, empty
  ASSERT_TRUE(client.dispatch(in));
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 200);
  EXPECT_EQ(response.body, "body");
  ASSERT_NE(response.trailers, nullptr);
  EXPECT_TRUE(response.trailers->empty());
  EXPECT_TRUE(response.end_stream);
  EXPECT_EQ(client.activeStreams(), 0u);
}

TEST(Http2Codec, CarriesBodiesAndTrailersEndToEnd) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h = get("/upload");
  h.method = "POST";
  request.encodeHeaders(h, false);
  buffer::Buffer body = bufferOf("hello ");
  request.encodeData(body, false);
  body = bufferOf("world");
  request.encodeData(body, false);
  TrailerMap request_trailers;
  request_trailers.add("x-checksum", "abc");
  request.encodeTrailers(request_trailers);
  p.pump();
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  auto& decoded = p.callbacks.last();
  EXPECT_EQ(decoded.body, "hello world");
  ASSERT_NE(decoded.trailers, nullptr);
  EXPECT_EQ(*decoded.trailers->get("x-checksum"), "abc");

  ResponseEncoder& encoder = *p.callbacks.encoders.back();
  ResponseHeaders rh;
  rh.status = 200;
  rh.headers.add("content-type", "application/grpc");
  rh.headers.add("connection", "close");
  encoder.encodeHeaders(rh, false);
  buffer::Buffer out = bufferOf("response-body");
  encoder.encodeData(out, false);
  TrailerMap trailers;
  trailers.add("grpc-status", "0");
  trailers.add("grpc-message", "ok");
  encoder.encodeTrailers(trailers);
  p.pump();
  ASSERT_TRUE(p.client_status);
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 200);
  EXPECT_EQ(response.headers->headers.get("connection"), nullptr);
  EXPECT_EQ(response.body, "response-body");
  ASSERT_NE(response.trailers, nullptr);
  EXPECT_EQ(*response.trailers->get("grpc-status"), "0");
  EXPECT_EQ(*response.trailers->get("grpc-message"), "ok");
  EXPECT_EQ(p.client.activeStreams(), 0u);
  EXPECT_EQ(p.server.activeStreams(), 0u);
}

TEST(Http2Codec, MultiplexesStreamsAndAnswersThemOutOfOrder) {
  CodecPair p;
  FakeResponseDecoder first, second;
  p.client.newStream(first).encodeHeaders(get("/1"), true);
  p.client.newStream(second).encodeHeaders(get("/2"), true);
  p.pump();
  ASSERT_EQ(p.callbacks.streams.size(), 2u);
  EXPECT_EQ(p.client.activeStreams(), 2u);
  ResponseHeaders rh;
  rh.status = 204;
  p.callbacks.encoders[1]->encodeHeaders(rh, true);
  p.pump();
  ASSERT_NE(second.headers, nullptr);
  EXPECT_EQ(second.headers->status, 204);
  EXPECT_EQ(first.headers, nullptr);
  rh.status = 404;
  p.callbacks.encoders[0]->encodeHeaders(rh, true);
  p.pump();
  ASSERT_NE(first.headers, nullptr);
  EXPECT_EQ(first.headers->status, 404);
  EXPECT_EQ(p.client.activeStreams(), 0u);
}

TEST(Http2Codec, MultiplexedResponsesAPollApartLeaveInOneWrite) {
  // Two responses on one connection, the second encoded one I/O pass after the first (an
  // upstream's answer arriving a moment later). The first waits one more poll for it, so the
  // client reads both at once instead of waking twice.
  event::Dispatcher d("test");
  {
    CodecPair p({}, {}, &d);
    FakeResponseDecoder first, second;
    p.client.newStream(first).encodeHeaders(get("/1"), true);
    p.client.newStream(second).encodeHeaders(get("/2"), true);
    p.pump();
    const size_t before = p.to_client.writes;
    ResponseHeaders rh;
    rh.status = 200;
    d.post([&] {
      p.callbacks.encoders[0]->encodeHeaders(rh, true);
      d.post([&] {
        p.callbacks.encoders[1]->encodeHeaders(rh, true);
        d.post([&] { d.exit(); });
      });
    });
    d.run();
    EXPECT_EQ(p.to_client.writes - before, 1u);
    p.pump();
    EXPECT_NE(first.headers, nullptr);
    EXPECT_NE(second.headers, nullptr);
  }
  EXPECT_TRUE(d.shutdown());
}

TEST(Http2Codec, ALoneStreamsResponseLeavesAtTheEndOfItsPass) {
  // Nothing else can join it, so it does not wait: the write is done before the next poll.
  event::Dispatcher d("test");
  {
    CodecPair p({}, {}, &d);
    FakeResponseDecoder only;
    p.client.newStream(only).encodeHeaders(get("/1"), true);
    p.pump();
    const size_t before = p.to_client.writes;
    size_t written_by_next_poll = 0;
    ResponseHeaders rh;
    rh.status = 200;
    d.post([&] {
      p.callbacks.encoders[0]->encodeHeaders(rh, true);
      d.post([&] {
        written_by_next_poll = p.to_client.writes - before;
        d.exit();
      });
    });
    d.run();
    EXPECT_EQ(written_by_next_poll, 1u);
    p.pump();
    EXPECT_NE(only.headers, nullptr);
  }
  EXPECT_TRUE(d.shutdown());
}

TEST(Http2Codec, ReadDisabledStreamStopsThePeerAtTheWindow) {
  Http2Settings server;
  server.initial_stream_window_size = 16 * 1024;
  CodecPair p(server);
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h = get("/big");
  h.method = "POST";
  request.encodeHeaders(h, false);
  p.pump();
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  ResponseEncoder& encoder = *p.callbacks.encoders.back();
  encoder.readDisable(true);  // the upstream is slow: stop returning window

  buffer::Buffer body = bufferOf(std::string(100 * 1024, 'x'));
  request.encodeData(body, true);
  p.pump();
  // The client could send one stream window and no more.
  EXPECT_EQ(p.callbacks.last().body.size(), 16u * 1024);
  EXPECT_FALSE(p.callbacks.last().end_stream);

  encoder.readDisable(false);
  p.pump();
  EXPECT_EQ(p.callbacks.last().body.size(), 100u * 1024);
  EXPECT_TRUE(p.callbacks.last().end_stream);
}

TEST(Http2Codec, SlowPeerRaisesTheStreamWatermarkInsteadOfBufferingWithoutBound) {
  Http2Settings server;
  server.stream_buffer_limit_bytes = 64 * 1024;
  Http2Settings client;
  client.initial_stream_window_size = 16 * 1024;
  CodecPair p(server, client);
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  request.encodeHeaders(get("/download"), true);
  p.pump();
  ResponseEncoder& encoder = *p.callbacks.encoders.back();
  RecordingStreamCallbacks callbacks;
  encoder.setStreamCallbacks(&callbacks);
  request.readDisable(true);  // the client's reader stops

  ResponseHeaders rh;
  rh.status = 200;
  encoder.encodeHeaders(rh, false);
  buffer::Buffer chunk = bufferOf(std::string(100 * 1024, 'y'));
  encoder.encodeData(chunk, false);
  p.pump();
  EXPECT_EQ(response.body.size(), 16u * 1024);  // one window went out
  EXPECT_EQ(callbacks.above, 1);                // the producer was told to pause
  EXPECT_EQ(callbacks.below, 0);

  request.readDisable(false);
  p.pump();
  EXPECT_EQ(response.body.size(), 100u * 1024);
  EXPECT_EQ(callbacks.below, 1);
}

TEST(Http2Codec, ClientResetReachesTheServerStream) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h = get("/slow");
  h.method = "POST";
  request.encodeHeaders(h, false);
  p.pump();
  RecordingStreamCallbacks callbacks;
  p.callbacks.encoders.back()->setStreamCallbacks(&callbacks);
  request.resetStream(StreamResetReason::kLocalReset);
  p.pump();
  EXPECT_EQ(callbacks.resets, 1);
  EXPECT_EQ(callbacks.reason, StreamResetReason::kRemoteReset);
  EXPECT_EQ(p.server_stats.rx_reset, 1u);
  EXPECT_EQ(p.server.activeStreams(), 0u);
}

TEST(Http2Codec, ServerResetReachesTheClientAsRemoteReset) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RecordingStreamCallbacks callbacks;
  request.setStreamCallbacks(&callbacks);
  request.encodeHeaders(get("/x"), true);
  p.pump();
  EXPECT_TRUE(p.callbacks.encoders.back()->resetStream(StreamResetReason::kConnectionTermination));
  p.pump();
  EXPECT_EQ(callbacks.resets, 1);
  EXPECT_EQ(callbacks.reason, StreamResetReason::kRemoteReset);
  EXPECT_NE(callbacks.details.find("INTERNAL_ERROR"), std::string::npos) << callbacks.details;
  EXPECT_EQ(p.client.activeStreams(), 0u);
}

TEST(Http2Codec, ClientLearnsThePeersMaxConcurrentStreams) {
  Http2Settings server;
  server.max_concurrent_streams = 3;
  CodecPair p(server);
  p.pump();
  EXPECT_EQ(p.client.maxConcurrentStreams(), 3u);
}

TEST(Http2Codec, DrainSendsGoAwayAndLetsStreamsInFlightFinish) {
  CodecPair p;
  FakeResponseDecoder response;
  p.client.newStream(response).encodeHeaders(get("/inflight"), true);
  p.pump();
  p.server.shutdownNotice();
  p.server.setCloseAfterResponse();
  p.pump();
  EXPECT_TRUE(p.client.goAwayReceived());
  EXPECT_FALSE(p.client.reusable());
  EXPECT_FALSE(p.server.keepAlive());
  ResponseHeaders rh;
  rh.status = 200;
  p.callbacks.encoders.back()->encodeHeaders(rh, true);
  p.pump();
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 200);
  EXPECT_TRUE(p.server_status);
}

TEST(Http2Codec, ResponseBeforeTheRequestEndedStopsTheUpload) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h = get("/early");
  h.method = "POST";
  request.encodeHeaders(h, false);
  p.pump();
  ResponseHeaders rh;
  rh.status = 413;
  p.callbacks.encoders.back()->encodeHeaders(rh, true);
  p.pump();
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 413);
  EXPECT_TRUE(response.end_stream);
  // Further body is dropped, not sent into a finished stream.
  buffer::Buffer more = bufferOf("late");
  request.encodeData(more, true);
  p.pump();
  EXPECT_EQ(p.callbacks.last().body, "");
  EXPECT_EQ(p.server.activeStreams(), 0u);
  EXPECT_TRUE(p.server_status);
}

TEST(Http2Codec, HeadResponseCarriesNoBody) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestHeaders h = get("/head");
  h.method = "HEAD";
  p.client.newStream(response).encodeHeaders(h, true);
  p.pump();
  ResponseEncoder& encoder = *p.callbacks.encoders.back();
  ResponseHeaders rh;
  rh.status = 200;
  rh.headers.add("content-length", "5");
  encoder.encodeHeaders(rh, false);
  buffer::Buffer body = bufferOf("12345");
  encoder.encodeData(body, true);
  p.pump();
  ASSERT_TRUE(p.client_status);
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(*response.headers->headers.get("content-length"), "5");
  EXPECT_EQ(response.body, "");
  EXPECT_TRUE(response.end_stream);
}

}  // namespace
}  // namespace podproxy::http::http2
