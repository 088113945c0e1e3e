#include "filters/listener/protocol_detector.h"

#include <algorithm>
#include <array>

namespace podproxy::filters {

namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Request methods we accept as the start of HTTP/1 (RFC 9110 plus common WebDAV ones).
constexpr std::array<std::string_view, 16> kMethods = {
    "GET ",     "POST ",     "PUT ",       "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "TRACE ",
    "CONNECT ", "PROPFIND ", "PROPPATCH ", "MKCOL ",  "COPY ", "MOVE ",    "LOCK ",  "UNLOCK "};

constexpr size_t kPeekBytes = 32;

}  // namespace

std::string_view detectedProtocolName(DetectedProtocol protocol) {
  switch (protocol) {
    case DetectedProtocol::kNeedMoreData:
      return "need_more_data";
    case DetectedProtocol::kHttp1:
      return "http1";
    case DetectedProtocol::kHttp2:
      return "http2";
    case DetectedProtocol::kTls:
      return "tls";
    case DetectedProtocol::kUnknown:
      return "tcp";
  }
  return "tcp";
}

DetectedProtocol detectProtocol(const buffer::Buffer& data) {
  char head[kPeekBytes];
  const size_t n = data.copyOut(0, std::min(kPeekBytes, data.length()), head);
  const std::string_view seen(head, n);
  if (n == 0) return DetectedProtocol::kNeedMoreData;

  // TLS record: handshake (22), version 3.x. Three bytes are enough to be sure enough.
  if (static_cast<uint8_t>(head[0]) == 0x16) {
    if (n < 3) return DetectedProtocol::kNeedMoreData;
    return static_cast<uint8_t>(head[1]) == 0x03 ? DetectedProtocol::kTls
                                                 : DetectedProtocol::kUnknown;
  }

  bool could_be_more = false;
  const auto prefix_of = [&](std::string_view token) {
    if (seen.size() >= token.size()) return seen.substr(0, token.size()) == token;
    if (token.substr(0, seen.size()) == seen) could_be_more = true;
    return false;
  };
  if (prefix_of(kHttp2Preface)) return DetectedProtocol::kHttp2;
  for (std::string_view method : kMethods) {
    // "PRI " is not a method we forward; the preface check above handles it.
    if (prefix_of(method)) return DetectedProtocol::kHttp1;
  }
  return could_be_more ? DetectedProtocol::kNeedMoreData : DetectedProtocol::kUnknown;
}

}  // namespace podproxy::filters
