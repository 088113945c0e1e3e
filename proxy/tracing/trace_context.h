#pragma once

// W3C Trace Context (traceparent) and B3 header parsing and formatting, strict about the
// formats so a malformed header starts a new trace instead of propagating garbage.

#include <optional>
#include <string>
#include <string_view>

#include "proxy/common/random.h"

namespace podproxy::tracing {

// traceparent: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
struct TraceParent {
  std::string trace_id;   // 32 lower-case hex, not all zero
  std::string parent_id;  // 16 lower-case hex, not all zero
  uint8_t flags = 0;      // bit 0: sampled

  bool sampled() const { return (flags & 1) != 0; }
  // W3C rules: version 2 hex (not "ff"); version 00 is exactly 55 characters; a later version
  // may be longer only if followed by '-'. Upper-case hex is invalid.
  static std::optional<TraceParent> parse(std::string_view header);
  // What parse() accepts, without copying anything out; the fields of a valid header are then
  // at fixed offsets (the accessors below).
  static bool valid(std::string_view header);
  static std::string_view traceIdOf(std::string_view valid_header) {
    return valid_header.substr(3, 32);
  }
  static std::string_view parentIdOf(std::string_view valid_header) {
    return valid_header.substr(36, 16);
  }
  static uint8_t flagsOf(std::string_view valid_header);
  // Always version 00 (what the spec asks of a vendor that forwards a later version).
  std::string toString() const;
  static constexpr size_t kLength = 55;
  // The same into out[0..kLength) from ids of exactly 32 and 16 characters, without
  // allocating; returns the header value.
  static std::string_view format(std::string_view trace_id, std::string_view parent_id,
                                 uint8_t flags, char* out);
};

// B3 propagation (Zipkin): either the x-b3-* headers or the single "b3" header.
struct B3Context {
  std::string trace_id;  // 16 or 32 lower-case hex
  std::string span_id;   // 16 lower-case hex
  std::string parent_span_id;
  std::optional<bool> sampled;
  bool debug = false;

  // From x-b3-traceid / x-b3-spanid / x-b3-parentspanid / x-b3-sampled / x-b3-flags; nullopt
  // when the trace or span id is absent or malformed.
  static std::optional<B3Context> parseMulti(std::string_view trace_id, std::string_view span_id,
                                             std::string_view parent_span_id,
                                             std::string_view sampled, std::string_view flags);
  // "{trace}-{span}[-{sampled}[-{parent}]]"; a bare sampling state ("0", "1", "d") has no ids
  // and gives nullopt.
  static std::optional<B3Context> parseSingle(std::string_view header);
  std::string toSingle() const;
};

bool isLowerHex(std::string_view s);
bool isAllZero(std::string_view s);
// `length` random lower-case hex digits, never all zero.
std::string randomHexId(Random& random, size_t length);
// The same into out[0..length), without allocating.
void randomHexId(Random& random, char* out, size_t length);

}  // namespace podproxy::tracing
