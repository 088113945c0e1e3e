#include "proxy/http/codec.h"

namespace podproxy::http {

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp10:
      return "HTTP/1.0";
    case Protocol::kHttp11:
      return "HTTP/1.1";
    case Protocol::kHttp2:
      return "HTTP/2";
  }
  return "unknown";
}

std::string_view resetReasonName(StreamResetReason r) {
  switch (r) {
    case StreamResetReason::kConnectFailure:
      return "connect_failure";
    case StreamResetReason::kConnectionTermination:
      return "connection_termination";
    case StreamResetReason::kLocalReset:
      return "local_reset";
    case StreamResetReason::kRemoteReset:
      return "remote_reset";
    case StreamResetReason::kOverflow:
      return "overflow";
    case StreamResetReason::kProtocolError:
      return "protocol_error";
    case StreamResetReason::kUnsupported:
      return "unsupported";
  }
  return "unknown";
}

}  // namespace podproxy::http
