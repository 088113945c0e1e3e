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

TEST(SlicePool, KeepsAsManySparesAsTheWorkloadCyclesThrough) {
  // 200 slices in use at each peak (about what 160 HTTP/2 streams hold) and all given back in
  // between: every peak after the first is served from spares, however many periods pass.
  std::thread t([] {
    SlicePool& pool = SlicePool::local();
    std::vector<Slice*> taken;
    for (int cycle = 0; cycle < 3 * SlicePool::kTrimPeriod / 200 + 2; ++cycle) {
      for (int i = 0; i < 200; ++i) taken.push_back(pool.take());
      for (Slice* s : taken) pool.give(s);
      taken.clear();
      ASSERT_EQ(pool.freeCount(), 200u) << "cycle " << cycle;
    }
  });
  t.join();
}

TEST(SlicePool, SparesAPeriodNeverUsedDrainBackToTheBase) {
  std::thread t([] {
    SlicePool& pool = SlicePool::local();
    std::vector<Slice*> taken;
    for (int i = 0; i < 600; ++i) taken.push_back(pool.take());
    for (Slice* s : taken) pool.give(s);
    EXPECT_EQ(pool.freeCount(), 600u);  // a burst's slices stay for the next one...
    // ...but a steady load of one slice at a time never dips below 599 of them: each period
    // hands back half of what it did not touch above the base.
    size_t previous = pool.freeCount();
    for (int period = 0; period < 12; ++period) {
      for (uint32_t i = 0; i < SlicePool::kTrimPeriod; ++i) pool.give(pool.take());
      EXPECT_LE(pool.freeCount(), previous);
      previous = pool.freeCount();
    }
    EXPECT_LE(pool.freeCount(), SlicePool::kBaseFree + 2);
    EXPECT_GE(pool.freeCount(), SlicePool::kBaseFree);
    EXPECT_EQ(pool.liveCount(), 0u);
  });
  t.join();
}

TEST(SlicePool, NeverKeepsMoreThanTheCap) {
  std::thread t([] {
    SlicePool& pool = SlicePool::local();
    std::vector<Slice*> taken;
    for (size_t i = 0; i < SlicePool::kMaxFree + 50; ++i) taken.push_back(pool.take());
    for (Slice* s : taken) pool.give(s);
    EXPECT_EQ(pool.freeCount(), SlicePool::kMaxFree);
    EXPECT_EQ(pool.liveCount(), 0u);
  });
  t.join();
}

}  // namespace
}  // namespace podproxy::buffer
