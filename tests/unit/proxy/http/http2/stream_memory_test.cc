#include "proxy/http/http2/stream_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace podproxy::http::http2 {
namespace {

TEST(StreamMemory, BlocksOfEverySizeAreAlignedWritableAndReused) {
  nghttp2_mem* mem = threadCachedAllocator();
  std::vector<void*> blocks;
  for (size_t size : {0, 1, 63, 64, 65, 200, 1000, 4095, 4096, 4097, 100000}) {
    void* p = mem->malloc(size, mem->mem_user_data);
    ASSERT_NE(p, nullptr) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << size;
    std::memset(p, 0xab, size);
    blocks.push_back(p);
  }
  for (void* p : blocks) mem->free(p, mem->mem_user_data);
  // A freed block of a class comes back for the next request of that class.
  void* again = mem->malloc(200, mem->mem_user_data);
  EXPECT_EQ(again, blocks[5]);
  mem->free(again, mem->mem_user_data);
  mem->free(nullptr, mem->mem_user_data);
}

TEST(StreamMemory, CallocZeroesAndReallocKeepsTheBytes) {
  nghttp2_mem* mem = threadCachedAllocator();
  auto* dirty = static_cast<unsigned char*>(mem->malloc(300, mem->mem_user_data));
  std::memset(dirty, 0xff, 300);
  mem->free(dirty, mem->mem_user_data);
  auto* zeroed = static_cast<unsigned char*>(mem->calloc(3, 100, mem->mem_user_data));
  ASSERT_NE(zeroed, nullptr);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(zeroed[i], 0) << i;
  EXPECT_EQ(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data), nullptr);

  for (int i = 0; i < 300; ++i) zeroed[i] = static_cast<unsigned char>(i);
  auto* grown = static_cast<unsigned char*>(mem->realloc(zeroed, 9000, mem->mem_user_data));
  ASSERT_NE(grown, nullptr);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(grown[i], static_cast<unsigned char>(i)) << i;
  auto* shrunk = static_cast<unsigned char*>(mem->realloc(grown, 10, mem->mem_user_data));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(shrunk[i], static_cast<unsigned char>(i)) << i;
  EXPECT_EQ(mem->realloc(shrunk, 0, mem->mem_user_data), nullptr);  // frees
  void* fresh = mem->realloc(nullptr, 50, mem->mem_user_data);
  ASSERT_NE(fresh, nullptr);
  mem->free(fresh, mem->mem_user_data);
}

TEST(StreamMemory, ReallocOfALargeBlockKeepsEveryByteItHad) {
  nghttp2_mem* mem = threadCachedAllocator();
  // Past the largest class the block records the size asked for: growing it copies all of it.
  auto* large = static_cast<unsigned char*>(mem->malloc(9000, mem->mem_user_data));
  ASSERT_NE(large, nullptr);
  for (int i = 0; i < 9000; ++i) large[i] = static_cast<unsigned char>(i * 7);
  EXPECT_EQ(mem->realloc(large, 8000, mem->mem_user_data), large);  // fits: kept in place
  auto* grown = static_cast<unsigned char*>(mem->realloc(large, 50000, mem->mem_user_data));
  ASSERT_NE(grown, nullptr);
  for (int i = 0; i < 9000; ++i) ASSERT_EQ(grown[i], static_cast<unsigned char>(i * 7)) << i;
  mem->free(grown, mem->mem_user_data);
  // A size the header would overflow is refused, not served with a small block.
  EXPECT_EQ(mem->malloc(SIZE_MAX - 8, mem->mem_user_data), nullptr);
}

TEST(StreamMemory, AClassKeepsAtMost256FreeBlocks) {
  // A fresh thread: its lists start empty.
  std::thread([] {
    nghttp2_mem* mem = threadCachedAllocator();
    std::vector<void*> blocks;
    for (int i = 0; i < 257; ++i) blocks.push_back(mem->malloc(1000, mem->mem_user_data));
    for (void* p : blocks) mem->free(p, mem->mem_user_data);  // the last one is past the bound
    void* first = mem->malloc(1000, mem->mem_user_data);
    EXPECT_EQ(first, blocks[255]);  // last listed, first out; blocks[256] went to malloc
    mem->free(first, mem->mem_user_data);
  }).join();
}

}  // namespace
}  // namespace podproxy::http::http2
