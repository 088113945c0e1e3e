#include "proxy/common/json_escape.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "proxy/common/hex.h"

namespace podproxy {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Whether any of the 8 bytes must be escaped in a JSON string: a control character, '"' or '\\'.
// Bytes >= 0x80 (UTF-8) pass through, as they do byte by byte.
constexpr bool wordNeedsEscape(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighBits;
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t backslash = w ^ (kOnes * '\\');
  const uint64_t has_quote = (quote - kOnes) & ~quote & kHighBits;
  const uint64_t has_backslash = (backslash - kOnes) & ~backslash & kHighBits;
  return (below_space | has_quote | has_backslash) != 0;
}

char* escapeBytes(char* p, std::string_view s) {
  for (const unsigned char c : s) {
    if (c >= 0x20 && c != '"' && c != '\\') {
      *p++ = static_cast<char>(c);
      continue;
    }
    *p++ = '\\';
    switch (c) {
      case '"':
      case '\\':
        *p++ = static_cast<char>(c);
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        p = std::copy_n("u00", 3, p);
        *p++ = kLowerHexDigits[c >> 4];
        *p++ = kLowerHexDigits[c & 0xf];
    }
  }
  return p;
}

}  // namespace

char* writeJsonEscaped(char* p, std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (wordNeedsEscape(word)) {
      p = escapeBytes(p, s.substr(i, 8));
    } else {
      std::memcpy(p, &word, 8);
      p += 8;
    }
  }
  return escapeBytes(p, s.substr(i));
}

void appendJsonEscaped(std::string& out, std::string_view s) {
  const size_t old_size = out.size();
  out.resize_and_overwrite(old_size + kMaxJsonEscapedGrowth * s.size(), [&](char* data, size_t) {
    return static_cast<size_t>(writeJsonEscaped(data + old_size, s) - data);
  });
}

}  // namespace podproxy
