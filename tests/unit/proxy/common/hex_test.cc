#include "proxy/common/hex.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <string>

#include "proxy/common/random.h"

namespace podproxy {
namespace {

std::string printfHex(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, v);
  return text;
}

std::string writeHex(uint64_t v) {
  char out[16];
  writeHex64(v, out);
  return std::string(out, 16);
}

TEST(Hex, WriteHex64MatchesPrintfOnEdgesAndEveryDigit) {
  for (uint64_t v :
       {uint64_t{0}, ~uint64_t{0}, uint64_t{0x0123456789abcdef}, uint64_t{0xfedcba9876543210},
        uint64_t{0x9a9a9a9a09090909}, uint64_t{1}, uint64_t{1} << 63}) {
    EXPECT_EQ(writeHex(v), printfHex(v)) << v;
  }
  // Each digit value at each position.
  for (int pos = 0; pos < 16; ++pos) {
    for (uint64_t d = 0; d < 16; ++d) {
      const uint64_t v = d << (4 * pos);
      ASSERT_EQ(writeHex(v), printfHex(v)) << pos << " " << d;
    }
  }
}

TEST(Hex, WriteHex64MatchesPrintfOnRandomWords) {
  Random random(42);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = random.next();
    ASSERT_EQ(writeHex(v), printfHex(v)) << v;
  }
}

}  // namespace
}  // namespace podproxy
