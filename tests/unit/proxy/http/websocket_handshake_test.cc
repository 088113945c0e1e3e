// The RFC 6455 key and accept values podproxy computes for RFC 8441 WebSockets.

#include "proxy/http/websocket_handshake.h"

#include <gtest/gtest.h>

namespace podproxy::http {
namespace {

TEST(WebSocketHandshake, AcceptMatchesTheRfcExample) {
  // RFC 6455 1.3.
  EXPECT_EQ(webSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, KeyIsSixteenBytesInBase64) {
  const std::string key = webSocketKey(0x0102030405060708ull, 0x090a0b0c0d0e0f10ull);
  EXPECT_EQ(key.size(), 24u);
  EXPECT_EQ(key, "CAcGBQQDAgEQDw4NDAsKCQ==");
  EXPECT_NE(webSocketKey(1, 2), webSocketKey(2, 1));
}

}  // namespace
}  // namespace podproxy::http
