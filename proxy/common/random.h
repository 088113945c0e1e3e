#pragma once

// A fast per-worker pseudo-random generator (xoshiro256**) for load balancing, weighted routing
// and request ids. Not cryptographic; not thread-safe: each worker owns one.

#include <cstdint>
#include <string>

namespace podproxy {

class Random {
 public:
  // Seeded from std::random_device so workers and processes do not share a sequence.
  Random();
  // Deterministic sequence, for tests and benchmarks.
  explicit Random(uint64_t seed);

  Random(const Random&) = delete;
  Random& operator=(const Random&) = delete;

  uint64_t next();
  // RFC 4122 version 4 UUID, lower-case: "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx".
  std::string uuid4();
  static constexpr size_t kUuidLength = 36;
  // The same, written to out[0..36) (no allocation).
  void uuid4(char* out);

 private:
  void seed(uint64_t seed);

  uint64_t state_[4];
};

}  // namespace podproxy
