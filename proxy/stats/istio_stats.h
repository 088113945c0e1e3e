#pragma once

// Istio's standard metrics as a worker counts them: series keyed by compact integers (cluster
// id, response code, response-flag bits, gRPC status), so the hot path never builds a label
// string. The main thread turns keys back into Istio's labels when it folds the shards on scrape.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/string_hash.h"
#include "proxy/stats/histogram.h"

namespace podproxy::stats {

// Envoy's short response flags, in the order a combined label lists them.
inline constexpr std::array<std::string_view, 28> kResponseFlagNames = {
    "DC", "DI",   "DO",    "DPE", "DR",   "DT", "FI",   "IH", "LH",   "LR",
    "NC", "NFCF", "NR",    "OM",  "RFCF", "RL", "RLSE", "SI", "UAEX", "UC",
    "UF", "UH",   "UMSDR", "UO",  "UPE",  "UR", "URX",  "UT"};
// Any flag podproxy does not know yet (keeps the label set bounded).
inline constexpr uint32_t kOtherResponseFlagBit = 1u << 31;

// "UF,URX" -> bits; "" -> 0.
uint32_t responseFlagBits(std::string_view flags);
// Bits -> Istio's label value: "-" for none, else the flags joined with ",".
std::string responseFlagsLabel(uint32_t bits);

enum class RequestProtocol : uint8_t { kHttp = 0, kGrpc = 1 };

// Cluster ids are indexes into the configuration's cluster list; this one means "no cluster"
// (no route, direct responses, redirects).
inline constexpr uint16_t kNoCluster = 0xFFF;
inline constexpr uint16_t kMaxClusterId = kNoCluster - 1;
// gRPC status in a key: 0 none, 1 + status for 0..16, 31 anything else.
inline constexpr uint8_t kGrpcStatusNone = 0;
inline constexpr uint8_t kGrpcStatusOther = 31;
uint8_t grpcStatusKey(std::string_view grpc_status);  // "" -> none
std::string grpcStatusLabel(uint8_t key);             // none -> ""

// Principals (SPIFFE IDs) are interned per shard so keys stay integers. Identities are few in a
// mesh; the cap bounds label cardinality anyway: an ID beyond it is counted as kNoPrincipal
// ("unknown") and the overflow is counted.
inline constexpr uint16_t kNoPrincipal = 0;
inline constexpr size_t kMaxPrincipalsPerShard = 64;    // per listener and worker
inline constexpr size_t kMaxPrincipalsFolded = 0x7FFE;  // a scrape's sum over workers

class PrincipalTable {
 public:
  // The id of `principal`; "" is kNoPrincipal. A new principal beyond `cap` distinct ones gets
  // kNoPrincipal and counts one overflow.
  uint16_t intern(std::string_view principal, size_t cap = kMaxPrincipalsPerShard);
  // "" for kNoPrincipal or an id this table never gave.
  const std::string& name(uint16_t id) const;
  size_t size() const { return names_.size(); }
  uint64_t overflow() const { return overflow_; }
  void addOverflow(uint64_t n) { overflow_ += n; }

 private:
  std::vector<std::string> names_;  // id - 1
  std::unordered_map<std::string, uint16_t, podproxy::StringViewHash, std::equal_to<>> ids_;
  uint64_t overflow_ = 0;
};

// Who talked to whom and how: Istio's source_principal, destination_principal and
// connection_security_policy, packed into a series key.
struct IdentityKey {
  uint16_t source_principal = kNoPrincipal;       // a PrincipalTable id
  uint16_t destination_principal = kNoPrincipal;  // a PrincipalTable id
  bool mutual_tls = false;

