#pragma once

// The few gRPC rules a proxy needs: recognising a gRPC request, answering it in gRPC's terms
// (grpc-status, not the HTTP status), and reading the client's deadline (grpc-timeout).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/header_map.h"

namespace podproxy::http::grpc {

// content-type application/grpc, application/grpc+proto, application/grpc-web...
bool isGrpcRequest(const RequestHeaders& headers);
// The gRPC status code a local reply with this HTTP status stands for: 14 UNAVAILABLE for
// 502/503, 4 DEADLINE_EXCEEDED for 504 and 408, 12 UNIMPLEMENTED for 404, 7 PERMISSION_DENIED
// for 403, 16 UNAUTHENTICATED for 401, 8 RESOURCE_EXHAUSTED for 413/429/431, 13 INTERNAL for
// 400, 2 UNKNOWN otherwise.
uint32_t httpToGrpcStatus(uint16_t http_status);
// grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n). nullopt when malformed; sub-
// millisecond values round up to 1 ms.
std::optional<std::chrono::milliseconds> parseTimeout(std::string_view value);
// grpc-message is percent-encoded (gRPC over HTTP/2, "Responses").
std::string encodeMessage(std::string_view message);

}  // namespace podproxy::http::grpc
