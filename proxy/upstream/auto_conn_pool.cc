#include "proxy/upstream/auto_conn_pool.h"

#include <utility>

#include "proxy/common/logger.h"

namespace podproxy::upstream {

void AutoConnPool::Waiter::cancel() {
  if (handle != nullptr) handle->cancel();
  pool_.release(*this);
}

void AutoConnPool::Waiter::onPoolReady(StreamHandle& stream, const Host& host, bool reused) {
  PoolCallbacks* caller = callbacks;
  pool_.release(*this);
  caller->onPoolReady(stream, host, reused);
}

void AutoConnPool::Waiter::onPoolFailure(PoolFailureReason reason, std::string_view details,
                                         const Host& host) {
  PoolCallbacks* caller = callbacks;
  pool_.release(*this);
  caller->onPoolFailure(reason, details, host);
}

AutoConnPool::AutoConnPool(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                           const config::Cluster& cluster, ResourceManager& resources,
                           http::http2::CodecStats* codec_stats, CodecFactory http1_codec_factory)
    : http1_(dispatcher, host, cluster, resources, std::move(http1_codec_factory)),
      http2_(dispatcher, std::move(host), cluster, resources, codec_stats) {
  http1_.setAlpnMismatchHandler(this);
  http2_.setAlpnMismatchHandler(this);
}

AutoConnPool::~AutoConnPool() = default;

const PoolStats& AutoConnPool::stats() const {
  stats_ = PoolStats{};
  addPoolStats(stats_, http1_.stats());
  addPoolStats(stats_, http2_.stats());
  return stats_;
}

ConnPool& AutoConnPool::poolFor(http::Protocol protocol) {
  if (protocol == http::Protocol::kHttp2) return http2_;
  return http1_;
}

AutoConnPool::Waiter& AutoConnPool::acquire() {
  if (free_.empty()) {
    waiters_.push_back(std::make_unique<Waiter>(*this));
    free_.push_back(waiters_.back().get());
  }
  Waiter& waiter = *free_.back();
  free_.pop_back();
  waiter.active = true;
  ++waiter.serial;
  return waiter;
}

void AutoConnPool::release(Waiter& waiter) {
  if (!waiter.active) return;
  waiter.active = false;
  waiter.decoder = nullptr;
  waiter.callbacks = nullptr;
  waiter.stream_callbacks = nullptr;
  waiter.target = nullptr;
  waiter.handle = nullptr;
  free_.push_back(&waiter);
}

Cancellable* AutoConnPool::newStream(http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
                                     http::StreamCallbacks& stream_callbacks,
                                     StreamPurpose purpose) {
  Waiter& waiter = acquire();
  waiter.decoder = &decoder;
  waiter.callbacks = &callbacks;
  waiter.stream_callbacks = &stream_callbacks;
  waiter.purpose = purpose;
  const uint64_t serial = waiter.serial;
  submit(waiter, poolFor(protocol_));
  // Answered at once (ready, or refused): the waiter went back to the free list.
  if (!waiter.active || waiter.serial != serial) return nullptr;
  return &waiter;
}

void AutoConnPool::submit(Waiter& waiter, ConnPool& pool) {
  waiter.target = &pool;
  waiter.handle = nullptr;
  const uint64_t serial = waiter.serial;
  Cancellable* handle =
      pool.newStream(*waiter.decoder, waiter, *waiter.stream_callbacks, waiter.purpose);
  if (handle != nullptr && waiter.active && waiter.serial == serial) waiter.handle = handle;
}

void AutoConnPool::onAlpnMismatch(ConnPool& from, HandedOffConnection connection) {
  ++handoffs_;
  const bool to_http2 = &from == &http1_;
  protocol_ = to_http2 ? http::Protocol::kHttp2 : http::Protocol::kHttp11;
  ConnPool& to = poolFor(protocol_);
  LOG_DEBUG("upstream ALPN chose the other protocol", {"host", host().addressString()},
            {"protocol", to_http2 ? "h2" : "http/1.1"});
  // The connection first, so the oldest request that moves starts on it.
  if (to_http2) {
    http2_.adoptConnection(std::move(connection));
  } else {
    http1_.adoptConnection(std::move(connection));
  }
  // Requests waiting in `from` would wait for connections that speak the wrong protocol.
  std::vector<std::pair<Waiter*, uint64_t>> moving;
  for (const auto& waiter : waiters_) {
    if (!waiter->active || waiter->target != &from || waiter->handle == nullptr) continue;
    Cancellable* handle = waiter->handle;
    waiter->handle = nullptr;
    handle->cancel();
    moving.emplace_back(waiter.get(), waiter->serial);
  }
  for (auto [waiter, serial] : moving) {
    // A caller may have cancelled (and a new request reused) it while earlier ones started.
    if (!waiter->active || waiter->serial != serial || waiter->handle != nullptr) continue;
    submit(*waiter, to);
  }
  if (draining_) {
    // Its drain callback may have fired already: arm it again for the adopted connection.
    to.drain([this] { onSubPoolDrained(); });
  }
}

void AutoConnPool::drain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  http1_.drain([this] { onSubPoolDrained(); });
  http2_.drain([this] { onSubPoolDrained(); });
}

void AutoConnPool::onSubPoolDrained() {
  if (draining_ && idle() && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

void AutoConnPool::shutdown() {
  draining_ = true;
  http1_.shutdown();
  http2_.shutdown();
}

}  // namespace podproxy::upstream
