#pragma once

// Per-thread pool of fixed-size memory slices. Every worker owns one (thread_local), so taking
// and returning a slice is a pointer pop/push with no lock and no malloc once warm.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace podproxy::buffer {

inline constexpr size_t kSliceSize = 16 * 1024;

struct Slice {
  uint8_t data[kSliceSize];
};

class SlicePool {
 public:
  // The calling thread's pool.
  static SlicePool& local();

  Slice* take();
  void give(Slice* slice);

  size_t freeCount() const { return free_.size(); }
  size_t liveCount() const { return live_; }
  // Slices kept for reuse beyond this are returned to the allocator, so a burst does not pin
  // memory forever (idle RSS matters for a sidecar in every Pod).
  void setMaxFree(size_t n) { max_free_ = n; }
  // Frees spare slices beyond `keep` (when the worker has gone quiet: see HibernationPoller).
  void releaseFree(size_t keep);

  ~SlicePool();

 private:
  std::vector<Slice*> free_;
  size_t max_free_ = 64;
  size_t live_ = 0;
};

}  // namespace podproxy::buffer
