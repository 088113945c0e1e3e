#pragma once

// Limits and counters of the HTTP/2 codecs (both sides), filled from a listener's or a
// cluster's configuration.

#include <cstdint>

namespace podproxy::http::http2 {

struct Http2Settings {
  // SETTINGS_MAX_CONCURRENT_STREAMS we advertise (server) / our own cap on streams we open
  // (client, on top of the peer's setting).
  uint32_t max_concurrent_streams = 100;
  // Flow-control windows we grant the peer. The stream window bounds what one stream can have
  // in flight towards us before its data has been passed on; the connection window bounds the
  // sum over all streams.
  uint32_t initial_stream_window_size = 256 * 1024;
  uint32_t initial_connection_window_size = 1024 * 1024;
  // Decoded header list (names + values) of one message, and the number of fields in it.
  // Beyond either the stream is reset (SETTINGS_MAX_HEADER_LIST_SIZE is advertised too).
  uint32_t max_header_list_bytes = 60 * 1024;
  uint32_t max_headers_count = 100;
  // A stream's body waiting for the peer's window: above this the producer is told to pause.
  uint32_t stream_buffer_limit_bytes = 1024 * 1024;
  // Control frames (SETTINGS ACK, PING ACK) queued because the peer does not read: beyond this
  // the peer is flooding us (CVE-2019-9512/9515) and the connection ends with GOAWAY.
  uint32_t max_outbound_control_frames = 1000;
  // PING and SETTINGS frames a peer may send: a bucket of this many, refilled at this rate per
  // second. Beyond it: GOAWAY ENHANCE_YOUR_CALM.
  uint32_t max_inbound_control_frames_burst = 1000;
  uint32_t max_inbound_control_frames_per_second = 100;
  // Rapid reset (CVE-2023-44487): once the peer reset at least this many streams before their
  // response completed, and those are at least half of the streams it opened, GOAWAY.
  uint32_t max_premature_resets = 100;
  // CONTINUATION frames after one HEADERS frame (CVE-2024-27316 class floods).
  uint32_t max_continuations = 8;
};

// Per-worker plain counters (no atomics), shared by the codecs of one listener or cluster.
struct CodecStats {
  uint64_t streams_total = 0;
  uint64_t rx_reset = 0;  // RST_STREAM received
  uint64_t tx_reset = 0;  // RST_STREAM sent by us
  uint64_t goaway_sent = 0;
  uint64_t goaway_received = 0;
  uint64_t header_overflow = 0;     // header list too large or too many fields: stream reset
  uint64_t rapid_reset = 0;         // connections closed for rapid reset
  uint64_t control_flood = 0;       // connections closed for PING/SETTINGS floods
  uint64_t continuation_flood = 0;  // connections closed for too many CONTINUATION frames
  uint64_t protocol_error = 0;      // connections closed for other protocol errors
  uint64_t keepalive_timeout = 0;   // connections closed: no answer to a keepalive PING
};

}  // namespace podproxy::http::http2
