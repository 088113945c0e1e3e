// CONNECT in the HTTP/1.1 server codec: an authority-form request without a body, a 2xx that
// turns the connection into a byte tunnel, and any other answer ending the connection.

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/http1/server_codec.h"
#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http1 {
namespace {

using testing::bufferOf;
using testing::FakeServerCallbacks;
using testing::RecordingTransport;

class Http1ServerCodecConnect : public testing::ServerCodecTest {};

TEST_F(Http1ServerCodecConnect, DeliversTheAuthorityWithoutAPath) {
  ASSERT_TRUE(
      dispatch("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
               "Proxy-Connection: keep-alive\r\nUpgrade: websocket\r\n"
               "Connection: upgrade\r\n\r\n"));
  const RequestHeaders& h = *callbacks_.last().headers;
  EXPECT_EQ(h.method, "CONNECT");
  EXPECT_EQ(h.authority, "[::1]:8443");
  EXPECT_EQ(h.path, "");
  EXPECT_EQ(h.upgrade, "");  // a CONNECT is no Upgrade offer
  EXPECT_FALSE(h.headers.has("proxy-connection"));
  EXPECT_TRUE(callbacks_.last().headers_end_stream);
  EXPECT_TRUE(codec_.waitingForResponse());
}

TEST_F(Http1ServerCodecConnect, TwoHundredOpensATunnel) {
  // The client's first bytes may follow the request at once: they wait for the answer.
  ASSERT_TRUE(dispatch("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01"));
  EXPECT_EQ(input_.toString(), "\x16\x03\x01");
  ResponseHeaders ok;
  ok.status = 200;
  ok.headers.add("content-length", "0");
  ok.headers.add("x-info", "1");
  encoder().encodeHeaders(ok, false);
  // No framing at all: the tunnel's bytes follow the head.
  EXPECT_EQ(transport_.all(), "HTTP/1.1 200 Connection Established\r\nx-info: 1\r\n\r\n");
  EXPECT_TRUE(codec_.tunneling());
  EXPECT_FALSE(codec_.keepAlive());

  ASSERT_TRUE(codec_.dispatch(input_));
  ASSERT_TRUE(dispatch("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(callbacks_.last().body, "\x16\x03\x01GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(callbacks_.streams.size(), 1u);

  transport_.clear();
  buffer::Buffer reply = bufferOf("raw");
  encoder().encodeData(reply, false);
  EXPECT_EQ(transport_.all(), "raw");  // no chunk framing
  ASSERT_TRUE(codec_.onEndOfInput());
  EXPECT_TRUE(callbacks_.last().data_end_stream);
}

TEST_F(Http1ServerCodecConnect, RefusalIsAnOrdinaryResponseThatEndsTheConnection) {
  ASSERT_TRUE(dispatch("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
  ResponseHeaders refused;
  refused.status = 403;
  refused.headers.add("content-length", "0");
  encoder().encodeHeaders(refused, true);
  EXPECT_EQ(transport_.all(),
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  EXPECT_FALSE(codec_.tunneling());
  // What the client sent behind it is not read as a next request.
  ASSERT_TRUE(codec_.dispatch(input_));
  EXPECT_EQ(callbacks_.streams.size(), 1u);
}

}  // namespace
}  // namespace podproxy::http::http1
