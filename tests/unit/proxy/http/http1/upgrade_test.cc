// HTTP/1.1 Upgrade in both codecs: the offer is kept on RequestHeaders::upgrade, a 101 turns
// the connection into a raw byte tunnel, any other answer is an ordinary response.

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/http1/client_codec.h"
#include "proxy/http/http1/server_codec.h"
#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http1 {
namespace {

using testing::bufferOf;
using testing::FakeResponseDecoder;
using testing::FakeServerCallbacks;
using testing::RecordingTransport;

constexpr std::string_view kWebSocketRequest =
    "GET /chat HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

class Http1ServerCodecUpgrade : public testing::ServerCodecTest {
 protected:
  void switchProtocols() {
    ResponseHeaders h;
    h.status = 101;
    h.headers.add("upgrade", "websocket");
    h.headers.add("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    encoder().encodeHeaders(h, false);
  }
};

TEST_F(Http1ServerCodecUpgrade, KeepsTheOfferWhenConnectionNominatesUpgrade) {
  ASSERT_TRUE(dispatch(kWebSocketRequest));
  const RequestHeaders& h = *callbacks_.last().headers;
  EXPECT_EQ(h.upgrade, "websocket");
  // Both fields stay hop-by-hop: they are not among the headers a filter forwards.
  EXPECT_FALSE(h.headers.has("upgrade"));
  EXPECT_FALSE(h.headers.has("connection"));
  EXPECT_TRUE(h.headers.has("sec-websocket-key"));
  EXPECT_TRUE(callbacks_.last().headers_end_stream);
  EXPECT_TRUE(codec_.waitingForResponse());
}

TEST_F(Http1ServerCodecUpgrade, IgnoresUpgradeThatConnectionDoesNotNominate) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().headers->upgrade, "");
}

