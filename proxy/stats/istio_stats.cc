#include "proxy/stats/istio_stats.h"

#include <charconv>

namespace podproxy::stats {

uint32_t responseFlagBits(std::string_view flags) {
  uint32_t bits = 0;
  while (!flags.empty()) {
    const size_t comma = flags.find(',');
    const std::string_view flag = flags.substr(0, comma);
    flags = comma == std::string_view::npos ? std::string_view() : flags.substr(comma + 1);
    if (flag.empty()) continue;
    bool known = false;
    for (size_t i = 0; i < kResponseFlagNames.size(); ++i) {
      if (kResponseFlagNames[i] == flag) {
        bits |= 1u << i;
        known = true;
        break;
      }
    }
    if (!known) bits |= kOtherResponseFlagBit;
  }
  return bits;
}

std::string responseFlagsLabel(uint32_t bits) {
  if (bits == 0) return "-";
  std::string out;
  for (size_t i = 0; i < kResponseFlagNames.size(); ++i) {
    if ((bits & (1u << i)) == 0) continue;
    if (!out.empty()) out += ',';
    out += kResponseFlagNames[i];
  }
  if ((bits & kOtherResponseFlagBit) != 0) {
    if (!out.empty()) out += ',';
    out += "OTHER";
  }
  return out;
}

uint8_t grpcStatusKey(std::string_view grpc_status) {
  if (grpc_status.empty()) return kGrpcStatusNone;
  unsigned value = 0;
  const auto [end, ec] =
      std::from_chars(grpc_status.data(), grpc_status.data() + grpc_status.size(), value);
  if (ec != std::errc() || end != grpc_status.data() + grpc_status.size() || value > 16) {
    return kGrpcStatusOther;
  }
  return static_cast<uint8_t>(value + 1);
}

std::string grpcStatusLabel(uint8_t key) {
  if (key == kGrpcStatusNone) return "";
  if (key == kGrpcStatusOther) return "unknown";
  return std::to_string(key - 1);
}

void HttpSeries::merge(const HttpSeries& other) {
  requests += other.requests;
  duration_ms.merge(other.duration_ms);
  request_bytes.merge(other.request_bytes);
  response_bytes.merge(other.response_bytes);
}

void TcpSeries::merge(const TcpSeries& other) {
  opened += other.opened;
  closed += other.closed;
  bytes.received += other.bytes.received;
  bytes.sent += other.bytes.sent;
}

void IstioShard::merge(const IstioShard& other) {
  for (const auto& [key, series] : other.http) http[key].merge(series);
  for (const auto& [key, series] : other.tcp) tcp[key].merge(series);
}

}  // namespace podproxy::stats
