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

}  // namespace
}  // namespace podproxy::buffer
