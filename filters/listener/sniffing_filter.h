#pragma once

// The first network filter of a captured connection: waits (bounded) for the client's first
// bytes, detects the protocol without consuming them, then hands the connection to the chain
// for that protocol (the HTTP connection manager or tcp_proxy) and steps aside. A client that
// says nothing within the detection timeout is proxied as TCP, so server-first protocols
// (MySQL, SMTP...) work with no configuration.

#include <chrono>
#include <functional>
#include <memory>

#include "filters/listener/protocol_detector.h"
#include "proxy/event/dispatcher.h"
#include "proxy/network/connection.h"

namespace podproxy::filters {

// Detection outcomes, per worker and listener (metric-ready).
struct DetectionStats {
  uint64_t http1 = 0;
  uint64_t http2 = 0;
  uint64_t tls = 0;
  uint64_t tcp = 0;                     // bytes arrived, not a protocol we know
  uint64_t timeout = 0;                 // nothing (or too little) arrived in time: server-first TCP
  uint64_t declared_tcp = 0;            // destination port declared TCP: not sniffed at all
  uint64_t mtls_plaintext_refused = 0;  // plaintext on an mtls: strict listener
};

// Mesh mTLS on a sniffing listener: a TLS ClientHello is terminated here (workload certificate,
// client certificate required) and what it carries is sniffed again; plaintext is refused under
// strict and proxied as usual under permissive.
struct MtlsSniffing {
  bool strict = false;
  std::function<std::unique_ptr<network::TransportSocket>()> create_socket;
};

class SniffingFilter final : public network::ReadFilter {
 public:
  using ChainFactory =
      std::function<std::unique_ptr<network::ReadFilter>(DetectedProtocol protocol)>;

  // `mtls` (optional) must outlive the filter.
  SniffingFilter(std::chrono::milliseconds timeout, ChainFactory factory, DetectionStats& stats,
                 const MtlsSniffing* mtls = nullptr);

  void initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  network::FilterStatus onNewConnection() override;
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

 private:
  void decide(DetectedProtocol protocol);
  void startTls();
  void refusePlaintext();

  const std::chrono::milliseconds timeout_;
  ChainFactory factory_;
  DetectionStats& stats_;
  const MtlsSniffing* mtls_;
  bool tls_started_ = false;
  network::ReadFilterCallbacks* callbacks_ = nullptr;
  std::unique_ptr<event::Timer> timer_;
  std::unique_ptr<network::ReadFilter> chain_;  // set once decided
};

}  // namespace podproxy::filters
