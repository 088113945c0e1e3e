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
  // Spares kept however quiet the pool has been: enough for a few connections' bursts.
  static constexpr size_t kBaseFree = 64;
  // Spares never exceed this (16 MiB), whatever the peak.
  static constexpr size_t kMaxFree = 1024;
  // Takes per trimming period (see take()).
  static constexpr uint32_t kTrimPeriod = 4096;

  // The calling thread's pool.
  static SlicePool& local();

  Slice* take();
  void give(Slice* slice);

  size_t freeCount() const { return free_.size(); }
  size_t liveCount() const { return live_; }
  // Frees spare slices beyond `keep` (when the worker has gone quiet: see HibernationPoller).
  void releaseFree(size_t keep);

  ~SlicePool();

 private:
  void endTrimPeriod();

  std::vector<Slice*> free_;
  size_t live_ = 0;
  // The fewest spares seen since the period began: that many were never needed in it.
  size_t low_water_ = 0;
  uint32_t takes_in_period_ = 0;
};

}  // namespace podproxy::buffer
