#pragma once

// Fixed-size objects carved from mmap'd blocks, off the malloc heap, one pool per thread. For
// small records that outlive the larger allocations made around them (a listener's entry for
// each connection): on the heap they would pin every page those larger allocations free, so
// freed memory could never go back to the system.

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <vector>

namespace podproxy::common {

template <size_t kObjectSize>
class BlockPool {
 public:
  static constexpr size_t kBlockBytes = 64 * 1024;
  static constexpr size_t kSlotBytes = (kObjectSize + alignof(std::max_align_t) - 1) /
                                       alignof(std::max_align_t) * alignof(std::max_align_t);
  static_assert(kSlotBytes <= kBlockBytes);

  // The calling thread's pool. An object must be freed on the thread that allocated it.
  static BlockPool& local() {
    thread_local BlockPool pool;
    return pool;
  }

  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool() {
    // Objects still alive at thread exit keep their blocks (leaked rather than dangling).
    if (live_ != 0) return;
    for (void* block : blocks_) munmap(block, kBlockBytes);
  }

  void* allocate() {
    if (free_ == nullptr && !grow()) throw std::bad_alloc();
    FreeSlot* slot = free_;
    free_ = slot->next;
    ++live_;
    return slot;
  }

  void deallocate(void* p) {
    auto* slot = static_cast<FreeSlot*>(p);
    slot->next = free_;
    free_ = slot;
    --live_;
  }

  size_t live() const { return live_; }
  size_t blocks() const { return blocks_.size(); }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };

  bool grow() {
    void* block =
        mmap(nullptr, kBlockBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) return false;
    blocks_.push_back(block);
    auto* bytes = static_cast<char*>(block);
    // Threaded in address order, so consecutive allocations fill a block front to back.
    for (size_t off = (kBlockBytes / kSlotBytes - 1) * kSlotBytes;; off -= kSlotBytes) {
      auto* slot = reinterpret_cast<FreeSlot*>(bytes + off);
      slot->next = free_;
      free_ = slot;
      if (off == 0) break;
    }
    return true;
  }

  FreeSlot* free_ = nullptr;
  size_t live_ = 0;
  std::vector<void*> blocks_;
};

}  // namespace podproxy::common
