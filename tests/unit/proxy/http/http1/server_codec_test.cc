#include "proxy/http/http1/server_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http1 {
namespace {

using testing::bufferOf;
using testing::FakeServerCallbacks;
using testing::RecordingTransport;

class Http1ServerCodec : public testing::ServerCodecTest {
 protected:
  void respond(uint16_t status, std::string_view body) {
    ResponseHeaders h;
    h.status = status;
    h.headers.add("content-length", std::to_string(body.size()));
    encoder().encodeHeaders(h, body.empty());
    if (!body.empty()) {
      buffer::Buffer b = bufferOf(body);
      encoder().encodeData(b, true);
    }
  }
};

TEST_F(Http1ServerCodec, DecodesGetAndKeepsConnectionAliveAcrossRequests) {
  ASSERT_TRUE(dispatch("GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \r\n\r\n"));
  ASSERT_EQ(callbacks_.streams.size(), 1u);
  const RequestHeaders& h = *callbacks_.last().headers;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/a?b=c");
  EXPECT_EQ(h.authority, "example.com");
  EXPECT_EQ(h.scheme, "http");
  EXPECT_EQ(h.http_major, 1);
  EXPECT_EQ(h.http_minor, 1);
  EXPECT_FALSE(h.headers.has("host"));
  ASSERT_NE(h.headers.get("user-agent"), nullptr);
  EXPECT_EQ(*h.headers.get("user-agent"), "curl/8");
  EXPECT_TRUE(callbacks_.last().headers_end_stream);
  EXPECT_EQ(callbacks_.last().data_calls, 0);
  EXPECT_TRUE(codec_.waitingForResponse());
  EXPECT_EQ(codec_.protocol(), Protocol::kHttp11);

  respond(200, "hello");
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
  EXPECT_EQ(transport_.end_stream_writes, 0);
  EXPECT_FALSE(codec_.waitingForResponse());
  EXPECT_TRUE(codec_.keepAlive());

  transport_.clear();
  ASSERT_TRUE(dispatch("GET /second HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  ASSERT_EQ(callbacks_.streams.size(), 2u);
  EXPECT_EQ(callbacks_.last().headers->path, "/second");
  respond(404, "");
  EXPECT_EQ(transport_.all(), "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  EXPECT_TRUE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, PipelinedRequestsWaitForTheResponseBeforeThem) {
  const std::string second = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third = "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_TRUE(dispatch("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" + second + third));
  ASSERT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_TRUE(codec_.waitingForResponse());
  EXPECT_EQ(input_.toString(), second + third);  // consumed exactly the first request

  // More bytes while waiting: nothing is parsed.
  ASSERT_TRUE(codec_.dispatch(input_));
  EXPECT_EQ(callbacks_.streams.size(), 1u);

  ResponseHeaders h;
  h.status = 200;
  encoder().encodeHeaders(h, false);
  ASSERT_TRUE(codec_.dispatch(input_));
  EXPECT_EQ(callbacks_.streams.size(), 1u) << "response not finished yet";
  buffer::Buffer body = bufferOf("one");
  encoder().encodeData(body, true);

  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_EQ(callbacks_.streams.size(), 2u);
  EXPECT_EQ(callbacks_.last().headers->path, "/2");
  EXPECT_EQ(callbacks_.last().body, "abc");
  EXPECT_TRUE(callbacks_.last().end_stream);
  EXPECT_EQ(input_.toString(), third);
  respond(200, "two");

  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_EQ(callbacks_.streams.size(), 3u);
  EXPECT_EQ(callbacks_.last().headers->path, "/3");
  EXPECT_TRUE(input_.empty());
  respond(200, "three");

  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n"
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo"
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nthree");
}

TEST_F(Http1ServerCodec, SynchronousResponseInsideDecodeHeadersLetsNextRequestThrough) {
  callbacks_.on_new_stream = [this](testing::FakeRequestDecoder& d) {
    d.on_headers = [this] { respond(200, "ok"); };
  };
  ASSERT_TRUE(dispatch("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(callbacks_.streams.size(), 2u);
  EXPECT_TRUE(codec_.keepAlive());
  EXPECT_TRUE(input_.empty());
}

TEST_F(Http1ServerCodec, DecodesChunkedBodyWithTrailers) {
  ASSERT_TRUE(
      dispatch("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc \r\n\r\n"));
  ASSERT_EQ(callbacks_.streams.size(), 1u);
  auto& d = callbacks_.last();
  EXPECT_FALSE(d.headers_end_stream);
  EXPECT_FALSE(d.headers->headers.has("transfer-encoding"));
  EXPECT_EQ(d.body, "hello world");
  ASSERT_NE(d.trailers, nullptr);
  ASSERT_EQ(d.trailers->size(), 1u);
  EXPECT_EQ(*d.trailers->get("x-checksum"), "abc");
  EXPECT_TRUE(codec_.waitingForResponse());
}

TEST_F(Http1ServerCodec, ChunkedBodyWithoutTrailersEndsWithData) {
  ASSERT_TRUE(
      dispatch("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n0\r\n\r\n"));
  auto& d = callbacks_.last();
  EXPECT_EQ(d.body, "abc");
  EXPECT_TRUE(d.end_stream);
  EXPECT_EQ(d.trailers, nullptr);
}

TEST_F(Http1ServerCodec, ParsesRequestFedOneByteAtATime) {
  const std::string req =
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nX-A: 1\r\n\r\nbody"
      "GET /y HTTP/1.1\r\nHost: h\r\n\r\n";
  for (char c : req) {
    ASSERT_TRUE(dispatch(std::string_view(&c, 1)));
    if (codec_.waitingForResponse()) break;
  }
  ASSERT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_EQ(callbacks_.last().body, "body");
  EXPECT_TRUE(callbacks_.last().end_stream);
  EXPECT_EQ(*callbacks_.last().headers->headers.get("x-a"), "1");
}

TEST_F(Http1ServerCodec, DeliversContentLengthBodyAsItArrives) {
  ASSERT_TRUE(dispatch("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123"));
  auto& d = callbacks_.last();
  EXPECT_EQ(d.body, "0123");
  EXPECT_FALSE(d.end_stream);
  EXPECT_FALSE(codec_.waitingForResponse());
  ASSERT_TRUE(dispatch("456789"));
  EXPECT_EQ(d.body, "0123456789");
  EXPECT_TRUE(d.end_stream);
  EXPECT_TRUE(codec_.waitingForResponse());
}

TEST_F(Http1ServerCodec, DropsFramingAndUnsafeFieldsFromTrailers) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  encoder().encodeHeaders(h, false);
  TrailerMap t;
  t.add("connection", "close");
  t.add("content-length", "5");
  t.add("host", "elsewhere");
  t.add("transfer-encoding", "chunked");
  t.add("x-bad", "a\r\nx-smuggled: 1");
  t.add("x-good", "1");
  encoder().encodeTrailers(t);
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx-good: 1\r\n\r\n");
}

TEST_F(Http1ServerCodec, EncodesChunkedResponseWithTrailers) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 200;
  h.headers.add("Content-Type", "text/plain");
  encoder().encodeHeaders(h, false);
  buffer::Buffer a = bufferOf("hello");
  encoder().encodeData(a, false);
  buffer::Buffer big = bufferOf(std::string(300, 'x'));
  encoder().encodeData(big, false);
  TrailerMap t;
  t.add("grpc-status", "0");
  encoder().encodeTrailers(t);
  EXPECT_EQ(transport_.writes.size(), 4u);  // one write per header block / chunk
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n12c\r\n" +
                std::string(300, 'x') + "\r\n0\r\ngrpc-status: 0\r\n\r\n");
  EXPECT_FALSE(codec_.waitingForResponse());
  EXPECT_TRUE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, EncodesHeadsAroundAndFarAboveTheSliceSize) {
  // A head whose size bound fits a slice is written in place, a larger one through a scratch
  // string: every size across the switch, and one of several slices, comes out whole.
  std::vector<size_t> sizes = {3 * buffer::kSliceSize};
  for (size_t n = buffer::kSliceSize - 256; n <= buffer::kSliceSize + 64; ++n) sizes.push_back(n);
  for (const size_t n : sizes) {
    ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n")) << n;
    transport_.clear();
    const std::string value(n, 'v');
    ResponseHeaders h;
    h.status = 200;
    h.headers.add("x-big", value);
    encoder().encodeHeaders(h, true);
    ASSERT_EQ(transport_.all(),
              "HTTP/1.1 200 OK\r\nx-big: " + value + "\r\ncontent-length: 0\r\n\r\n")
        << n;
  }
}

TEST_F(Http1ServerCodec, Http10RequestGetsCloseDelimitedResponse) {
  ASSERT_TRUE(dispatch("GET /old HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_TRUE(callbacks_.last().headers->isHttp10());
  EXPECT_EQ(callbacks_.last().headers->authority, "");
  EXPECT_EQ(codec_.protocol(), Protocol::kHttp10);
  EXPECT_FALSE(codec_.keepAlive());
  ResponseHeaders h;
  h.status = 200;
  encoder().encodeHeaders(h, false);
  buffer::Buffer b = bufferOf("streamed");
  encoder().encodeData(b, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nstreamed");
  EXPECT_EQ(transport_.end_stream_writes, 1);
  EXPECT_FALSE(codec_.keepAlive());
  // Nothing more is read on a connection that closes.
  ASSERT_TRUE(dispatch("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_TRUE(input_.empty());
}

TEST_F(Http1ServerCodec, Http10KeepAliveClientGetsKeepAliveHeader) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_TRUE(codec_.keepAlive());
  EXPECT_FALSE(callbacks_.last().headers->headers.has("connection"));
  respond(200, "ok");
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
  EXPECT_TRUE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, Http10KeepAliveClientWithUnknownLengthLosesKeepAlive) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  ResponseHeaders h;
  h.status = 200;
  encoder().encodeHeaders(h, false);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
  EXPECT_FALSE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, ConnectionCloseRequestClosesAfterResponse) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(codec_.keepAlive());
  respond(200, "");
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_EQ(transport_.end_stream_writes, 1);
}

TEST_F(Http1ServerCodec, SetCloseAfterResponseSaysConnectionClose) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_TRUE(codec_.keepAlive());
  codec_.setCloseAfterResponse();
  EXPECT_FALSE(codec_.keepAlive());
  respond(503, "");
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  ASSERT_TRUE(codec_.dispatch(input_));
  EXPECT_EQ(callbacks_.streams.size(), 1u) << "no request after a closing response";
}

TEST_F(Http1ServerCodec, Expect100ContinueIsPassedOnAndEncoded) {
  ASSERT_TRUE(
      dispatch("PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
               "Expect: 100-continue\r\n\r\n"));
  auto& d = callbacks_.last();
  ASSERT_NE(d.headers->headers.get("expect"), nullptr);
  EXPECT_EQ(*d.headers->headers.get("expect"), "100-continue");
  encoder().encode100Continue();
  EXPECT_EQ(transport_.all(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(dispatch("data"));
  EXPECT_EQ(d.body, "data");
  EXPECT_TRUE(d.end_stream);
  respond(201, "");
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
  EXPECT_TRUE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, AbsoluteFormTargetSetsAuthorityPathAndScheme) {
  ASSERT_TRUE(dispatch("GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"));
  const RequestHeaders& h = *callbacks_.last().headers;
  EXPECT_EQ(h.authority, "Example.com:8080");
  EXPECT_EQ(h.path, "/p?q=1");
  EXPECT_EQ(h.scheme, "http");
  respond(200, "");
  ASSERT_TRUE(dispatch("GET https://example.com?x=y HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().headers->path, "/?x=y");
  EXPECT_EQ(callbacks_.last().headers->scheme, "https");
  EXPECT_EQ(callbacks_.last().headers->authority, "example.com");
}

TEST_F(Http1ServerCodec, OptionsAsteriskFormIsAccepted) {
  ASSERT_TRUE(dispatch("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().headers->path, "*");
}

TEST_F(Http1ServerCodec, RemovesHopByHopRequestHeaders) {
  ASSERT_TRUE(
      dispatch("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Private\r\n"
               "X-Private: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
               "TE: trailers, deflate\r\nUpgrade: websocket\r\nX-Kept: yes\r\n"
               "Accept: */*\r\n\r\n"));
  const HeaderMap& h = callbacks_.last().headers->headers;
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.entries()[0].name, "x-kept");
  EXPECT_EQ(h.entries()[1].name, "accept");
  EXPECT_EQ(h.entries()[2].name, "te");
  EXPECT_EQ(h.entries()[2].value, "trailers");
}

TEST_F(Http1ServerCodec, TeWithoutTrailersIsRemoved) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\nTE: gzip\r\n\r\n"));
  EXPECT_FALSE(callbacks_.last().headers->headers.has("te"));
}

TEST_F(Http1ServerCodec, UpgradeRequestIsParsedAsPlainHttp) {
  ASSERT_TRUE(
      dispatch("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_FALSE(callbacks_.last().headers->headers.has("upgrade"));
  respond(200, "");
  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_EQ(callbacks_.streams.size(), 2u);
  EXPECT_EQ(callbacks_.last().headers->path, "/next");
}

TEST_F(Http1ServerCodec, KeepsEmptyHeaderValues) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n"));
  const HeaderMap& h = callbacks_.last().headers->headers;
  ASSERT_NE(h.get("x-empty"), nullptr);
  EXPECT_EQ(*h.get("x-empty"), "");
  ASSERT_NE(h.get("x-spaces"), nullptr);
  EXPECT_EQ(*h.get("x-spaces"), "");
}

TEST_F(Http1ServerCodec, StripsHopByHopResponseHeaders) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 200;
  h.headers.add("connection", "x-internal");
  h.headers.add("x-internal", "1");
  h.headers.add("transfer-encoding", "gzip");
  h.headers.add("keep-alive", "timeout=1");
  h.headers.add("upgrade", "h2c");
  h.headers.add("x-bad", "a\r\nx-injected: 1");
  h.headers.add("server", "podproxy");
  encoder().encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\nserver: podproxy\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(Http1ServerCodec, HeadResponseKeepsContentLengthAndSendsNoBody) {
  ASSERT_TRUE(dispatch("HEAD /f HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 200;
  h.headers.add("content-length", "1234");
  encoder().encodeHeaders(h, false);
  buffer::Buffer b = bufferOf("must not be sent");
  encoder().encodeData(b, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
  EXPECT_TRUE(codec_.keepAlive());
  EXPECT_FALSE(codec_.waitingForResponse());
}

TEST_F(Http1ServerCodec, HeadResponseWithoutLengthGetsNoFraming) {
  ASSERT_TRUE(dispatch("HEAD /f HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 200;
  encoder().encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_F(Http1ServerCodec, NoContentAndNotModifiedCarryNoBody) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 204;
  h.headers.add("content-length", "10");
  encoder().encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 204 No Content\r\n\r\n");
  transport_.clear();
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders n;
  n.status = 304;
  n.headers.add("etag", "\"x\"");
  encoder().encodeHeaders(n, false);
  buffer::Buffer b = bufferOf("ignored");
  encoder().encodeData(b, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n");
  EXPECT_TRUE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, ResponseBeforeRequestBodyEndsDisablesKeepAlive) {
  ASSERT_TRUE(dispatch("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npartial"));
  EXPECT_FALSE(codec_.waitingForResponse());
  respond(413, "");
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_FALSE(codec_.keepAlive());
  EXPECT_EQ(transport_.end_stream_writes, 1);
  const int calls = callbacks_.last().data_calls;
  ASSERT_TRUE(dispatch("more body bytes"));
  EXPECT_EQ(callbacks_.last().data_calls, calls);
  EXPECT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_TRUE(codec_.onEndOfInput());
}

TEST_F(Http1ServerCodec, EndOfInputInsideRequestIsPrematureEof) {
  ASSERT_TRUE(dispatch("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01"));
  CodecStatus s = codec_.onEndOfInput();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 400);
  EXPECT_EQ(s.error().details, "http1.premature_eof");
  EXPECT_FALSE(codec_.keepAlive());
}

TEST_F(Http1ServerCodec, EndOfInputInsideRequestHeadIsPrematureEof) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHo"));
  EXPECT_EQ(callbacks_.streams.size(), 0u);
  ASSERT_FALSE(codec_.onEndOfInput());
}

TEST_F(Http1ServerCodec, EndOfInputBetweenRequestsIsClean) {
  EXPECT_TRUE(codec_.onEndOfInput());
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_TRUE(codec_.onEndOfInput());  // waiting for the response, request complete
  respond(200, "");
  EXPECT_TRUE(codec_.onEndOfInput());
}

TEST_F(Http1ServerCodec, AcceptsLeadingEmptyLineBeforeRequest) {
  ASSERT_TRUE(dispatch("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(callbacks_.streams.size(), 1u);
}

TEST_F(Http1ServerCodec, Http10RequestUsesHostAsAuthority) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.0\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().headers->authority, "h");
}

TEST_F(Http1ServerCodec, HeaderCountAtTheLimitIsAccepted) {
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 1; i < 100; ++i) req += "x-h" + std::to_string(i) + ": v\r\n";
  ASSERT_TRUE(dispatch(req + "\r\n"));
  EXPECT_EQ(callbacks_.last().headers->headers.size(), 99u);
}

TEST_F(Http1ServerCodec, ErrorInBodyCanStillBeAnsweredThroughTheStream) {
  CodecStatus s = dispatch(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nzz\r\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().details, "http1.invalid_chunk_size");
  // Bytes that arrived together with the error are not handed on: the stream is dead anyway.
  EXPECT_EQ(callbacks_.last().body, "");
  EXPECT_FALSE(callbacks_.last().end_stream);
  ResponseHeaders h;
  h.status = s.error().status;
  encoder().encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_EQ(transport_.end_stream_writes, 1);
}

TEST_F(Http1ServerCodec, BareLfSplitAcrossReadsIsStillRejected) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r"));
  ASSERT_TRUE(dispatch("\n"));
  CodecStatus s = dispatch("\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().details, "http1.bare_lf");
  EXPECT_EQ(callbacks_.streams.size(), 0u);
}

TEST(Http1ServerCodecSettings, HeaderLimitsComeFromSettings) {
  RecordingTransport transport;
  FakeServerCallbacks callbacks;
  ServerCodec codec(transport, callbacks, ServerCodecSettings{64, 2});
  buffer::Buffer three = bufferOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
  CodecStatus s = codec.dispatch(three);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 431);
  EXPECT_EQ(s.error().details, "http1.too_many_headers");

  ServerCodec small(transport, callbacks, ServerCodecSettings{64, 100});
  buffer::Buffer big =
      bufferOf("GET / HTTP/1.1\r\nHost: h\r\nA: " + std::string(60, 'a') + "\r\n\r\n");
  s = small.dispatch(big);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 431);
  EXPECT_EQ(s.error().details, "http1.headers_too_large");
  EXPECT_EQ(callbacks.streams.size(), 0u);
}

TEST(Http1Codec, ProtocolAndResetReasonNames) {
  EXPECT_EQ(protocolName(Protocol::kHttp10), "HTTP/1.0");
  EXPECT_EQ(protocolName(Protocol::kHttp11), "HTTP/1.1");
  EXPECT_EQ(protocolName(Protocol::kHttp2), "HTTP/2");
  EXPECT_EQ(resetReasonName(StreamResetReason::kConnectFailure), "connect_failure");
  EXPECT_EQ(resetReasonName(StreamResetReason::kProtocolError), "protocol_error");
  EXPECT_EQ(resetReasonName(StreamResetReason::kOverflow), "overflow");
}

}  // namespace
}  // namespace podproxy::http::http1
