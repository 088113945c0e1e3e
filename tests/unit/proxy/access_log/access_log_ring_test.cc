#include "proxy/access_log/access_log_ring.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "proxy/access_log/access_log_writer.h"

namespace podproxy::access_log {
namespace {

TEST(AccessLogRing, DrainsWholeLinesInOrder) {
  AccessLogRing ring(256);
  EXPECT_TRUE(ring.tryPush("one\n"));
  EXPECT_TRUE(ring.tryPush("two\n"));
  std::string out;
  EXPECT_EQ(ring.drainTo(out, 1024), 8u);
  EXPECT_EQ(out, "one\ntwo\n");
  EXPECT_EQ(ring.drainTo(out, 1024), 0u);
  EXPECT_EQ(ring.pushed(), 2u);
  EXPECT_EQ(ring.dropped(), 0u);
}

TEST(AccessLogRing, DropsAndCountsWhenFullInsteadOfGrowing) {
  AccessLogRing ring(64);
  ASSERT_EQ(ring.capacity(), 64u);
  const std::string line(30, 'x');
  EXPECT_TRUE(ring.tryPush(line));
  EXPECT_TRUE(ring.tryPush(line));
  EXPECT_FALSE(ring.tryPush(line));  // 60 of 64 bytes used
  EXPECT_FALSE(ring.tryPush(line));
  EXPECT_EQ(ring.dropped(), 2u);
  EXPECT_EQ(ring.pushed(), 2u);
  std::string out;
  ring.drainTo(out, 1024);
  EXPECT_TRUE(ring.tryPush(line));  // room again once drained
}

TEST(AccessLogRing, WrapsAroundTheEnd) {
  AccessLogRing ring(64);
  std::string out;
  for (int i = 0; i < 20; ++i) {
    const std::string line = "line-" + std::to_string(i) + "-abcdefghij\n";
    ASSERT_TRUE(ring.tryPush(line));
    out.clear();
    ASSERT_EQ(ring.drainTo(out, 1024), line.size());
    EXPECT_EQ(out, line);
  }
}

TEST(AccessLogRing, DrainStopsAtTheLastLineThatFitsTheChunk) {
  AccessLogRing ring(1024);
  ring.tryPush("aaaa\n");
  ring.tryPush("bbbb\n");
  ring.tryPush("cccc\n");
  std::string out;
  EXPECT_EQ(ring.drainTo(out, 12), 10u);  // two whole lines, never half of the third
  EXPECT_EQ(out, "aaaa\nbbbb\n");
  out.clear();
  ring.tryPush(std::string(40, 'z') + "\n");
  EXPECT_EQ(ring.drainTo(out, 12), 5u);
  out.clear();
  EXPECT_EQ(ring.drainTo(out, 12), 41u);  // a line longer than the chunk goes alone
}

TEST(AccessLogRing, ProducerAndConsumerThreadsLoseNothingThatWasAccepted) {
  AccessLogRing ring(4096);
  constexpr int kLines = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kLines; ++i) ring.tryPush("l" + std::to_string(i) + "\n");
  });
  std::string all;
  while (true) {
    std::string chunk;
    const size_t n = ring.drainTo(chunk, 512);
    all += chunk;
    if (n == 0 && ring.pushed() + ring.dropped() == kLines) {
      if (ring.drainTo(all, 1 << 20) == 0) break;
    }
  }
  producer.join();
  size_t lines = 0;
  for (char c : all) lines += c == '\n';
  EXPECT_EQ(lines, ring.pushed());
  EXPECT_EQ(ring.pushed() + ring.dropped(), static_cast<uint64_t>(kLines));
}

TEST(AccessLogWriter, WritesEveryRingToTheFileDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    AccessLogWriter writer(fds[1]);
    AccessLogRing& a = writer.addRing(1024);
    AccessLogRing& b = writer.addRing(1024);
    writer.start();
    a.tryPush("{\"a\":1}\n");
    b.tryPush("{\"b\":2}\n");
    writer.stop();  // writes what is left before returning
    EXPECT_EQ(writer.pushed(), 2u);
    EXPECT_EQ(writer.dropped(), 0u);
  }
  close(fds[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) got.append(buf, n);
  close(fds[0]);
  EXPECT_EQ(got.size(), 16u);
  EXPECT_NE(got.find("{\"a\":1}\n"), std::string::npos);
  EXPECT_NE(got.find("{\"b\":2}\n"), std::string::npos);
}

TEST(AccessLogWriter, FlushUntilReturnsOnceEveryRingsLinesAreWritten) {
  // What an exit that cannot join the thread relies on: after flushUntil the lines are out,
  // not waiting for the writer's next idle poll.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  AccessLogWriter writer(fds[1]);
  AccessLogRing& a = writer.addRing(1024);
  AccessLogRing& b = writer.addRing(1024);
  writer.start();
  ASSERT_TRUE(a.tryPush("{\"a\":1}\n"));
  ASSERT_TRUE(b.tryPush("{\"b\":2}\n"));
  EXPECT_TRUE(writer.flushUntil(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  char buf[64];
  const ssize_t n = read(fds[0], buf, sizeof(buf));  // must already be there
  ASSERT_EQ(n, 16);
  EXPECT_EQ(std::string(buf, 16), "{\"a\":1}\n{\"b\":2}\n");
  writer.stop();
  close(fds[0]);
  close(fds[1]);
}

TEST(AccessLogWriter, FlushUntilWithoutTheThreadTellsWhetherEverythingIsOut) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    AccessLogWriter writer(fds[1]);
    AccessLogRing& ring = writer.addRing(1024);
    const auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    EXPECT_TRUE(writer.flushUntil(soon));  // nothing was pushed
    ASSERT_TRUE(ring.tryPush("late\n"));
    EXPECT_FALSE(writer.flushUntil(soon));  // and nothing will write it
    writer.start();
    writer.stop();  // writes what the ring holds
    EXPECT_TRUE(writer.flushUntil(soon));
  }
  close(fds[1]);
  char buf[16];
  EXPECT_EQ(read(fds[0], buf, sizeof(buf)), 5);
  close(fds[0]);
}

TEST(AccessLogWriter, FlushUntilGivesUpOnAStdoutThatStoppedReading) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Fill the pipe so the writer thread blocks in write(2) with the line in hand.
  ASSERT_EQ(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
  const std::string filler(4096, 'x');
  while (write(fds[1], filler.data(), filler.size()) > 0) {
  }
  ASSERT_EQ(fcntl(fds[1], F_SETFL, 0), 0);
  AccessLogWriter writer(fds[1]);
  AccessLogRing& ring = writer.addRing(1024);
  writer.start();
  ASSERT_TRUE(ring.tryPush("stuck\n"));
  EXPECT_FALSE(writer.flushUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  // Unblock the writer so stop() can join it, and find the line behind the filler.
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  });
  writer.stop();
  close(fds[1]);
  reader.join();
  close(fds[0]);
  EXPECT_EQ(got.substr(got.size() - 6), "stuck\n");
}

}  // namespace
}  // namespace podproxy::access_log
