#include "proxy/http/grpc.h"

#include <charconv>

namespace podproxy::http::grpc {

bool isGrpcRequest(const RequestHeaders& headers) {
  const std::string_view* type = headers.headers.get("content-type");
  if (type == nullptr) return false;
  constexpr std::string_view kGrpc = "application/grpc";
  if (type->size() < kGrpc.size() || !equalsIgnoreCase(type->substr(0, kGrpc.size()), kGrpc)) {
    return false;
  }
  return type->size() == kGrpc.size() || (*type)[kGrpc.size()] == '+' ||
         (*type)[kGrpc.size()] == ';' || (*type)[kGrpc.size()] == '-';
}

uint32_t httpToGrpcStatus(uint16_t http_status) {
  switch (http_status) {
    case 400:
      return 13;  // INTERNAL
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 408:
    case 504:
      return 4;  // DEADLINE_EXCEEDED
    case 413:
    case 429:
    case 431:
      return 8;  // RESOURCE_EXHAUSTED
    case 502:
    case 503:
      return 14;  // UNAVAILABLE
    default:
      return 2;  // UNKNOWN
  }
}

std::optional<std::chrono::milliseconds> parseTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  uint64_t amount = 0;
  const char* end = value.data() + value.size() - 1;
  auto [ptr, ec] = std::from_chars(value.data(), end, amount);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  using std::chrono::milliseconds;
  switch (*end) {
    case 'H':
      return milliseconds(amount * 3600 * 1000);
    case 'M':
      return milliseconds(amount * 60 * 1000);
    case 'S':
      return milliseconds(amount * 1000);
    case 'm':
      return milliseconds(amount);
    case 'u':
      return milliseconds(amount == 0 ? 0 : (amount + 999) / 1000);
    case 'n':
      return milliseconds(amount == 0 ? 0 : (amount + 999999) / 1000000);
    default:
      return std::nullopt;
  }
}

std::string encodeMessage(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u <= 0x7e && u != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

}  // namespace podproxy::http::grpc
