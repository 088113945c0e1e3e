#include "proxy/common/log_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "proxy/common/logger.h"

namespace podproxy {
namespace {

std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 1000; ++i) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class LogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe(fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  std::string output() {
    ::close(fds_[1]);
    fds_[1] = -1;
    return readAll(fds_[0]);
  }
  int fds_[2];
};

TEST_F(LogSinkTest, WritesLinesInOrder) {
  LogSink sink(fds_[1], 1024);
  sink.start();
  EXPECT_TRUE(sink.push("one\n"));
  EXPECT_TRUE(sink.push("two\n"));
  sink.stop();
  EXPECT_EQ(output(), "one\ntwo\n");
  EXPECT_EQ(sink.dropped(), 0u);
}

TEST_F(LogSinkTest, ALineThatDoesNotFitIsDroppedAndCountedNotWaitedFor) {
  // The thread is not started, so nothing drains: as with a stdout that stopped reading.
  LogSink sink(fds_[1], 10);
  EXPECT_TRUE(sink.push("12345\n"));
  EXPECT_FALSE(sink.push("67890\n"));
  EXPECT_TRUE(sink.push("ab\n"));
  EXPECT_EQ(sink.dropped(), 1u);
  sink.start();
  sink.stop();  // writes what it holds
  EXPECT_EQ(output(), "12345\nab\n");
}

TEST_F(LogSinkTest, LinesTheFdRefusesCountAsDropped) {
  const int full = ::open("/dev/full", O_WRONLY);
  ASSERT_GE(full, 0);
  LogSink sink(full, 1024);
  sink.push("one\n");
  sink.push("two\n");
  sink.start();
  sink.stop();
  EXPECT_EQ(sink.dropped(), 2u);
  ::close(full);
}

TEST_F(LogSinkTest, FlushUntilReturnsOnceThePushedLinesAreWritten) {
  // What an exit that cannot join the thread relies on: after flushUntil the lines are out.
  ASSERT_EQ(::fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);
  LogSink sink(fds_[1], 1024);
  sink.start();
  ASSERT_TRUE(sink.push("last words\n"));
  EXPECT_TRUE(sink.flushUntil(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  char buf[64];
  const ssize_t n = ::read(fds_[0], buf, sizeof(buf));  // must already be there
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "last words\n");
  sink.stop();
}

TEST_F(LogSinkTest, FlushUntilGivesUpOnAStdoutThatStoppedReading) {
  // Fill the pipe so the writer thread blocks in write(2) with a batch in hand.
  ASSERT_EQ(::fcntl(fds_[1], F_SETFL, O_NONBLOCK), 0);
  const std::string filler(4096, 'x');
  while (::write(fds_[1], filler.data(), filler.size()) > 0) {
  }
  LogSink sink(fds_[1], 1024);
  sink.start();
  ASSERT_TRUE(sink.push("stuck\n"));
  EXPECT_FALSE(sink.flushUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  // Unblock the writer so stop() can join it.
  ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  std::string drained = readAll(fds_[0]);
  sink.stop();
  drained += output();
  EXPECT_EQ(drained.substr(drained.size() - 6), "stuck\n");
}

TEST_F(LogSinkTest, TheLoggerUsesTheInstalledSinkAndWritesDirectlyWithout) {
  LogSink sink(fds_[1], 4096);
  Logger::setSink(&sink);
  LOG_ERROR("into the sink", {"n", 1});
  Logger::setSink(nullptr);
  EXPECT_EQ(sink.dropped(), 0u);
  sink.start();
  sink.stop();
  const std::string out = output();
  EXPECT_NE(out.find("\"msg\":\"into the sink\",\"n\":1}\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace podproxy
