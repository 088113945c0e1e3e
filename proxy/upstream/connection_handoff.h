#pragma once

// How a connected upstream connection moves between the HTTP/1 and HTTP/2 pools of one
// `protocol: auto` host when its TLS ALPN chose the other pool's protocol: the connection keeps
// its handshake (and its circuit-breaker slot), only its owner and codec change.

#include <memory>
#include <utility>

#include "proxy/buffer/buffer.h"
#include "proxy/network/connection.h"

namespace podproxy::upstream {

class ConnPool;

// Whoever owns an upstream connection now and decodes what it reads.
class UpstreamDataSink {
 public:
  virtual ~UpstreamDataSink() = default;
  // `end_stream`: the upstream half-closed. Only a connection with half-close enabled (an
  // HTTP/1 tunnel after its 101) reports that; any other sees its peer's FIN as a close.
  virtual void onUpstreamData(buffer::Buffer& data, bool end_stream) = 0;
};

// The one read filter of every pooled upstream connection. The connection owns its filters and
// cannot drop one, so a new owner re-points this one instead of adding its own.
class UpstreamReadFilter final : public network::ReadFilter {
 public:
  explicit UpstreamReadFilter(UpstreamDataSink& sink) : sink_(&sink) {}
  void setSink(UpstreamDataSink& sink) { sink_ = &sink; }
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    sink_->onUpstreamData(data, end_stream);
    return network::FilterStatus::kStopIteration;
  }

 private:
  UpstreamDataSink* sink_;
};

// A connected connection on its way to another pool. It still holds the connection slot its
// first pool took from the cluster's circuit breaker; the pool that adopts it releases it.
struct HandedOffConnection {
  std::unique_ptr<network::Connection> connection;
  UpstreamReadFilter* read_filter = nullptr;
};

// Adds the read filter of a pooled connection its owner just opened; the connection owns the
// filter, the owner keeps the pointer to re-point it or hand it off.
inline UpstreamReadFilter* addUpstreamReadFilter(network::Connection& connection,
                                                 UpstreamDataSink& sink) {
  auto filter = std::make_unique<UpstreamReadFilter>(sink);
  UpstreamReadFilter* raw = filter.get();
  connection.addReadFilter(std::move(filter));
  return raw;
}

// The owner's side of a hand-off: `owner` hears nothing more from the connection, which leaves
// with its read filter (both of the owner's members are empty afterwards).
inline HandedOffConnection handOffConnection(std::unique_ptr<network::Connection>& connection,
                                             UpstreamReadFilter*& read_filter,
                                             network::ConnectionCallbacks& owner) {
  connection->removeConnectionCallbacks(owner);
  return {std::move(connection), std::exchange(read_filter, nullptr)};
}

// Implemented by AutoConnPool; set on its two pools.
class AlpnMismatchHandler {
 public:
  virtual ~AlpnMismatchHandler() = default;
  // `connection` just completed its handshake in `from`, but ALPN chose the other protocol.
  // Called from inside the connection's kConnected event, before any byte was read or written
  // on it; `from` already forgot it.
  virtual void onAlpnMismatch(ConnPool& from, HandedOffConnection connection) = 0;
};

// True when the connection's TLS handshake negotiated "h2".
inline bool negotiatedHttp2(const network::Connection& connection) {
  const network::TlsInfo* tls = connection.tls();
  return tls != nullptr && tls->alpn == "h2";
}

}  // namespace podproxy::upstream
