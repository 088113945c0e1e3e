#pragma once

// Per-thread caches of same-size memory blocks for objects made and freed once per request
// (streams, header maps). glibc's per-thread cache holds only 7 chunks per size, so with a
// hundred HTTP/2 streams in flight most allocations took malloc's slow path; a worker reuses
// its own blocks instead, without a lock. Bounded: a burst leaves at most kMaxBlocks behind.

#include <cstddef>
#include <new>
#include <utility>

namespace podproxy {

template <size_t kBlockBytes, size_t kMaxBlocks>
class BlockCache {
 public:
  static_assert(kBlockBytes >= sizeof(void*));

  ~BlockCache() {
    while (head_ != nullptr) ::operator delete(std::exchange(head_, head_->next), kBlockBytes);
  }

  void* take() {
    if (head_ == nullptr) return ::operator new(kBlockBytes);
    --count_;
    return std::exchange(head_, head_->next);
  }

  void give(void* block) {
    if (count_ == kMaxBlocks) {
      ::operator delete(block, kBlockBytes);
      return;
    }
    head_ = new (block) FreeBlock{head_};
    ++count_;
  }

  // The calling thread's cache.
  static BlockCache& local() {
    thread_local BlockCache cache;
    return cache;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  FreeBlock* head_ = nullptr;
  size_t count_ = 0;
};

// Gives `T` (final, so that every block is sizeof(T)) class-level operator new and delete from
// its thread's cache.
template <typename T, size_t kMaxBlocks>
struct ThreadCached {
  static void* operator new(size_t size) {
    if (size != sizeof(T)) return ::operator new(size);
    return BlockCache<sizeof(T), kMaxBlocks>::local().take();
  }
  static void operator delete(void* p, size_t size) {
    if (size != sizeof(T)) return ::operator delete(p, size);
    BlockCache<sizeof(T), kMaxBlocks>::local().give(p);
  }
};

}  // namespace podproxy
