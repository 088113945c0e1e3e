#pragma once

// The RFC 6455 opening-handshake values a proxy computes when it carries an RFC 8441 WebSocket
// (HTTP/2 extended CONNECT, which has no key) to an HTTP/1.1 upstream, which requires one.

#include <cstdint>
#include <string>
#include <string_view>

namespace podproxy::http {

// A Sec-WebSocket-Key: the base64 form of the 16 bytes of `high` and `low`.
std::string webSocketKey(uint64_t high, uint64_t low);
// The Sec-WebSocket-Accept a server must answer `key` with: base64(SHA-1(key + RFC's GUID)).
std::string webSocketAccept(std::string_view key);

}  // namespace podproxy::http
