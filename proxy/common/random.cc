#include "proxy/common/random.h"

#include <cstring>
#include <random>

#include "proxy/common/hex.h"

namespace podproxy {

namespace {

inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// splitmix64 spreads one seed over the xoshiro state so that nearby seeds give unrelated streams
// and the state is never all zero.
uint64_t splitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Random::Random() {
  std::random_device device;
  const uint64_t seed_value = (static_cast<uint64_t>(device()) << 32) ^ device();
  seed(seed_value);
}

Random::Random(uint64_t seed_value) {
  seed(seed_value);
}

void Random::seed(uint64_t seed_value) {
  for (uint64_t& word : state_) word = splitMix64(seed_value);
}

uint64_t Random::next() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

std::string Random::uuid4() {
  std::string out(kUuidLength, '0');
  uuid4(out.data());
  return out;
}

void Random::uuid4(char* out) {
  char hex[32];
  const uint64_t high = next();
  const uint64_t low = next();
  writeHex64(high, hex);
  writeHex64(low, hex + 16);
  hex[12] = '4';                                     // version 4
  hex[16] = kLowerHexDigits[8 | ((low >> 60) & 3)];  // variant 10xx (RFC 4122)
  // 8-4-4-4-12
  std::memcpy(out, hex, 8);
  out[8] = '-';
  std::memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  std::memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  std::memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  std::memcpy(out + 24, hex + 20, 12);
}

}  // namespace podproxy
