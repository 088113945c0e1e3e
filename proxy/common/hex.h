#pragma once

// Lower-case hex digits of a 64-bit word, eight digits per arithmetic step: request ids and trace
// ids take 80 digits per request, and a table lookup per digit cost about 8 instructions each.

#include <cstdint>
#include <cstring>

namespace podproxy {

inline constexpr char kLowerHexDigits[] = "0123456789abcdef";

// The 8 nibbles of `v` as 8 bytes, one nibble per byte, most significant first in memory.
inline uint64_t hexDigitsOf32(uint32_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;  // nibble i of v in byte i
  // Bytes holding 10..15 get 'a' - '0' - 10 more than '0' + nibble.
  const uint64_t letters = ((x + 6 * kOnes) >> 4) & kOnes;
  x += '0' * kOnes + letters * ('a' - '0' - 10);
  return __builtin_bswap64(x);  // little-endian memory: the top nibble must be byte 0
}

// Writes the 16 hex digits of `v`, most significant first, to out[0..16).
inline void writeHex64(uint64_t v, char* out) {
  const uint64_t high = hexDigitsOf32(static_cast<uint32_t>(v >> 32));
  const uint64_t low = hexDigitsOf32(static_cast<uint32_t>(v));
  std::memcpy(out, &high, 8);
  std::memcpy(out + 8, &low, 8);
}

}  // namespace podproxy
