#include "proxy/http/http1/header_rules.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace podproxy::http::http1 {

namespace {

constexpr std::array<bool, 256> makeTokenTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTokenChars = makeTokenTable();

}  // namespace

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  bool ok = true;
  // No early exit: names are short and a branch-free loop is cheaper than one per byte.
  for (const char c : s) ok &= kTokenChars[static_cast<unsigned char>(c)];
  return ok;
}

bool isSafeFieldValue(std::string_view value) {
  // Word at a time: every field value of every head passes through here.
  const char* p = value.data();
  const size_t n = value.size();
#ifdef __SSE2__
  if (n >= 16) {
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i nul = _mm_setzero_si128();
    const auto bad = [&](const char* at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
                                     _mm_cmpeq_epi8(v, nul));
      return _mm_movemask_epi8(m) != 0;
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (bad(p + i)) return false;
    }
    // The last partial block, overlapping bytes already seen.
    return i == n || !bad(p + n - 16);
  }
#endif
  if (n >= 8) {
    const auto bad = [](const char* at) {
      uint64_t v;
      std::memcpy(&v, at, sizeof(v));
      constexpr uint64_t kOnes = 0x0101010101010101ull;
      constexpr uint64_t kHigh = 0x8080808080808080ull;
      const auto zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
      return (zero(v) | zero(v ^ (kOnes * '\r')) | zero(v ^ (kOnes * '\n'))) != 0;
    };
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if (bad(p + i)) return false;
    }
    return !bad(p + n - 8);
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0') return false;
  }
  return true;
}

ConnectionOptions parseConnection(const HeaderMap& headers) {
  ConnectionOptions out;
  for (const HeaderMap::Entry& e : headers.entries()) {
    if (classifyField(e.name) != kFieldConnection) continue;
    forEachListElement(e.value, [&](std::string_view option) {
      if (equalsIgnoreCase(option, "close")) {
        out.close = true;
      } else if (equalsIgnoreCase(option, "keep-alive")) {
        out.keep_alive = true;
      } else {
        out.nominated.push_back(toLower(option));
      }
    });
  }
  return out;
}

bool isNominatedSlow(const ConnectionOptions& options, std::string_view name) {
  return std::find(options.nominated.begin(), options.nominated.end(), name) !=
         options.nominated.end();
}

bool teOffersTrailers(std::string_view te_value) {
  bool found = false;
  forEachListElement(te_value, [&](std::string_view element) {
    // "trailers" takes no parameters, but tolerate "trailers;q=1" style input.
    const std::string_view name = trimOws(element.substr(0, element.find(';')));
    if (equalsIgnoreCase(name, "trailers")) found = true;
  });
  return found;
}

void stripHopByHop(HeaderMap& headers, const ConnectionOptions& options, bool keep_te_trailers,
                   uint32_t also) {
  // One pass to see which of the names are there; most messages carry none or one of them, and
  // each HeaderMap::remove is a pass of its own.
  uint32_t present = 0;
  bool nominated_present = false;
  bool te_trailers = false;
  const uint32_t wanted = kFieldHopByHop | also;
  for (const HeaderMap::Entry& e : headers.entries()) {
    const uint32_t kind = classifyField(e.name) & wanted;
    present |= kind;
    if (!nominated_present && isNominated(options, e.name)) nominated_present = true;
    // Each "te" field on its own: their list elements are those of the joined value.
    if (keep_te_trailers && kind == kFieldTe && !te_trailers)
      te_trailers = teOffersTrailers(e.value);
  }
  static constexpr std::pair<uint32_t, std::string_view> kNames[] = {
      {kFieldConnection, "connection"},
      {kFieldKeepAlive, "keep-alive"},
      {kFieldProxyConnection, "proxy-connection"},
      {kFieldTransferEncoding, "transfer-encoding"},
      {kFieldTe, "te"},
      {kFieldUpgrade, "upgrade"},
      {kFieldContentLength, "content-length"},
      {kFieldHost, "host"},
  };
  if (present != 0) {
    for (const auto& [bit, name] : kNames) {
      if ((present & bit) != 0) headers.remove(name);
    }
  }
  if (nominated_present) {
    for (const std::string& name : options.nominated) headers.remove(name);
  }
  if (te_trailers) headers.add("te", "trailers");
}

bool appendField(std::string& out, std::string_view name, std::string_view value) {
  if (!isToken(name) || !isSafeFieldValue(value)) return false;
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
  return true;
}

HeadWriter::HeadWriter(buffer::Buffer& out, size_t max_size) : out_(out) {
  if (max_size <= buffer::kSliceSize) {
    const std::span<uint8_t> room = out_.reserve(max_size);
    begin_ = reinterpret_cast<char*>(room.data());
  } else {
    spill_.resize(max_size);
    begin_ = spill_.data();
  }
  pos_ = begin_;
}

void HeadWriter::appendNumber(uint32_t n) {
  pos_ = std::to_chars(pos_, pos_ + 10, n).ptr;
}

namespace {

// memcpy for the short names and values of a head: no libc call below 16 bytes.
inline char* copyShort(char* d, std::string_view s) {
  const size_t n = s.size();
  const char* src = s.data();
  if (n >= 16) {
    std::memcpy(d, src, n);
  } else if (n >= 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) d[i] = src[i];
  }
  return d + n;
}

}  // namespace

bool HeadWriter::field(std::string_view name, std::string_view value) {
  if (!isToken(name) || !isSafeFieldValue(value)) return false;
  char* p = copyShort(pos_, name);
  p[0] = ':';
  p[1] = ' ';
  p = copyShort(p + 2, value);
  p[0] = '\r';
  p[1] = '\n';
  pos_ = p + 2;
  return true;
}

void HeadWriter::finish() {
  const size_t n = static_cast<size_t>(pos_ - begin_);
  if (spill_.empty()) {
    out_.commit(n);
  } else {
    out_.add(begin_, n);
  }
}

void appendChunk(buffer::Buffer& out, buffer::Buffer& data, bool last) {
  if (!data.empty()) {
    char size[24];
    auto [end, ec] = std::to_chars(size, size + sizeof(size) - 2, data.length(), 16);
    *end++ = '\r';
    *end++ = '\n';
    out.add(size, static_cast<size_t>(end - size));
    out.move(data);
    out.add("\r\n");
  }
  if (last) out.add("0\r\n\r\n");
}

void appendLastChunk(buffer::Buffer& out, const HeaderMap& trailers) {
  std::string s = "0\r\n";
  for (const HeaderMap::Entry& e : trailers.entries()) {
    if ((classifyField(e.name) & (kFieldHopByHop | kFieldContentLength | kFieldHost)) != 0) {
      continue;
    }
    appendField(s, e.name, e.value);
  }
  s.append("\r\n");
  out.add(s);
}

}  // namespace podproxy::http::http1
