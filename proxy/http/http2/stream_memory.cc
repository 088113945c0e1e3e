#include "proxy/http/http2/stream_memory.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace podproxy::http::http2 {

namespace {

// Classes 64 B .. 4 KiB. Each block starts with a header naming its class, padded to 16 bytes
// so what nghttp2 gets keeps malloc's alignment.
constexpr size_t kHeaderBytes = 16;
constexpr unsigned kMinClassShift = 6;
constexpr unsigned kMaxClassShift = 12;
constexpr size_t kClassCount = kMaxClassShift - kMinClassShift + 1;
constexpr uint32_t kUncached = 0xff;
// Per class: enough for the blocks of ~100 streams in flight; a burst leaves no more behind.
constexpr size_t kMaxFreePerClass = 256;

struct Header {
  uint32_t size_class;
  uint32_t usable;  // bytes after the header (for realloc)
};
static_assert(sizeof(Header) <= kHeaderBytes);

class FreeLists {
 public:
  ~FreeLists() {
    for (FreeBlock*& head : heads_) {
      while (head != nullptr) std::free(std::exchange(head, head->next));
    }
  }

  void* allocate(size_t size) {
    if (size > (size_t{1} << kMaxClassShift)) return fromMalloc(size, kUncached, size);
    const unsigned shift =
        std::max<unsigned>(kMinClassShift, std::bit_width(std::max<size_t>(size, 1) - 1));
    const uint32_t size_class = shift - kMinClassShift;
    if (FreeBlock* block = heads_[size_class]) {
      heads_[size_class] = block->next;
      --counts_[size_class];
      return reinterpret_cast<char*>(block) + kHeaderBytes;
    }
    return fromMalloc(size_t{1} << shift, size_class, size_t{1} << shift);
  }

  void release(void* p) {
    if (p == nullptr) return;
    char* start = static_cast<char*>(p) - kHeaderBytes;
    const uint32_t size_class = reinterpret_cast<Header*>(start)->size_class;
    if (size_class == kUncached || counts_[size_class] == kMaxFreePerClass) {
      std::free(start);
      return;
    }
    // The link goes after the header's fields, which stay valid while the block is listed.
    auto* block = reinterpret_cast<FreeBlock*>(start);
    block->next = heads_[size_class];
    heads_[size_class] = block;
    ++counts_[size_class];
  }

  static size_t usable(void* p) {
    return reinterpret_cast<Header*>(static_cast<char*>(p) - kHeaderBytes)->usable;
  }

 private:
  struct FreeBlock {
    uint32_t size_class;  // same place as Header::size_class: still valid while listed
    uint32_t usable;
    FreeBlock* next;
  };
  static_assert(sizeof(FreeBlock) <= kHeaderBytes);

  static void* fromMalloc(size_t usable, uint32_t size_class, size_t bytes) {
    void* start = std::malloc(kHeaderBytes + bytes);
    if (start == nullptr) return nullptr;
    auto* header = static_cast<Header*>(start);
    header->size_class = size_class;
    header->usable = static_cast<uint32_t>(usable);
    return static_cast<char*>(start) + kHeaderBytes;
  }

  std::array<FreeBlock*, kClassCount> heads_{};
  std::array<size_t, kClassCount> counts_{};
};

FreeLists& localLists() {
  thread_local FreeLists lists;
  return lists;
}

void* allocate(size_t size, void*) {
  return localLists().allocate(size);
}

void release(void* p, void*) {
  localLists().release(p);
}

void* allocateZeroed(size_t count, size_t size, void*) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* p = localLists().allocate(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void* reallocate(void* p, size_t size, void*) {
  if (p == nullptr) return localLists().allocate(size);
  if (size == 0) {
    localLists().release(p);
    return nullptr;
  }
  const size_t have = FreeLists::usable(p);
  if (size <= have) return p;
  void* grown = localLists().allocate(size);
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, p, have);
  localLists().release(p);
  return grown;
}

}  // namespace

nghttp2_mem* threadCachedAllocator() {
  static nghttp2_mem mem{nullptr, &allocate, &release, &allocateZeroed, &reallocate};
  return &mem;
}

}  // namespace podproxy::http::http2
