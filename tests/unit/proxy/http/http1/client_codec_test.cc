#include "proxy/http/http1/client_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http1 {
namespace {

using testing::bufferOf;
using testing::FakeResponseDecoder;
using testing::RecordingTransport;

class Http1ClientCodec : public ::testing::Test {
 protected:
  RequestHeaders request(std::string_view method, std::string_view path = "/") {
    RequestHeaders h;
    h.method = method;
    h.path = path;
    h.authority = "backend:8080";
    return h;
  }
  // Starts a stream and sends a bodiless request.
  RequestEncoder& start(std::string_view method = "GET") {
    RequestEncoder& e = codec_.newStream(decoder_);
    e.encodeHeaders(request(method), true);
    transport_.clear();
    return e;
  }
  CodecStatus dispatch(std::string_view bytes) {
    input_.add(bytes);
    return codec_.dispatch(input_);
  }

  RecordingTransport transport_;
  ClientCodec codec_{transport_};
  FakeResponseDecoder decoder_;
  buffer::Buffer input_;
};

TEST_F(Http1ClientCodec, EncodesGetWithHostAndNoFraming) {
  RequestEncoder& e = codec_.newStream(decoder_);
  RequestHeaders h = request("GET", "/items?id=1");
  h.headers.add("accept", "*/*");
  h.headers.add("host", "ignored");
  e.encodeHeaders(h, true);
  ASSERT_EQ(transport_.writes.size(), 1u);
  EXPECT_EQ(transport_.writes[0],
            "GET /items?id=1 HTTP/1.1\r\nhost: backend:8080\r\naccept: */*\r\n\r\n");
  EXPECT_EQ(transport_.end_stream_writes, 0);
  EXPECT_EQ(codec_.protocol(), Protocol::kHttp11);
}

TEST_F(Http1ClientCodec, EncodesBodilessPostWithContentLengthZero) {
  codec_.newStream(decoder_).encodeHeaders(request("POST"), true);
  EXPECT_EQ(transport_.all(), "POST / HTTP/1.1\r\nhost: backend:8080\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(Http1ClientCodec, EncodesContentLengthBodyAsIs) {
  RequestEncoder& e = codec_.newStream(decoder_);
  RequestHeaders h = request("PUT", "/f");
  h.headers.add("content-length", "5");
  e.encodeHeaders(h, false);
  buffer::Buffer b = bufferOf("hello");
  e.encodeData(b, true);
  EXPECT_EQ(transport_.all(),
            "PUT /f HTTP/1.1\r\nhost: backend:8080\r\ncontent-length: 5\r\n\r\nhello");
}

TEST_F(Http1ClientCodec, EncodesUnknownLengthBodyChunkedWithTrailers) {
  RequestEncoder& e = codec_.newStream(decoder_);
  RequestHeaders h = request("POST", "/up");
  h.headers.add("te", "trailers");
  e.encodeHeaders(h, false);
  buffer::Buffer a = bufferOf("abc");
  e.encodeData(a, false);
  buffer::Buffer empty;
  e.encodeData(empty, false);
  TrailerMap t;
  t.add("x-sum", "1");
  e.encodeTrailers(t);
  EXPECT_EQ(transport_.all(),
            "POST /up HTTP/1.1\r\nhost: backend:8080\r\nte: trailers\r\n"
            "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n");
}

TEST_F(Http1ClientCodec, DropsFramingAndUnsafeFieldsFromTrailers) {
  RequestEncoder& e = codec_.newStream(decoder_);
  e.encodeHeaders(request("POST", "/up"), false);
  TrailerMap t;
  t.add("te", "trailers");
  t.add("content-length", "5");
  t.add("host", "elsewhere");
  t.add("x-bad", "a\nx-smuggled: 1");
  t.add("x-sum", "1");
  e.encodeTrailers(t);
  EXPECT_EQ(transport_.all(),
            "POST /up HTTP/1.1\r\nhost: backend:8080\r\ntransfer-encoding: chunked\r\n\r\n"
            "0\r\nx-sum: 1\r\n\r\n");
}

TEST_F(Http1ClientCodec, EncodesHeadsAroundAndFarAboveTheSliceSize) {
  // A head whose size bound fits a slice is written in place, a larger one through a scratch
  // string: every size across the switch, and one of several slices, comes out whole.
  std::vector<size_t> sizes = {3 * buffer::kSliceSize};
  for (size_t n = buffer::kSliceSize - 256; n <= buffer::kSliceSize + 64; ++n) sizes.push_back(n);
  for (const size_t n : sizes) {
    RecordingTransport transport;
    ClientCodec codec{transport};
    const std::string value(n, 'v');
    RequestHeaders h = request("GET");
    h.headers.add("x-big", value);
    codec.newStream(decoder_).encodeHeaders(h, true);
    ASSERT_EQ(transport.all(),
              "GET / HTTP/1.1\r\nhost: backend:8080\r\nx-big: " + value + "\r\n\r\n")
        << n;
  }
}

TEST_F(Http1ClientCodec, ChunkedRequestEndsWithLastChunk) {
  RequestEncoder& e = codec_.newStream(decoder_);
  e.encodeHeaders(request("POST"), false);
  buffer::Buffer a = bufferOf("0123456789abcdefX");
  e.encodeData(a, true);
  EXPECT_EQ(transport_.writes.back(), "11\r\n0123456789abcdefX\r\n0\r\n\r\n");
}

TEST_F(Http1ClientCodec, KeepsTeTrailersOfferedInALaterTeField) {
  RequestEncoder& e = codec_.newStream(decoder_);
  RequestHeaders h = request("GET");
  h.headers.add("te", "gzip");
  h.headers.add("te", "deflate, trailers");
  e.encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "GET / HTTP/1.1\r\nhost: backend:8080\r\nte: trailers\r\n\r\n");
}

TEST_F(Http1ClientCodec, StripsHopByHopAndUnsafeRequestHeaders) {
  RequestEncoder& e = codec_.newStream(decoder_);
  RequestHeaders h = request("GET");
  h.headers.add("connection", "close, x-hop");
  h.headers.add("x-hop", "1");
  h.headers.add("keep-alive", "timeout=5");
  h.headers.add("upgrade", "websocket");
  h.headers.add("transfer-encoding", "chunked");
  h.headers.add("te", "gzip");
  h.headers.add("x-evil", "v\r\nx-injected: 1");
  h.headers.add("x-ok", "fine");
  e.encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "GET / HTTP/1.1\r\nhost: backend:8080\r\nx-ok: fine\r\n\r\n");
}

