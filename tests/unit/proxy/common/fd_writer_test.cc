#include "proxy/common/fd_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace podproxy {
namespace {

// A SOCK_SEQPACKET pair keeps each write(2) as one message, so the reader sees the chunks.
class Packets : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  std::vector<std::string> received() {
    std::vector<std::string> out;
    char buf[4096];
    for (int i = 0; i < 100; ++i) {
      const ssize_t n = ::recv(fds_[1], buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;
      out.emplace_back(buf, static_cast<size_t>(n));
    }
    return out;
  }
  int fds_[2];
};

TEST_F(Packets, ChunksAreWholeLinesWithinTheLimit) {
  EXPECT_EQ(writeLineChunks(fds_[0], "aaaa\nbbbb\ncccc\ndd\n", 10), 0u);
  EXPECT_EQ(received(), (std::vector<std::string>{"aaaa\nbbbb\n", "cccc\ndd\n"}));
}

TEST_F(Packets, ALineLongerThanTheLimitGoesAlone) {
  EXPECT_EQ(writeLineChunks(fds_[0], "a\nlonger-than-eight\nb\n", 8), 0u);
  EXPECT_EQ(received(), (std::vector<std::string>{"a\n", "longer-than-eight\n", "b\n"}));
}

TEST(FdWriter, CountsTheLinesAFullDeviceRefused) {
  const int fd = ::open("/dev/full", O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(writeFully(fd, "x\n"));
  EXPECT_EQ(writeLineChunks(fd, "one\ntwo\nthree\n", 8), 3u);
  ::close(fd);
}

}  // namespace
}  // namespace podproxy
