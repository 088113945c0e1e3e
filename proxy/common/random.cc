#include "proxy/common/random.h"

#include <random>

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

constexpr char kHex[] = "0123456789abcdef";

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
  uint8_t bytes[16];
  const uint64_t high = next();
  const uint64_t low = next();
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // variant 10xx (RFC 4122)

  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *out++ = '-';
    *out++ = kHex[bytes[i] >> 4];
    *out++ = kHex[bytes[i] & 0x0f];
  }
}

}  // namespace podproxy