TEST_F(Http1ClientCodec, DecodesContentLengthResponseAndIsReusable) {
  start();
  EXPECT_FALSE(codec_.responseStarted());
  EXPECT_FALSE(codec_.reusable());
  ASSERT_TRUE(
      dispatch("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer:  x \r\n"
               "Connection: keep-alive\r\n\r\nhel"));
  EXPECT_TRUE(codec_.responseStarted());
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_EQ(decoder_.headers->status, 200);
  EXPECT_EQ(*decoder_.headers->headers.get("server"), "x");
  EXPECT_EQ(*decoder_.headers->headers.get("content-length"), "5");
  EXPECT_FALSE(decoder_.headers->headers.has("connection"));
  EXPECT_FALSE(decoder_.headers_end_stream);
  EXPECT_EQ(decoder_.body, "hel");
  EXPECT_FALSE(codec_.reusable());
  ASSERT_TRUE(dispatch("lo"));
  EXPECT_EQ(decoder_.body, "hello");
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, ResponseStartedOnFirstByte) {
  start();
  ASSERT_TRUE(dispatch("HT"));
  EXPECT_TRUE(codec_.responseStarted());
  EXPECT_EQ(decoder_.headers, nullptr);
}

TEST_F(Http1ClientCodec, ConnectionIsReusedForASecondStream) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 204 No Content\r\n\r\n"));
  EXPECT_TRUE(decoder_.headers_end_stream);
  EXPECT_TRUE(codec_.reusable());
  FakeResponseDecoder second;
  codec_.newStream(second).encodeHeaders(request("GET"), true);
  EXPECT_FALSE(codec_.responseStarted());
  EXPECT_FALSE(codec_.reusable());
  input_.add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_NE(second.headers, nullptr);
  EXPECT_EQ(second.body, "ok");
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, HeadResponseHasNoBodyDespiteContentLength) {
  start("HEAD");
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_TRUE(decoder_.headers_end_stream);
  EXPECT_EQ(*decoder_.headers->headers.get("content-length"), "1000");
  EXPECT_EQ(decoder_.data_calls, 0);
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, NoContentResponseIgnoresContentLength) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_TRUE(decoder_.headers_end_stream);
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, NotModifiedHasNoBody) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 50\r\n\r\n"));
  EXPECT_TRUE(decoder_.headers_end_stream);
  EXPECT_EQ(decoder_.headers->status, 304);
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, InformationalResponsesPrecedeTheFinalOne) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_EQ(decoder_.informational.size(), 1u);
  EXPECT_EQ(decoder_.informational[0]->status, 100);
  EXPECT_EQ(decoder_.headers, nullptr);
  EXPECT_FALSE(codec_.reusable());
  ASSERT_TRUE(
      dispatch("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_EQ(decoder_.informational.size(), 2u);
  EXPECT_EQ(*decoder_.informational[1]->headers.get("link"), "</a.css>");
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_EQ(decoder_.headers->status, 200);
  EXPECT_EQ(decoder_.body, "ok");
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, CloseDelimitedResponseEndsAtEndOfInput) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil"));
  EXPECT_FALSE(decoder_.headers_end_stream);
  ASSERT_TRUE(dispatch(" close"));
  EXPECT_EQ(decoder_.body, "until close");
  EXPECT_FALSE(decoder_.end_stream);
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_EQ(decoder_.body, "until close");
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodec, DecodesChunkedResponseWithTrailers) {
  start();
  ASSERT_TRUE(
      dispatch("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "4\r\nwiki\r\n5\r\npedia\r\n0\r\nGrpc-Status: 0\r\n\r\n"));
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_FALSE(decoder_.headers->headers.has("transfer-encoding"));
  EXPECT_EQ(decoder_.body, "wikipedia");
  ASSERT_NE(decoder_.trailers, nullptr);
  EXPECT_EQ(*decoder_.trailers->get("grpc-status"), "0");
  EXPECT_TRUE(codec_.reusable());
}

TEST_F(Http1ClientCodec, ConnectionCloseResponseIsNotReusable) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodec, Http10ResponseWithoutKeepAliveIsNotReusable) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodec, BytesAfterTheResponseMakeTheConnectionUnusable) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"));
  EXPECT_EQ(decoder_.body, "ok");
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.reusable());
  EXPECT_TRUE(input_.empty());
}

