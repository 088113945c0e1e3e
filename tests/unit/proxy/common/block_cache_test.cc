#include "proxy/common/block_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace podproxy {
namespace {

struct Cached final : ThreadCached<Cached, 2> {
  char payload[100] = {};
};

TEST(BlockCache, ReusesFreedBlocksUpToItsBound) {
  BlockCache<64, 2> cache;
  void* a = cache.take();
  void* b = cache.take();
  void* c = cache.take();
  cache.give(a);
  cache.give(b);
  cache.give(c);  // past the bound: back to the heap
  void* first = cache.take();
  void* second = cache.take();
  EXPECT_EQ(first, b);  // last in, first out
  EXPECT_EQ(second, a);
  cache.give(first);
  cache.give(second);
}

TEST(BlockCache, ClassesRecycleTheirObjectsPerThread) {
  auto one = std::make_unique<Cached>();
  Cached* where = one.get();
  one.reset();
  auto two = std::make_unique<Cached>();
  EXPECT_EQ(two.get(), where);  // the same block, from this thread's cache

  // Another thread has its own cache: a block this thread holds free is not handed out there.
  two.reset();
  Cached* elsewhere = nullptr;
  std::thread([&] {
    auto other = std::make_unique<Cached>();
    elsewhere = other.get();
  }).join();
  EXPECT_NE(elsewhere, where);
  auto three = std::make_unique<Cached>();
  EXPECT_EQ(three.get(), where);
}

}  // namespace
}  // namespace podproxy
