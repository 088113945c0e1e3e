// The HTTP/2 client codec's tunnels: an HTTP/1.1 Upgrade offer sent as an RFC 8441 extended
// CONNECT (and its 2xx presented as the 101 it stands for), a plain CONNECT as RFC 9113 8.5 says,
// and the wait for the peer's SETTINGS_ENABLE_CONNECT_PROTOCOL.

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/websocket_handshake.h"
#include "tests/unit/proxy/http/http2/codec_pair.h"

namespace podproxy::http::http2 {
namespace {

using testing::CodecPair;
using testing::FakeResponseDecoder;
using testing::Pipe;
using testing::RecordingStreamCallbacks;

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";

RequestHeaders webSocketOffer() {
  RequestHeaders h;
  h.method = "GET";
  h.scheme = "http";
  h.authority = "ws.example";
  h.path = "/chat?room=1";
  h.upgrade = "WebSocket";
  h.headers.add("sec-websocket-key", kKey);
  h.headers.add("sec-websocket-version", "13");
  h.headers.add("sec-websocket-protocol", "chat");
  return h;
}

buffer::Buffer bufferOf(std::string_view s) {
  buffer::Buffer b;
  b.add(s);
  return b;
}

TEST(Http2ClientTunnel, UpgradeOfferGoesAsExtendedConnectAndItsAnswerAsA101) {
  CodecPair p;
  p.pump();  // the server's SETTINGS allow extended CONNECT
  FakeResponseDecoder response;
  RecordingStreamCallbacks callbacks;
  RequestEncoder& request = p.client.newStream(response);
  request.setStreamCallbacks(&callbacks);
  request.encodeHeaders(webSocketOffer(), true);
  p.pump();
  ASSERT_TRUE(p.server_status);
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  // The server codec takes only a :method CONNECT with :protocol as extended_connect.
  const RequestHeaders& got = *p.callbacks.last().headers;
  EXPECT_TRUE(got.extended_connect);
  EXPECT_EQ(got.upgrade, "websocket");
  EXPECT_EQ(got.scheme, "http");
  EXPECT_EQ(got.path, "/chat?room=1");
  EXPECT_EQ(got.authority, "ws.example");
  // RFC 8441 5: no key on the HTTP/2 side; the rest of the handshake fields travel.
  EXPECT_EQ(got.headers.get("sec-websocket-key"), nullptr);
  ASSERT_NE(got.headers.get("sec-websocket-version"), nullptr);
  EXPECT_EQ(*got.headers.get("sec-websocket-protocol"), "chat");
  // The head does not end a tunnel's request side.
  EXPECT_FALSE(p.callbacks.last().headers_end_stream);

  ResponseEncoder& server = *p.callbacks.encoders.back();
  ResponseHeaders accepted;
  accepted.status = 101;  // the server codec sends it as :status 200
  server.encodeHeaders(accepted, false);
  p.pump();
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 101);
  EXPECT_FALSE(response.headers_end_stream);
  ASSERT_NE(response.headers->headers.get("upgrade"), nullptr);
  EXPECT_EQ(*response.headers->headers.get("upgrade"), "websocket");
  ASSERT_NE(response.headers->headers.get("sec-websocket-accept"), nullptr);
  EXPECT_EQ(*response.headers->headers.get("sec-websocket-accept"), webSocketAccept(kKey));
  EXPECT_EQ(*response.headers->headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  // Bytes both ways; the server's end first leaves the client's side open.
  buffer::Buffer up = bufferOf("ping");
  request.encodeData(up, false);
  buffer::Buffer down = bufferOf("pong");
  server.encodeData(down, true);
  p.pump();
  EXPECT_EQ(p.callbacks.last().body, "ping");
  EXPECT_EQ(response.body, "pong");
  EXPECT_TRUE(response.end_stream);
  buffer::Buffer last = bufferOf("bye");
  request.encodeData(last, true);
  p.pump();
  EXPECT_EQ(p.callbacks.last().body, "pingbye");
  EXPECT_TRUE(p.callbacks.last().end_stream);
  EXPECT_EQ(callbacks.resets, 0);
  EXPECT_EQ(p.client_stats.tx_reset, 0u);
  EXPECT_EQ(p.server_stats.tx_reset, 0u);
  EXPECT_EQ(p.client.activeStreams(), 0u);
}

TEST(Http2ClientTunnel, RefusedUpgradeIsAnOrdinaryResponse) {
  CodecPair p;
  p.pump();
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  request.encodeHeaders(webSocketOffer(), true);
  p.pump();
  ResponseHeaders refused;
  refused.status = 403;
  p.callbacks.encoders.back()->encodeHeaders(refused, true);
  p.pump();
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 403);
  EXPECT_EQ(response.headers->headers.get("sec-websocket-accept"), nullptr);
  EXPECT_TRUE(response.end_stream);
  EXPECT_EQ(p.client.activeStreams(), 0u);
}

TEST(Http2ClientTunnel, PlainConnectCarriesOnlyTheAuthority) {
  CodecPair p;
  p.pump();
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h;
  h.method = "CONNECT";
  h.authority = "backend.example:443";
  request.encodeHeaders(h, true);
  p.pump();
  // nghttp2 on the server resets a CONNECT that carries :scheme or :path (RFC 9113 8.5).
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  const RequestHeaders& got = *p.callbacks.last().headers;
  EXPECT_EQ(got.method, "CONNECT");
  EXPECT_EQ(got.authority, "backend.example:443");
  EXPECT_TRUE(got.path.empty());
  EXPECT_FALSE(got.extended_connect);
  EXPECT_FALSE(p.callbacks.last().headers_end_stream);
  ResponseHeaders ok;
  p.callbacks.encoders.back()->encodeHeaders(ok, false);
  p.pump();
  ASSERT_NE(response.headers, nullptr);
  EXPECT_EQ(response.headers->status, 200);  // a CONNECT's 2xx stays what it is
  buffer::Buffer up = bufferOf("raw");
  request.encodeData(up, true);
  p.pump();
  EXPECT_EQ(p.callbacks.last().body, "raw");
  EXPECT_TRUE(p.callbacks.last().end_stream);
}

TEST(Http2ClientTunnel, UpgradeOfferWithABodyGoesAsThePlainRequest) {
  CodecPair p;
  p.pump();
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  RequestHeaders h = webSocketOffer();
  h.method = "POST";
  request.encodeHeaders(h, false);
  buffer::Buffer body = bufferOf("data");
  request.encodeData(body, true);
  p.pump();
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  EXPECT_EQ(p.callbacks.last().headers->method, "POST");
  EXPECT_FALSE(p.callbacks.last().headers->extended_connect);
  EXPECT_EQ(p.callbacks.last().body, "data");
}

TEST(Http2ClientTunnel, ExtendedConnectWaitsForThePeersSettings) {
  CodecPair p;  // the client has not seen the server's SETTINGS yet
  FakeResponseDecoder response;
  RecordingStreamCallbacks callbacks;
  RequestEncoder& request = p.client.newStream(response);
  request.setStreamCallbacks(&callbacks);
  request.encodeHeaders(webSocketOffer(), true);
  buffer::Buffer early = bufferOf("early");
  request.encodeData(early, false);  // bytes behind the head wait with it
  EXPECT_FALSE(p.client.peerSettingsReceived());
  // Only the client's bytes move: the preface and SETTINGS, no HEADERS.
  p.server_status = p.server.dispatch(p.to_server.out);
  ASSERT_TRUE(p.server_status);
  EXPECT_TRUE(p.callbacks.streams.empty());
  // The server's SETTINGS arrive: the request goes out.
  p.pump();
  EXPECT_TRUE(p.client.peerAcceptsExtendedConnect());
  ASSERT_EQ(p.callbacks.streams.size(), 1u);
  EXPECT_TRUE(p.callbacks.last().headers->extended_connect);
  EXPECT_EQ(p.callbacks.last().body, "early");
  EXPECT_EQ(callbacks.resets, 0);
}

TEST(Http2ClientTunnel, ResetWhileWaitingForSettingsSendsNothing) {
  CodecPair p;
  FakeResponseDecoder response;
  RequestEncoder& request = p.client.newStream(response);
  request.encodeHeaders(webSocketOffer(), true);
  request.resetStream(StreamResetReason::kLocalReset);
  p.pump();
  EXPECT_TRUE(p.callbacks.streams.empty());
  EXPECT_EQ(p.client.activeStreams(), 0u);
  EXPECT_EQ(p.client_stats.tx_reset, 0u);
}

TEST(Http2ClientTunnel, PeerWithoutExtendedConnectFailsTheStreamUnsent) {
  Pipe to_server;
  CodecStats stats;
  ClientCodec client(to_server, {}, &stats);
  client.flush();
  to_server.out.clear();  // the preface and SETTINGS
  FakeResponseDecoder response;
  RecordingStreamCallbacks callbacks;
  RequestEncoder& request = client.newStream(response);
  request.setStreamCallbacks(&callbacks);
  request.encodeHeaders(webSocketOffer(), true);
  EXPECT_TRUE(to_server.out.empty());
  EXPECT_EQ(callbacks.resets, 0);  // not failed before the peer said anything
  // A server's SETTINGS without SETTINGS_ENABLE_CONNECT_PROTOCOL.
  buffer::Buffer settings = bufferOf(testing::frame(0x4, 0, 0, ""));
  ASSERT_TRUE(client.dispatch(settings));
  EXPECT_EQ(callbacks.resets, 1);
  EXPECT_EQ(callbacks.reason, StreamResetReason::kUnsupported);
  EXPECT_EQ(callbacks.details,
            "upstream does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)");
  // Only the SETTINGS ACK went out: no HEADERS, no RST_STREAM.
  EXPECT_EQ(to_server.out.toString(), testing::frame(0x4, 0x1, 0, ""));
  EXPECT_EQ(client.activeStreams(), 0u);
  EXPECT_EQ(response.headers, nullptr);
  // Later offers on this connection fail at once; ordinary requests still go.
  FakeResponseDecoder second;
  RecordingStreamCallbacks second_callbacks;
  RequestEncoder& again = client.newStream(second);
  again.setStreamCallbacks(&second_callbacks);
  again.encodeHeaders(webSocketOffer(), true);
  EXPECT_EQ(second_callbacks.resets, 1);
  EXPECT_EQ(second_callbacks.reason, StreamResetReason::kUnsupported);
  to_server.out.clear();
  FakeResponseDecoder plain;
  RequestHeaders get = webSocketOffer();
  get.upgrade.clear();
  client.newStream(plain).encodeHeaders(get, true);
  EXPECT_FALSE(to_server.out.empty());
}

}  // namespace
}  // namespace podproxy::http::http2