TEST_F(Http1ClientCodec, ResponseBeforeRequestEndsIsNotReusable) {
  RequestEncoder& e = codec_.newStream(decoder_);
  e.encodeHeaders(request("POST"), false);
  ASSERT_TRUE(dispatch("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodec, GarbageIsBadGateway) {
  start();
  CodecStatus s = dispatch("garbage\r\n\r\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 502);
  EXPECT_EQ(s.error().details, "http1.invalid_start_line");
  EXPECT_FALSE(codec_.reusable());
  EXPECT_FALSE(codec_.dispatch(input_));
}

TEST_F(Http1ClientCodec, UnsolicitedResponseIsBadGateway) {
  CodecStatus s = dispatch("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 502);
  EXPECT_EQ(s.error().details, "http1.unsolicited_response");
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodec, SmugglingVectorsInResponsesAreBadGateway) {
  const char* vectors[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
  };
  for (const char* v : vectors) {
    RecordingTransport transport;
    ClientCodec codec(transport);
    FakeResponseDecoder decoder;
    codec.newStream(decoder).encodeHeaders(request("GET"), true);
    buffer::Buffer in = bufferOf(v);
    CodecStatus s = codec.dispatch(in);
    ASSERT_FALSE(s) << v;
    EXPECT_EQ(s.error().status, 502) << v;
    EXPECT_FALSE(decoder.end_stream) << v;
    EXPECT_FALSE(codec.reusable()) << v;
  }
}

TEST_F(Http1ClientCodec, TooManyResponseHeadersIsBadGateway) {
  start();
  std::string r = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 101; ++i) r += "x-h" + std::to_string(i) + ": v\r\n";
  CodecStatus s = dispatch(r + "\r\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 502);
  EXPECT_EQ(s.error().details, "http1.too_many_headers");
}

TEST_F(Http1ClientCodec, PrematureEndOfInputIsBadGateway) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  CodecStatus s = codec_.onEndOfInput();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 502);
  EXPECT_EQ(s.error().details, "http1.premature_eof");
  EXPECT_FALSE(decoder_.end_stream);
}

TEST_F(Http1ClientCodec, EndOfInputBeforeAnyResponseByteIsAnErrorWithoutResponseStarted) {
  start();
  CodecStatus s = codec_.onEndOfInput();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 502);
  EXPECT_FALSE(codec_.responseStarted());
}

TEST_F(Http1ClientCodec, EndOfInputWhileIdleIsCleanButNotReusable) {
  start();
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(codec_.reusable());
  EXPECT_TRUE(codec_.onEndOfInput());
  EXPECT_FALSE(codec_.reusable());
}

}  // namespace
}  // namespace podproxy::http::http1
