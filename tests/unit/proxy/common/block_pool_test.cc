#include "proxy/common/block_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace podproxy::common {
namespace {

using Pool = BlockPool<72>;

TEST(BlockPool, SlotsAreAlignedDistinctAndReused) {
  Pool pool;
  EXPECT_EQ(Pool::kSlotBytes % alignof(std::max_align_t), 0u);
  EXPECT_GE(Pool::kSlotBytes, 72u);
  std::set<void*> seen;
  std::vector<void*> live;
  for (int i = 0; i < 100; ++i) {
    void* p = pool.allocate();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u);
    EXPECT_TRUE(seen.insert(p).second);
    live.push_back(p);
  }
  // Consecutive slots sit side by side in one block.
  EXPECT_EQ(static_cast<char*>(live[1]) - static_cast<char*>(live[0]),
            static_cast<ptrdiff_t>(Pool::kSlotBytes));
  EXPECT_EQ(pool.live(), 100u);
  EXPECT_EQ(pool.blocks(), 1u);
  void* freed = live[42];
  pool.deallocate(freed);
  EXPECT_EQ(pool.live(), 99u);
  EXPECT_EQ(pool.allocate(), freed);  // last freed, first reused
  for (void* p : live) pool.deallocate(p);
  EXPECT_EQ(pool.live(), 0u);
}

TEST(BlockPool, GrowsByWholeBlocks) {
  Pool pool;
  const size_t per_block = Pool::kBlockBytes / Pool::kSlotBytes;
  std::vector<void*> live;
  for (size_t i = 0; i < per_block + 1; ++i) live.push_back(pool.allocate());
  EXPECT_EQ(pool.blocks(), 2u);
  // Every slot is writable across its whole size.
  for (void* p : live) std::memset(p, 0xab, 72);
  for (void* p : live) pool.deallocate(p);
  EXPECT_EQ(pool.blocks(), 2u);  // kept for reuse
}

TEST(BlockPool, EachThreadHasItsOwn) {
  Pool* main_pool = &Pool::local();
  Pool* other = nullptr;
  std::thread t([&] { other = &Pool::local(); });
  t.join();
  EXPECT_NE(main_pool, other);
}

}  // namespace
}  // namespace podproxy::common
