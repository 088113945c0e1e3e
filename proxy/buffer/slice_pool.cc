#include "proxy/buffer/slice_pool.h"

#include <algorithm>

namespace podproxy::buffer {

SlicePool& SlicePool::local() {
  thread_local SlicePool pool;
  return pool;
}

// Spares follow demand instead of a fixed bound: a worker with 160 HTTP/2 streams in flight
// keeps about 200 slices live, and with a fixed 64 spares every stream paid a 16 KiB malloc and
// free. A slice given back is kept (up to kMaxFree); what a whole period of takes never dipped
// into goes back to the allocator half at a time, so a burst's memory drains under steady load,
// and HibernationPoller releases the rest when connections go quiet.
Slice* SlicePool::take() {
  ++live_;
  if (++takes_in_period_ == kTrimPeriod) endTrimPeriod();
  if (free_.empty()) {
    low_water_ = 0;
    return new Slice;
  }
  Slice* s = free_.back();
  free_.pop_back();
  low_water_ = std::min(low_water_, free_.size());
  return s;
}

void SlicePool::give(Slice* slice) {
  --live_;
  if (free_.size() < kMaxFree) {
    free_.push_back(slice);
  } else {
    delete slice;
  }
}

void SlicePool::endTrimPeriod() {
  takes_in_period_ = 0;
  const size_t unneeded = low_water_ > kBaseFree ? low_water_ - kBaseFree : 0;
  releaseFree(free_.size() - (unneeded + 1) / 2);
  low_water_ = free_.size();
}

void SlicePool::releaseFree(size_t keep) {
  while (free_.size() > keep) {
    delete free_.back();
    free_.pop_back();
  }
  low_water_ = std::min(low_water_, free_.size());
}

SlicePool::~SlicePool() {
  for (Slice* s : free_) delete s;
}

}  // namespace podproxy::buffer
