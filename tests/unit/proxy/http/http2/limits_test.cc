// Limits and flood guards of the HTTP/2 server codec, driven with raw frames where a
// well-behaved peer would never send them.

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/proxy/http/http2/codec_pair.h"

namespace podproxy::http::http2 {
namespace {

using testing::CodecPair;
using testing::FakeResponseDecoder;
using testing::FakeServerCallbacks;
using testing::frame;
using testing::Pipe;

constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kGoAway = 0x7, kContinuation = 0x9;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

// :method GET, :path /, :scheme http, :authority a (HPACK, RFC 7541 appendix A).
const std::string kGetBlock("\x82\x84\x86\x41\x01\x61", 6);

std::string rst(uint32_t id, uint32_t code) {
  std::string payload;
  for (int shift = 24; shift >= 0; shift -= 8) payload.push_back(static_cast<char>(code >> shift));
  return frame(kRstStream, 0, id, payload);
}

// The GOAWAY frame in `out` and its error code, or -1.
int64_t goAwayCode(const std::string& out) {
  size_t pos = 0;
  while (pos + 9 <= out.size()) {
    const size_t len = (static_cast<uint8_t>(out[pos]) << 16) |
                       (static_cast<uint8_t>(out[pos + 1]) << 8) |
                       static_cast<uint8_t>(out[pos + 2]);
    if (static_cast<uint8_t>(out[pos + 3]) == kGoAway && len >= 8) {
      uint32_t code = 0;
      for (int i = 0; i < 4; ++i) code = (code << 8) | static_cast<uint8_t>(out[pos + 13 + i]);
      return code;
    }
    pos += 9 + len;
  }
  return -1;
}

class Http2ServerLimits : public ::testing::Test {
 protected:
  CodecStatus feed(const std::string& bytes) {
    buffer::Buffer in;
    in.add(bytes);
    return codec_.dispatch(in);
  }
  std::string output() { return transport_.out.toString(); }

  Pipe transport_;
  FakeServerCallbacks callbacks_;
  Http2Settings settings_;
  CodecStats stats_;
  ServerCodec codec_{transport_, callbacks_, settings_, &stats_};
};

TEST_F(Http2ServerLimits, RapidResetClosesTheConnectionWithEnhanceYourCalm) {
  std::string bytes = testing::clientPrefaceAndSettings();
  for (uint32_t i = 0; i < 150; ++i) {
    const uint32_t id = 1 + 2 * i;
    bytes += frame(kHeaders, kEndHeaders | kEndStream, id, kGetBlock);
    bytes += rst(id, 0x8 /* CANCEL */);
  }
  const CodecStatus status = feed(bytes);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().details, "http2.too_many_resets");
  EXPECT_EQ(stats_.rapid_reset, 1u);
  EXPECT_EQ(goAwayCode(output()), 0xb /* ENHANCE_YOUR_CALM */);
  EXPECT_LE(callbacks_.streams.size(), 101u);
}

TEST_F(Http2ServerLimits, ResetsAfterCompleteResponsesAreNotRapidReset) {
  std::string bytes = testing::clientPrefaceAndSettings();
  ASSERT_TRUE(feed(bytes));
  for (uint32_t i = 0; i < 150; ++i) {
    const uint32_t id = 1 + 2 * i;
    ASSERT_TRUE(feed(frame(kHeaders, kEndHeaders | kEndStream, id, kGetBlock)));
    ResponseHeaders rh;
    rh.status = 200;
    callbacks_.encoders.back()->encodeHeaders(rh, true);
    ASSERT_TRUE(feed(rst(id, 0x8)));
  }
  EXPECT_EQ(stats_.rapid_reset, 0u);
}

TEST_F(Http2ServerLimits, PingFloodClosesTheConnection) {
  ASSERT_TRUE(feed(testing::clientPrefaceAndSettings()));
  // In batches, each answered before the next: only the inbound rate limit can stop this.
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += frame(kPing, 0, 0, std::string(8, 'p'));
  CodecStatus status;
  int batches = 0;
  while (status && batches < 20) {
    status = feed(batch);
    ++batches;
  }
  ASSERT_FALSE(status);
  EXPECT_GE(batches, 10);
  EXPECT_EQ(status.error().details, "http2.control_frame_flood");
  EXPECT_EQ(stats_.control_flood, 1u);
  EXPECT_EQ(goAwayCode(output()), 0xb);
}

TEST_F(Http2ServerLimits, SettingsFloodClosesTheConnection) {
  std::string bytes = testing::clientPrefaceAndSettings();
  for (int i = 0; i < 2000; ++i) bytes += frame(kSettings, 0, 0, "");
  ASSERT_FALSE(feed(bytes));
  EXPECT_EQ(stats_.control_flood, 1u);
}

TEST(Http2ServerOutboundFlood, PeerThatDoesNotReadAcksIsFlooding) {
  Pipe transport;
  FakeServerCallbacks callbacks;
  Http2Settings settings;
  settings.max_inbound_control_frames_burst = 100000;  // only the outbound bound applies here
  CodecStats stats;
  ServerCodec codec(transport, callbacks, settings, &stats);
  auto feed = [&](const std::string& bytes) {
    buffer::Buffer in;
    in.add(bytes);
    return codec.dispatch(in);
  };
  ASSERT_TRUE(feed(testing::clientPrefaceAndSettings()));
  // Our write buffer is full: ACKs queue in nghttp2 up to max_outbound_control_frames.
  codec.onUnderlyingConnectionAboveWriteBufferHighWatermark();
  std::string bytes;
  for (int i = 0; i < 900; ++i) bytes += frame(kPing, 0, 0, std::string(8, 'p'));
  ASSERT_TRUE(feed(bytes));
  bytes.clear();
  for (int i = 0; i < 200; ++i) bytes += frame(kPing, 0, 0, std::string(8, 'p'));
  const CodecStatus status = feed(bytes);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().details, "http2.flood");
  EXPECT_EQ(stats.control_flood, 1u);
}

