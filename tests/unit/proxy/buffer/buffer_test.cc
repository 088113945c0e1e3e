#include "proxy/buffer/buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace podproxy::buffer {
namespace {

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(Buffer, AddAndDrainAcrossSlices) {
  Buffer b;
  const std::string data = pattern(kSliceSize * 2 + 100);
  b.add(data);
  EXPECT_EQ(b.length(), data.size());
  EXPECT_EQ(b.sliceCount(), 3u);
  b.drain(kSliceSize + 50);
  EXPECT_EQ(b.toString(), data.substr(kSliceSize + 50));
  b.drain(b.length());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.sliceCount(), 0u);
}

TEST(Buffer, MoveAllHandsOverSlicesWithoutLosingOrder) {
  Buffer a;
  Buffer b;
  a.add("head-");
  b.add(pattern(kSliceSize + 10));
  const std::string expected = "head-" + pattern(kSliceSize + 10);
  a.move(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(a.toString(), expected);
  a.add("-tail");
  EXPECT_EQ(a.toString(), expected + "-tail");
}

TEST(Buffer, MovePartialSplitsAtTheBoundary) {
  Buffer src;
  const std::string data = pattern(kSliceSize * 2);
  src.add(data);
  Buffer dst;
  dst.move(src, kSliceSize + 7);
  EXPECT_EQ(dst.toString(), data.substr(0, kSliceSize + 7));
  EXPECT_EQ(src.toString(), data.substr(kSliceSize + 7));
  EXPECT_EQ(dst.length() + src.length(), data.size());
}

TEST(Buffer, ReserveAndCommitAppendInPlace) {
  Buffer b;
  b.add("abc");
  auto space = b.reserve(16);
  ASSERT_GE(space.size(), 16u);
  std::memcpy(space.data(), "defg", 4);
  b.commit(4);
  EXPECT_EQ(b.toString(), "abcdefg");
}

TEST(Buffer, CommitOfNothingKeepsNoEmptySlice) {
  Buffer b;
  b.reserve(4096);
  b.commit(0);
  EXPECT_EQ(b.sliceCount(), 0u);
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, PeekIovecsCoversAllBytesInOrder) {
  Buffer b;
  const std::string data = pattern(kSliceSize * 3 + 1);
  b.add(data);
  iovec iov[8];
  const size_t n = b.peekIovecs(iov, 8);
  ASSERT_EQ(n, 4u);
  std::string joined;
  for (size_t i = 0; i < n; ++i) joined.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(joined, data);
  EXPECT_EQ(b.peekIovecs(iov, 2), 2u);
}

TEST(Buffer, CopyOutReadsAcrossSliceBoundaries) {
  Buffer b;
  b.add(pattern(kSliceSize - 2));
  b.add("\r\n\r\nrest");
  char out[4];
  EXPECT_EQ(b.copyOut(kSliceSize + 2, 4, out), 4u);
  EXPECT_EQ(std::string(out, 4), "rest");
}

TEST(Buffer, SlicesReturnToThePool) {
  SlicePool& pool = SlicePool::local();
  const size_t live_before = pool.liveCount();
  {
    Buffer b;
    b.add(pattern(kSliceSize * 4));
    EXPECT_EQ(pool.liveCount(), live_before + 4);
  }
  EXPECT_EQ(pool.liveCount(), live_before);
}

TEST(Buffer, MoveAssignmentReleasesOldContent) {
  SlicePool& pool = SlicePool::local();
  const size_t live_before = pool.liveCount();
  Buffer a;
  a.add(pattern(100));
  Buffer b;
  b.add(pattern(kSliceSize + 1));
  a = std::move(b);
  EXPECT_EQ(a.length(), kSliceSize + 1);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.liveCount(), live_before + 2);
}

TEST(Buffer, ManySlicesDrainedFromTheFrontKeepTheirOrder) {
  // More slices than the smallest part array holds, drained and refilled from both ends, so
  // the array grows, slides its live parts down and is given back when empty.
  Buffer b;
  std::string expected;
  for (int round = 0; round < 5; ++round) {
    const std::string chunk = pattern(kSliceSize * 3 + 17 * round + 1);
    b.add(chunk);
    expected += chunk;
    const size_t drop = kSliceSize * 2 + 5;
    b.drain(drop);
    expected.erase(0, drop);
    EXPECT_EQ(b.toString(), expected);
  }
  b.drain(b.length());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.sliceCount(), 0u);
  b.add("again");
  EXPECT_EQ(b.toString(), "again");
}

TEST(Buffer, MoveIntoAnEmptyBufferTakesEverySliceAndDropsReservedSpace) {
  SlicePool& pool = SlicePool::local();
  const size_t live_before = pool.liveCount();
  Buffer from;
  from.add(pattern(kSliceSize + 10));
  (void)from.reserve(kSliceSize);  // a reserved, never-committed slice at the tail
  EXPECT_EQ(from.sliceCount(), 3u);
  Buffer to;
  to.move(from);
  EXPECT_TRUE(from.empty());
  EXPECT_EQ(from.sliceCount(), 0u);
  EXPECT_EQ(to.length(), kSliceSize + 10);
  EXPECT_EQ(to.sliceCount(), 2u);
  EXPECT_EQ(to.toString(), pattern(kSliceSize + 10));
  EXPECT_EQ(pool.liveCount(), live_before + 2);
  to.clear();
  EXPECT_EQ(pool.liveCount(), live_before);
}

}  // namespace
}  // namespace podproxy::buffer