TEST_F(Http1ServerCodecUpgrade, IgnoresUpgradeFromHttp10) {
  ASSERT_TRUE(
      dispatch("GET / HTTP/1.0\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().headers->upgrade, "");
}

TEST_F(Http1ServerCodecUpgrade, SwitchingProtocolsTurnsTheConnectionIntoATunnel) {
  // A client may send its first frame right behind the handshake.
  ASSERT_TRUE(dispatch(std::string(kWebSocketRequest) + "\x81\x05hello"));
  EXPECT_EQ(callbacks_.last().body, "");
  EXPECT_EQ(input_.toString(), "\x81\x05hello");  // held until the answer

  switchProtocols();
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "upgrade: websocket\r\nconnection: upgrade\r\n\r\n");
  EXPECT_TRUE(codec_.tunneling());
  EXPECT_FALSE(codec_.waitingForResponse());
  EXPECT_EQ(codec_.activeStreams(), 1u);
  EXPECT_FALSE(codec_.keepAlive());

  // Everything from now on is raw, even bytes that look like HTTP.
  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_TRUE(dispatch("GET /not-a-request HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().body, "\x81\x05helloGET /not-a-request HTTP/1.1\r\n\r\n");
  EXPECT_EQ(callbacks_.streams.size(), 1u);

  transport_.clear();
  buffer::Buffer frame = bufferOf(
      "\x81\x03"
      "abc");
  encoder().encodeData(frame, false);
  EXPECT_EQ(transport_.all(),
            "\x81\x03"
            "abc");  // no chunk framing
  EXPECT_EQ(transport_.end_stream_writes, 0);

  // The client's FIN reaches the stream as the end of its data, once.
  const int data_calls = callbacks_.last().data_calls;
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_EQ(callbacks_.last().data_calls, data_calls + 1);
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_EQ(callbacks_.last().data_calls, data_calls + 1);

  // The upstream's end is our FIN.
  buffer::Buffer none;
  encoder().encodeData(none, true);
  EXPECT_EQ(transport_.end_stream_writes, 1);
  EXPECT_EQ(codec_.activeStreams(), 0u);
}

TEST_F(Http1ServerCodecUpgrade, ResponseEndIsAHalfCloseAndClientBytesStillReachTheStream) {
  ASSERT_TRUE(dispatch(kWebSocketRequest));
  switchProtocols();
  transport_.clear();
  // The upstream's FIN: ours goes out, and the stream's response is over...
  buffer::Buffer bye = bufferOf("bye");
  encoder().encodeData(bye, true);
  EXPECT_EQ(transport_.all(), "bye");
  EXPECT_EQ(transport_.end_stream_writes, 1);
  EXPECT_EQ(codec_.activeStreams(), 0u);

  // ...but not its request side: the client's bytes and FIN still go to it, once.
  ASSERT_TRUE(dispatch("last words"));
  EXPECT_EQ(callbacks_.last().body, "last words");
  EXPECT_FALSE(callbacks_.last().data_end_stream);
  int data_calls = callbacks_.last().data_calls;
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_TRUE(callbacks_.last().data_end_stream);
  EXPECT_EQ(callbacks_.last().data_calls, ++data_calls);
  ASSERT_TRUE(codec_.onEndOfInput());
  ASSERT_TRUE(dispatch("after the end"));
  EXPECT_EQ(callbacks_.last().data_calls, data_calls);
  EXPECT_EQ(callbacks_.last().body, "last words");
  EXPECT_EQ(callbacks_.streams.size(), 1u);
  EXPECT_EQ(transport_.end_stream_writes, 1);
}

TEST_F(Http1ServerCodecUpgrade, RefusedUpgradeIsAnOrdinaryResponseOnAKeptConnection) {
  ASSERT_TRUE(dispatch(std::string(kWebSocketRequest) + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"));
  ResponseHeaders h;
  h.status = 400;
  h.headers.add("content-length", "0");
  encoder().encodeHeaders(h, true);
  EXPECT_EQ(transport_.all(), "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
  EXPECT_FALSE(codec_.tunneling());
  EXPECT_TRUE(codec_.keepAlive());
  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_EQ(callbacks_.streams.size(), 2u);
  EXPECT_EQ(callbacks_.last().headers->path, "/next");
}

TEST_F(Http1ServerCodecUpgrade, SwitchingProtocolsWithoutAnOfferIsDropped) {
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  switchProtocols();
  EXPECT_EQ(transport_.all(), "");
  EXPECT_FALSE(codec_.tunneling());
}

class Http1ClientCodecUpgrade : public ::testing::Test {
 protected:
  RequestEncoder& startUpgrade() {
    RequestEncoder& e = codec_.newStream(decoder_);
    RequestHeaders h;
    h.method = "GET";
    h.path = "/chat";
    h.authority = "backend";
    h.upgrade = "websocket";
    h.headers.add("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    e.encodeHeaders(h, true);
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

TEST_F(Http1ClientCodecUpgrade, OffersTheUpgradeAndTunnelsAfter101) {
  RequestEncoder& e = startUpgrade();
  EXPECT_EQ(transport_.all(),
            "GET /chat HTTP/1.1\r\nhost: backend\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "upgrade: websocket\r\nconnection: upgrade\r\n\r\n");
  transport_.clear();

  ASSERT_TRUE(
      dispatch("HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi"));
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_EQ(decoder_.headers->status, 101);
  EXPECT_FALSE(decoder_.headers_end_stream);
  EXPECT_TRUE(decoder_.informational.empty());
  ASSERT_NE(decoder_.headers->headers.get("upgrade"), nullptr);
  EXPECT_EQ(*decoder_.headers->headers.get("upgrade"), "WebSocket");
  EXPECT_FALSE(decoder_.headers->headers.has("connection"));
  EXPECT_TRUE(decoder_.headers->headers.has("sec-websocket-accept"));
  EXPECT_EQ(decoder_.body, "\x81\x02hi");
  EXPECT_TRUE(codec_.tunneling());

  // Later bytes are not parsed, however HTTP-like.
  ASSERT_TRUE(dispatch("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(decoder_.body, "\x81\x02hiHTTP/1.1 200 OK\r\n\r\n");

  buffer::Buffer frame = bufferOf("\x81\x83xyz");
  e.encodeData(frame, false);
  EXPECT_EQ(transport_.all(), "\x81\x83xyz");  // raw, no chunked framing
  buffer::Buffer none;
  e.encodeData(none, true);
  EXPECT_EQ(transport_.end_stream_writes, 1);  // the client's FIN goes on as ours

  EXPECT_FALSE(decoder_.end_stream);
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodecUpgrade, RequestBytesStillGoOutAfterTheUpstreamFin) {
  RequestEncoder& e = startUpgrade();
  ASSERT_TRUE(dispatch("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nbye"));
  transport_.clear();
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_EQ(decoder_.body, "bye");
  EXPECT_TRUE(decoder_.end_stream);

  buffer::Buffer last = bufferOf("last words");
  e.encodeData(last, false);
  buffer::Buffer none;
  e.encodeData(none, true);
  EXPECT_EQ(transport_.all(), "last words");
  EXPECT_EQ(transport_.end_stream_writes, 1);
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodecUpgrade, RefusedUpgradeIsAnOrdinaryResponseAndTheConnectionIsNotReused) {
  startUpgrade();
  ASSERT_TRUE(dispatch("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno"));
  ASSERT_NE(decoder_.headers, nullptr);
  EXPECT_EQ(decoder_.headers->status, 400);
  EXPECT_EQ(decoder_.body, "no");
  EXPECT_TRUE(decoder_.end_stream);
  EXPECT_FALSE(codec_.tunneling());
  EXPECT_FALSE(codec_.reusable());
}

TEST_F(Http1ClientCodecUpgrade, SwitchingProtocolsWithoutAnOfferIsBadGateway) {
  codec_.newStream(decoder_).encodeHeaders(
      RequestHeaders{.method = "GET", .authority = "b", .path = "/"}, true);
  CodecStatus s = dispatch("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().details, "http1.unexpected_upgrade");
}

}  // namespace
}  // namespace podproxy::http::http1
