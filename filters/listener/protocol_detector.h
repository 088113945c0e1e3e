#pragma once

// Decides from the first bytes a client sends which protocol a captured connection speaks,
// without consuming them: the bytes stay in the connection's buffer for the chain chosen.

#include <cstdint>
#include <string_view>

#include "proxy/buffer/buffer.h"

namespace podproxy::filters {

enum class DetectedProtocol {
  kNeedMoreData,  // a prefix of something we know: wait (bounded by the detection timeout)
  kHttp1,         // an HTTP/1.x request line starts
  kHttp2,         // the HTTP/2 connection preface (prior knowledge, h2c)
  kTls,           // a TLS handshake record (ClientHello)
  kUnknown,       // anything else: opaque TCP
};

std::string_view detectedProtocolName(DetectedProtocol protocol);

// Looks at the buffered bytes only; never drains them.
DetectedProtocol detectProtocol(const buffer::Buffer& data);

}  // namespace podproxy::filters
