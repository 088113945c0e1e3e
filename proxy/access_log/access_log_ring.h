#pragma once

// A bounded single-producer single-consumer ring of access-log bytes: the worker appends whole
// lines without a lock or a CAS (two atomic loads and one store), the writer thread drains them.
// When the ring is full the line is dropped and counted; nothing waits and nothing grows.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace podproxy::access_log {

class AccessLogRing {
 public:
  // `capacity` is rounded up to a power of two.
  explicit AccessLogRing(size_t capacity);
  AccessLogRing(const AccessLogRing&) = delete;
  AccessLogRing& operator=(const AccessLogRing&) = delete;

  // Producer (one worker). False (and counted as dropped) when the line does not fit.
  bool tryPush(std::string_view line);
  // Consumer (the writer thread): appends up to `max_bytes` of whole lines to `out`; returns how
  // many bytes it took (a line longer than max_bytes is taken alone).
  size_t drainTo(std::string& out, size_t max_bytes);

  size_t capacity() const { return mask_ + 1; }
  // Any thread. Bytes pushed so far (a position that only grows): once the consumer has taken
  // and written this many, every line pushed before the call is out.
  uint64_t pushedBytes() const { return head_.load(std::memory_order_acquire); }
  uint64_t pushed() const { return pushed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void copyIn(uint64_t at, std::string_view bytes);

  std::unique_ptr<char[]> data_;
  size_t mask_;
  // Positions grow without wrapping (64 bits never overflow in practice); index = pos & mask_.
  alignas(64) std::atomic<uint64_t> head_{0};    // written by the producer
  alignas(64) std::atomic<uint64_t> tail_{0};    // written by the consumer
  alignas(64) std::atomic<uint64_t> pushed_{0};  // only the producer stores
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace podproxy::access_log
