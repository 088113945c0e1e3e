#include "proxy/buffer/slice_pool.h"

namespace podproxy::buffer {

SlicePool& SlicePool::local() {
  thread_local SlicePool pool;
  return pool;
}

Slice* SlicePool::take() {
  ++live_;
  if (!free_.empty()) {
    Slice* s = free_.back();
    free_.pop_back();
    return s;
  }
  return new Slice;
}

void SlicePool::give(Slice* slice) {
  --live_;
  if (free_.size() < max_free_) {
    free_.push_back(slice);
  } else {
    delete slice;
  }
}

void SlicePool::releaseFree(size_t keep) {
  while (free_.size() > keep) {
    delete free_.back();
    free_.pop_back();
  }
}

SlicePool::~SlicePool() {
  for (Slice* s : free_) delete s;
}

}  // namespace podproxy::buffer
