#include "proxy/access_log/access_log_ring.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace podproxy::access_log {

AccessLogRing::AccessLogRing(size_t capacity)
    : data_(new char[std::bit_ceil(std::max<size_t>(capacity, 64))]),
      mask_(std::bit_ceil(std::max<size_t>(capacity, 64)) - 1) {}

void AccessLogRing::copyIn(uint64_t at, std::string_view bytes) {
  const size_t start = at & mask_;
  const size_t first = std::min(bytes.size(), capacity() - start);
  std::memcpy(data_.get() + start, bytes.data(), first);
  std::memcpy(data_.get(), bytes.data() + first, bytes.size() - first);
}

bool AccessLogRing::tryPush(std::string_view line) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  if (line.size() > capacity() - (head - tail)) {
    // Only this thread stores, so a load and a store replace a read-modify-write.
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  copyIn(head, line);
  head_.store(head + line.size(), std::memory_order_release);
  pushed_.store(pushed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

size_t AccessLogRing::drainTo(std::string& out, size_t max_bytes) {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  size_t available = static_cast<size_t>(head - tail);
  if (available == 0) return 0;
  // Take whole lines only: find the last newline within max_bytes (or the first one after it,
  // for a line longer than max_bytes).
  const size_t limit = std::min(available, max_bytes);
  auto at = [&](size_t i) { return data_[(tail + i) & mask_]; };
  size_t take = 0;
  for (size_t i = limit; i > 0; --i) {
    if (at(i - 1) == '\n') {
      take = i;
      break;
    }
  }
  if (take == 0) {
    for (size_t i = limit; i < available; ++i) {
      if (at(i) == '\n') {
        take = i + 1;
        break;
      }
    }
    if (take == 0) take = available;  // producers push whole lines; never expected
  }
  const size_t start = tail & mask_;
  const size_t first = std::min(take, capacity() - start);
  out.append(data_.get() + start, first);
  out.append(data_.get(), take - first);
  tail_.store(tail + take, std::memory_order_release);
  return take;
}

}  // namespace podproxy::access_log
