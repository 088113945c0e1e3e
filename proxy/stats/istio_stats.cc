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

uint16_t PrincipalTable::intern(std::string_view principal, size_t cap) {
  if (principal.empty()) return kNoPrincipal;
  auto it = ids_.find(principal);
  if (it != ids_.end()) return it->second;
  if (names_.size() >= cap || names_.size() >= kMaxPrincipalsFolded) {
    ++overflow_;
    return kNoPrincipal;
  }
  names_.emplace_back(principal);
  const auto id = static_cast<uint16_t>(names_.size());
  ids_.emplace(names_.back(), id);
  return id;
}

const std::string& PrincipalTable::name(uint16_t id) const {
  static const std::string kEmpty;
  if (id == kNoPrincipal || id > names_.size()) return kEmpty;
  return names_[id - 1];
}

uint32_t IstioShard::identity(std::string_view source_principal,
                              std::string_view destination_principal, bool mutual_tls) {
  return IdentityKey{principals.intern(source_principal), principals.intern(destination_principal),
                     mutual_tls}
      .pack();
}

void IstioShard::merge(const IstioShard& other) {
  auto translate = [&](uint32_t packed) {
    IdentityKey k = IdentityKey::unpack(packed);
    k.source_principal =
        principals.intern(other.principals.name(k.source_principal), kMaxPrincipalsFolded);
    k.destination_principal =
        principals.intern(other.principals.name(k.destination_principal), kMaxPrincipalsFolded);
    return k.pack();
  };
  for (const auto& [id, series] : other.http) http[{id.key, translate(id.identity)}].merge(series);
  for (const auto& [id, series] : other.tcp) tcp[{id.key, translate(id.identity)}].merge(series);
  principals.addOverflow(other.principals.overflow());
}

}  // namespace podproxy::stats
