#include "proxy/tracing/trace_context.h"

namespace podproxy::tracing {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<bool> parseSampled(std::string_view s) {
  if (s == "1" || s == "true" || s == "d") return true;
  if (s == "0" || s == "false") return false;
  return std::nullopt;
}

bool validId(std::string_view id, size_t length) {
  return id.size() == length && isLowerHex(id) && !isAllZero(id);
}
}  // namespace

bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (hexValue(c) < 0) return false;
  }
  return true;
}

bool isAllZero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

std::string randomHexId(Random& random, size_t length) {
  std::string out(length, '0');
  do {
    uint64_t bits = 0;
    for (size_t i = 0; i < length; ++i) {
      if (i % 16 == 0) bits = random.next();
      out[i] = kHex[bits & 0xF];
      bits >>= 4;
    }
  } while (isAllZero(out));
  return out;
}

std::optional<TraceParent> TraceParent::parse(std::string_view h) {
  if (h.size() < 55) return std::nullopt;
  const std::string_view version = h.substr(0, 2);
  if (!isLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && h.size() != 55) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string_view trace_id = h.substr(3, 32);
  const std::string_view parent_id = h.substr(36, 16);
  const std::string_view flags = h.substr(53, 2);
  if (!validId(trace_id, 32) || !validId(parent_id, 16) || !isLowerHex(flags)) {
    return std::nullopt;
  }
  TraceParent tp;
  tp.trace_id = std::string(trace_id);
  tp.parent_id = std::string(parent_id);
  tp.flags = static_cast<uint8_t>(hexValue(flags[0]) * 16 + hexValue(flags[1]));
  return tp;
}

std::string TraceParent::toString() const {
  std::string out;
  out.reserve(55);
  out += "00-";
  out += trace_id;
  out += '-';
  out += parent_id;
  out += '-';
  out += kHex[flags >> 4];
  out += kHex[flags & 0xF];
  return out;
}

std::optional<B3Context> B3Context::parseMulti(std::string_view trace_id, std::string_view span_id,
                                               std::string_view parent_span_id,
                                               std::string_view sampled, std::string_view flags) {
  if (!(validId(trace_id, 16) || validId(trace_id, 32)) || !validId(span_id, 16)) {
    return std::nullopt;
  }
  B3Context b3;
  b3.trace_id = std::string(trace_id);
  b3.span_id = std::string(span_id);
  if (validId(parent_span_id, 16)) b3.parent_span_id = std::string(parent_span_id);
  b3.sampled = parseSampled(sampled);
  b3.debug = flags == "1";
  if (b3.debug) b3.sampled = true;
  return b3;
}

std::optional<B3Context> B3Context::parseSingle(std::string_view h) {
  const size_t first = h.find('-');
  if (first == std::string_view::npos) return std::nullopt;
  const std::string_view trace_id = h.substr(0, first);
  std::string_view rest = h.substr(first + 1);
  const size_t second = rest.find('-');
  const std::string_view span_id = rest.substr(0, second);
  std::string_view sampled;
  std::string_view parent;
  if (second != std::string_view::npos) {
    rest = rest.substr(second + 1);
    const size_t third = rest.find('-');
    sampled = rest.substr(0, third);
    if (third != std::string_view::npos) {
      parent = rest.substr(third + 1);
      if (!validId(parent, 16)) return std::nullopt;
    }
    if (!parseSampled(sampled)) return std::nullopt;
  }
  auto b3 = parseMulti(trace_id, span_id, parent, sampled == "d" ? "1" : sampled,
                       sampled == "d" ? "1" : "");
  return b3;
}

std::string B3Context::toSingle() const {
  std::string out = trace_id + "-" + span_id;
  if (debug) {
    out += "-d";
  } else if (sampled) {
    out += *sampled ? "-1" : "-0";
  }
  if (!parent_span_id.empty() && (debug || sampled)) out += "-" + parent_span_id;
  return out;
}

}  // namespace podproxy::tracing
