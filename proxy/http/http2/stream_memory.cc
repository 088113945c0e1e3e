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

// Classes 64 B .. 4 KiB. Each block starts with a header holding its usable size, padded to
// 16 bytes so what nghttp2 gets keeps malloc's alignment. A cached block's usable size is its
// class's power of two, so the size alone names the class; a larger block records exactly what
// was asked (realloc copies that much).
constexpr size_t kHeaderBytes = 16;
constexpr unsigned kMinClassShift = 6;
constexpr unsigned kMaxClassShift = 12;
constexpr size_t kMaxClassBytes = size_t{1} << kMaxClassShift;
constexpr size_t kClassCount = kMaxClassShift - kMinClassShift + 1;
// Per class: enough for the blocks of ~100 streams in flight; a burst leaves no more behind.
constexpr size_t kMaxFreePerClass = 256;

struct Header {
  size_t usable;  // bytes after the header
};
static_assert(sizeof(Header) <= kHeaderBytes);

Header& headerOf(void* p) {
  return *reinterpret_cast<Header*>(static_cast<char*>(p) - kHeaderBytes);
}

// The class index of a block of `usable` bytes (at most kMaxClassBytes).
size_t classOf(size_t usable) {
  return std::max<unsigned>(kMinClassShift, std::bit_width(std::max<size_t>(usable, 1) - 1)) -
         kMinClassShift;
}

class FreeLists {
 public:
  ~FreeLists() {
    for (FreeBlock*& head : heads_) {
      while (head != nullptr) std::free(std::exchange(head, head->next));
    }
  }

  void* allocate(size_t size) {
    if (size > kMaxClassBytes) return fromMalloc(size);
    const size_t size_class = classOf(size);
    if (FreeBlock* block = heads_[size_class]) {
      heads_[size_class] = block->next;
      --counts_[size_class];
      return reinterpret_cast<char*>(block) + kHeaderBytes;
    }
    return fromMalloc(size_t{1} << (size_class + kMinClassShift));
  }

  void release(void* p) {
    if (p == nullptr) return;
    const size_t usable = headerOf(p).usable;
    char* start = static_cast<char*>(p) - kHeaderBytes;
    const size_t size_class = usable <= kMaxClassBytes ? classOf(usable) : kClassCount;
    if (size_class == kClassCount || counts_[size_class] == kMaxFreePerClass) {
      std::free(start);
      return;
    }
    // The link goes after the header, which stays valid while the block is listed.
    auto* block = reinterpret_cast<FreeBlock*>(start);
    block->next = heads_[size_class];
    heads_[size_class] = block;
    ++counts_[size_class];
  }

 private:
  struct FreeBlock {
    Header header;  // still valid while listed
    FreeBlock* next;
  };
  static_assert(sizeof(FreeBlock) <= kHeaderBytes);

  static void* fromMalloc(size_t usable) {
    if (usable > SIZE_MAX - kHeaderBytes) return nullptr;
    void* start = std::malloc(kHeaderBytes + usable);
    if (start == nullptr) return nullptr;
    static_cast<Header*>(start)->usable = usable;
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
  const size_t have = headerOf(p).usable;
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
