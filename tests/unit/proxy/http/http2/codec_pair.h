#pragma once

// An HTTP/2 client codec and server codec wired back to back in memory, so each side's unit
// tests have a real nghttp2 peer; plus raw frame builders for the floods a well-behaved peer
// never sends.

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/buffer/buffer.h"
#include "proxy/http/http2/client_codec.h"
#include "proxy/http/http2/server_codec.h"
#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http2::testing {

using http1::testing::FakeRequestDecoder;
using http1::testing::FakeResponseDecoder;
using http1::testing::FakeServerCallbacks;

class Pipe : public CodecTransport {
 public:
  void write(buffer::Buffer& data, bool) override {
    ++writes;
    total += data.length();
    out.move(data);
  }
  buffer::Buffer out;
  size_t writes = 0;
  size_t total = 0;
};

class RecordingStreamCallbacks : public StreamCallbacks {
 public:
  void onResetStream(StreamResetReason r, std::string_view d) override {
    ++resets;
    reason = r;
    details = d;
  }
  void onAboveWriteBufferHighWatermark() override { ++above; }
  void onBelowWriteBufferLowWatermark() override { ++below; }
  int resets = 0;
  StreamResetReason reason = StreamResetReason::kLocalReset;
  std::string details;
  int above = 0;
  int below = 0;
};

struct CodecPair {
  // With `server_dispatcher`, the server sends stream output after the I/O pass, as in the proxy.
  explicit CodecPair(Http2Settings server_settings = {}, Http2Settings client_settings = {},
                     event::Dispatcher* server_dispatcher = nullptr)
      : server(to_client, callbacks, server_settings, &server_stats, server_dispatcher),
        client(to_server, client_settings, &client_stats) {
    client.flush();
  }
  // Moves bytes both ways until neither side has anything to say.
  void pump() {
    for (int i = 0; i < 1000 && (!to_server.out.empty() || !to_client.out.empty()); ++i) {
      if (!to_server.out.empty()) server_status = server.dispatch(to_server.out);
      if (!to_client.out.empty()) client_status = client.dispatch(to_client.out);
    }
  }

  Pipe to_server;
  Pipe to_client;
  FakeServerCallbacks callbacks;
  CodecStats server_stats;
  CodecStats client_stats;
  ServerCodec server;
  ClientCodec client;
  CodecStatus server_status;
  CodecStatus client_status;
};

// Raw frames (RFC 9113 4.1).
inline std::string frame(uint8_t type, uint8_t flags, uint32_t stream_id,
                         std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f.push_back(static_cast<char>((n >> 16) & 0xff));
  f.push_back(static_cast<char>((n >> 8) & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream_id >> 24) & 0x7f));
  f.push_back(static_cast<char>((stream_id >> 16) & 0xff));
  f.push_back(static_cast<char>((stream_id >> 8) & 0xff));
  f.push_back(static_cast<char>(stream_id & 0xff));
  f.append(payload);
  return f;
}

inline std::string clientPrefaceAndSettings() {
  return std::string(kClientPreface) + frame(0x4, 0, 0, "");
}

}  // namespace podproxy::http::http2::testing
