#include "proxy/tracing/trace_context.h"

#include <algorithm>
#include <cstring>

#include "proxy/common/hex.h"

namespace podproxy::tracing {

namespace {

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
  randomHexId(random, out.data(), length);
  return out;
}

void randomHexId(Random& random, char* out, size_t length) {
  // 16 digits per random word. The id is all zero exactly when every digit used was zero:
  // checked on the words, not by scanning the text.
  for (;;) {
    uint64_t used = 0;
    for (size_t i = 0; i < length; i += 16) {
      const size_t n = std::min<size_t>(16, length - i);
      uint64_t bits = random.next();
      if (n < 16) bits &= (uint64_t{1} << (4 * n)) - 1;  // the n digits written below
      used |= bits;
      if (n == 16) {
        writeHex64(bits, out + i);
      } else {
        char digits[16];
        writeHex64(bits, digits);
        std::memcpy(out + i, digits + 16 - n, n);
      }
    }
    if (used != 0) return;
  }
}

bool TraceParent::valid(std::string_view h) {
  if (h.size() < kLength) return false;
  const std::string_view version = h.substr(0, 2);
  if (!isLowerHex(version) || version == "ff") return false;
  if (version == "00" && h.size() != kLength) return false;
  if (h.size() > kLength && h[kLength] != '-') return false;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  return validId(traceIdOf(h), 32) && validId(parentIdOf(h), 16) && isLowerHex(h.substr(53, 2));
}

uint8_t TraceParent::flagsOf(std::string_view h) {
  return static_cast<uint8_t>(hexValue(h[53]) * 16 + hexValue(h[54]));
}

std::optional<TraceParent> TraceParent::parse(std::string_view h) {
  if (!valid(h)) return std::nullopt;
  TraceParent tp;
  tp.trace_id = std::string(traceIdOf(h));
  tp.parent_id = std::string(parentIdOf(h));
  tp.flags = flagsOf(h);
  return tp;
}

std::string TraceParent::toString() const {
  std::string out;
  out.reserve(kLength);
  out += "00-";
  out += trace_id;
  out += '-';
  out += parent_id;
  out += '-';
  out += kLowerHexDigits[flags >> 4];
  out += kLowerHexDigits[flags & 0xF];
  return out;
}

std::string_view TraceParent::format(std::string_view trace_id, std::string_view parent_id,
                                     uint8_t flags, char* out) {
  char* p = out;
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = std::copy(trace_id.begin(), trace_id.end(), p);
  *p++ = '-';
  p = std::copy(parent_id.begin(), parent_id.end(), p);
  *p++ = '-';
  *p++ = kLowerHexDigits[flags >> 4];
  *p++ = kLowerHexDigits[flags & 0xF];
  return std::string_view(out, kLength);
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