TEST_F(Http2ServerLimits, ContinuationFloodClosesTheConnection) {
  std::string bytes = testing::clientPrefaceAndSettings();
  bytes += frame(kHeaders, 0, 1, kGetBlock);
  for (int i = 0; i < 20; ++i)
    bytes += frame(kContinuation, 0, 1, std::string("\x40\x01x\x01y", 5));
  const CodecStatus status = feed(bytes);
  ASSERT_FALSE(status);
  EXPECT_EQ(stats_.continuation_flood, 1u);
  EXPECT_TRUE(callbacks_.streams.empty());
}

TEST_F(Http2ServerLimits, EmptyDataFloodClosesTheConnection) {
  std::string bytes = testing::clientPrefaceAndSettings();
  bytes += frame(kHeaders, kEndHeaders, 1, kGetBlock);
  for (int i = 0; i < 200; ++i) bytes += frame(kData, 0, 1, "");
  ASSERT_FALSE(feed(bytes));
  EXPECT_EQ(stats_.control_flood, 1u);
}

TEST(Http2ServerHeaderLimits, OversizedHeaderListResetsTheStreamOnly) {
  Http2Settings server;
  server.max_header_list_bytes = 1024;
  CodecPair p(server);
  FakeResponseDecoder big, small;
  RequestHeaders h;
  h.method = "GET";
  h.scheme = "http";
  h.authority = "a";
  h.path = "/";
  h.headers.add("x-big", std::string(2000, 'b'));
  testing::RecordingStreamCallbacks callbacks;
  RequestEncoder& encoder = p.client.newStream(big);
  encoder.setStreamCallbacks(&callbacks);
  encoder.encodeHeaders(h, true);
  p.pump();
  EXPECT_TRUE(p.callbacks.streams.empty());
  EXPECT_EQ(p.server_stats.header_overflow, 1u);
  EXPECT_EQ(callbacks.resets, 1);

  h.headers.clear();
  p.client.newStream(small).encodeHeaders(h, true);
  p.pump();
  EXPECT_EQ(p.callbacks.streams.size(), 1u);  // the connection lives on
  EXPECT_TRUE(p.server_status);
}

TEST(Http2ServerHeaderLimits, TooManyFieldsResetsTheStream) {
  Http2Settings server;
  server.max_headers_count = 10;
  CodecPair p(server);
  FakeResponseDecoder response;
  RequestHeaders h;
  h.method = "GET";
  h.scheme = "http";
  h.authority = "a";
  h.path = "/";
  for (int i = 0; i < 20; ++i) h.headers.add("x-f" + std::to_string(i), "v");
  p.client.newStream(response).encodeHeaders(h, true);
  p.pump();
  EXPECT_TRUE(p.callbacks.streams.empty());
  EXPECT_EQ(p.server_stats.header_overflow, 1u);
}

TEST(Http2ServerPreface, Http1BytesAreAProtocolError) {
  Pipe transport;
  FakeServerCallbacks callbacks;
  ServerCodec codec(transport, callbacks, Http2Settings{});
  buffer::Buffer in;
  in.add("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const CodecStatus status = codec.dispatch(in);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().details, "http2.bad_preface");
}

}  // namespace
}  // namespace podproxy::http::http2
