#include "proxy/buffer/slice_pool.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace podproxy::buffer {
namespace {

TEST(SlicePool, ReleaseFreeKeepsOnlyTheAskedSpares) {
  // A fresh thread: a pool of its own, untouched by other tests.
  std::thread t([] {
    SlicePool& pool = SlicePool::local();
    std::vector<Slice*> taken;
    for (int i = 0; i < 20; ++i) taken.push_back(pool.take());
    Slice* still_live = taken.back();
    taken.pop_back();
    for (Slice* s : taken) pool.give(s);
    EXPECT_EQ(pool.freeCount(), 19u);
    EXPECT_EQ(pool.liveCount(), 1u);
    pool.releaseFree(4);
    EXPECT_EQ(pool.freeCount(), 4u);
    EXPECT_EQ(pool.liveCount(), 1u);  // slices in use are not touched
    pool.releaseFree(10);             // fewer spares than that: nothing to do
    EXPECT_EQ(pool.freeCount(), 4u);
    pool.give(still_live);
    pool.releaseFree(0);
    EXPECT_EQ(pool.freeCount(), 0u);
    // Still works afterwards.
    Slice* s = pool.take();
    s->data[0] = 1;
    pool.give(s);
    EXPECT_EQ(pool.freeCount(), 1u);
  });
  t.join();
}

}  // namespace
}  // namespace podproxy::buffer
