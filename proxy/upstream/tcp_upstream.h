#pragma once

// The upstream side of a terminated CONNECT: a plain TCP connection to a host of the route's
// cluster, offered to the router as a StreamHandle so the router's tunnel (and the connection
// manager's, half-close and backpressure included) carries its bytes as it carries an
// upgraded HTTP/1 connection's. The request head goes nowhere: encodeHeaders() answers it with
// a synthesized 200 (there is no HTTP upstream to say otherwise), and from then on encodeData()
// writes the client's bytes and what the upstream sends is the response's data; each side's
// FIN ends its direction only. Never pooled: one connection per CONNECT, which owns itself and
// is deferred-deleted once closed.

#include <chrono>
#include <memory>

#include "proxy/event/dispatcher.h"
#include "proxy/http/codec.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/connection_handoff.h"
#include "proxy/upstream/connection_tally.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"
#include "proxy/upstream/stream_read_disables.h"

namespace podproxy::upstream {

class TcpUpstream final : public StreamHandle,
                          public Cancellable,
                          public event::DeferredDeletable,
                          private network::ConnectionCallbacks,
                          private UpstreamDataSink {
 public:
  // Connects to `host` (within `connect_timeout`, through the host's transport socket, TLS for
  // a TLS cluster) holding one of the cluster's connection slots (`resources`), counted in the
  // cluster's `stats` (its upstream_cx_* counters outside the pools). Exactly one of
  // callbacks.onPoolReady / onPoolFailure follows unless the returned handle is cancelled;
  // nullptr when it already came (a refused slot: kOverflow).
  static Cancellable* connect(event::Dispatcher& dispatcher, HostConstSharedPtr host,
                              std::chrono::milliseconds connect_timeout, ResourceManager& resources,
                              PoolStats& stats, http::ResponseDecoder& decoder,
                              PoolCallbacks& callbacks, http::StreamCallbacks& stream_callbacks);
  ~TcpUpstream() override;

  // Cancellable: before the connection is ready; no callback follows.
  void cancel() override { abandon(); }

  // StreamHandle / http::RequestEncoder
  void encodeHeaders(const http::RequestHeaders& headers, bool end_stream) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void encodeTrailers(const http::TrailerMap& trailers) override;
  void resetStream() override { abandon(); }
  void readDisable(bool disable) override;
  void setWatermarkCallbacks(StreamWatermarkCallbacks* callbacks) override {
    watermark_callbacks_ = callbacks;
  }
  const network::Connection& connection() const override { return *connection_; }

 private:
  TcpUpstream(event::Dispatcher& dispatcher, HostConstSharedPtr host,
              std::chrono::milliseconds connect_timeout, ResourceManager& resources,
              http::ResponseDecoder& decoder, PoolCallbacks& callbacks,
              http::StreamCallbacks& stream_callbacks);

  // network::ConnectionCallbacks
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // UpstreamDataSink: what the upstream sent, and its FIN.
  void onUpstreamData(buffer::Buffer& data, bool end_stream) override;
  // Both directions ended: what is queued goes out, then the connection closes.
  void maybeFinish();
  // The caller is done with us (a cancel, a reset, or the end of the tunnel): no callback
  // follows, and we go once the connection is closed.
  void detach();
  void abandon();
  void closeAndRetire(network::CloseType type);

  event::Dispatcher& dispatcher_;
  HostConstSharedPtr host_;
  ResourceManager* resources_;  // holds a connection slot while non-null
  ConnectionTally tally_;
  std::unique_ptr<network::Connection> connection_;
  http::ResponseDecoder* decoder_;
  PoolCallbacks* callbacks_;
  http::StreamCallbacks* stream_callbacks_;
  StreamWatermarkCallbacks* watermark_callbacks_ = nullptr;
  StreamReadDisables read_disables_;
  bool response_started_ = false;  // the synthesized 200 went out
  bool request_ended_ = false;     // the caller's end_stream went out as our FIN
  bool response_ended_ = false;    // the upstream's FIN was passed on
  bool retired_ = false;           // handed to deferredDelete
};

}  // namespace podproxy::upstream