  uint32_t pack() const {
    return static_cast<uint32_t>(source_principal & 0x7FFF) |
           (static_cast<uint32_t>(destination_principal & 0x7FFF) << 15) |
           (mutual_tls ? 1u << 30 : 0u);
  }
  static IdentityKey unpack(uint32_t packed) {
    return IdentityKey{static_cast<uint16_t>(packed & 0x7FFF),
                       static_cast<uint16_t>((packed >> 15) & 0x7FFF), (packed >> 30 & 1) != 0};
  }
};

struct HttpSeriesKey {
  uint32_t response_flags = 0;
  uint16_t response_code = 0;  // 0..1023
  uint16_t cluster = kNoCluster;
  uint8_t grpc_status = kGrpcStatusNone;
  RequestProtocol protocol = RequestProtocol::kHttp;
  uint32_t identity = 0;  // IdentityKey::pack(); kept out of pack() (no bits left there)

  uint64_t pack() const {
    return static_cast<uint64_t>(response_flags) |
           (static_cast<uint64_t>(response_code & 0x3FF) << 32) |
           (static_cast<uint64_t>(cluster & 0xFFF) << 42) |
           (static_cast<uint64_t>(grpc_status & 0x1F) << 54) |
           (static_cast<uint64_t>(protocol) << 59);
  }
  static HttpSeriesKey unpack(uint64_t packed) {
    HttpSeriesKey k;
    k.response_flags = static_cast<uint32_t>(packed);
    k.response_code = static_cast<uint16_t>((packed >> 32) & 0x3FF);
    k.cluster = static_cast<uint16_t>((packed >> 42) & 0xFFF);
    k.grpc_status = static_cast<uint8_t>((packed >> 54) & 0x1F);
    k.protocol = static_cast<RequestProtocol>((packed >> 59) & 0x3);
    return k;
  }
};

struct TcpSeriesKey {
  uint32_t response_flags = 0;
  uint16_t cluster = kNoCluster;
  uint32_t identity = 0;  // IdentityKey::pack()

  uint64_t pack() const {
    return static_cast<uint64_t>(response_flags) | (static_cast<uint64_t>(cluster & 0xFFF) << 32);
  }
  static TcpSeriesKey unpack(uint64_t packed) {
    return TcpSeriesKey{static_cast<uint32_t>(packed),
                        static_cast<uint16_t>((packed >> 32) & 0xFFF)};
  }
};

struct HttpSeries {
  uint64_t requests = 0;
  Histogram duration_ms{kDurationBucketsMs};
  Histogram request_bytes{kBytesBuckets};
  Histogram response_bytes{kBytesBuckets};

  void merge(const HttpSeries& other);
};

// Bytes a live TCP session adds as they flow, so long sessions show traffic before they end.
struct TcpByteCounters {
  uint64_t received = 0;  // from downstream (istio_tcp_received_bytes_total)
  uint64_t sent = 0;      // to downstream (istio_tcp_sent_bytes_total)
};

struct TcpSeries {
  uint64_t opened = 0;
  uint64_t closed = 0;
  TcpByteCounters bytes;

  void merge(const TcpSeries& other);
};

// A series' map key: the packed series key and the packed identity.
struct SeriesId {
  uint64_t key = 0;
  uint32_t identity = 0;
  bool operator==(const SeriesId&) const = default;
};
struct SeriesIdHash {
  size_t operator()(const SeriesId& id) const {
    return std::hash<uint64_t>()(id.key ^
                                 (static_cast<uint64_t>(id.identity) * 0x9E3779B97F4A7C15ull));
  }
};

// One listener's Istio series on one worker. unordered_map nodes are stable, so a live TCP
// session may keep a pointer to its series' byte counters.
struct IstioShard {
  std::unordered_map<SeriesId, HttpSeries, SeriesIdHash> http;
  std::unordered_map<SeriesId, TcpSeries, SeriesIdHash> tcp;
  PrincipalTable principals;  // the ids in the series' identities

  HttpSeries& httpSeries(const HttpSeriesKey& key) { return http[{key.pack(), key.identity}]; }
  TcpSeries& tcpSeries(const TcpSeriesKey& key) { return tcp[{key.pack(), key.identity}]; }
  // The identity key of a session: principals interned here (bounded).
  uint32_t identity(std::string_view source_principal, std::string_view destination_principal,
                    bool mutual_tls);
  // Adds `other`'s series; its principal ids are translated into this shard's table.
  void merge(const IstioShard& other);
};

}  // namespace podproxy::stats
