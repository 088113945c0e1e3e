// HibernationPoller over real sockets: one epoll set polled through one uv_poll_t.

#include "proxy/server/hibernation_poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "proxy/buffer/slice_pool.h"

namespace podproxy::server {
namespace {

using namespace std::chrono_literals;

struct Record final : HibernationPoller::Sleeper {
  void onSocketReadable() override {
    ++woken;
    if (then) then();
  }
  int woken = 0;
  std::function<void()> then;
};

void spin(event::Dispatcher& d, std::chrono::milliseconds duration) {
  auto guard = d.createTimer([&d] { d.exit(); });
  guard->enable(duration);
  d.run();
}

struct Pair {
  int fds[2] = {-1, -1};
  Pair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

TEST(HibernationPoller, TellsTheRecordWhoseSocketBecameReadable) {
  event::Dispatcher d("test");
  {
    HibernationPoller poller(d);
    ASSERT_TRUE(poller.valid());
    Pair quiet, talking, closing;
    Record r_quiet, r_talking, r_closing;
    ASSERT_TRUE(poller.add(quiet.fds[0], r_quiet));
    ASSERT_TRUE(poller.add(talking.fds[0], r_talking));
    ASSERT_TRUE(poller.add(closing.fds[0], r_closing));
    EXPECT_EQ(poller.size(), 3u);
    // An owner removes its socket when told (as ActiveListener::wake does): told once.
    r_talking.then = [&] { poller.remove(talking.fds[0]); };
    r_closing.then = [&] { poller.remove(closing.fds[0]); };
    spin(d, 30ms);
    EXPECT_EQ(r_quiet.woken + r_talking.woken + r_closing.woken, 0);

    ASSERT_EQ(::write(talking.fds[1], "x", 1), 1);
    ::shutdown(closing.fds[1], SHUT_WR);  // the peer's FIN wakes too
    spin(d, 50ms);
    EXPECT_EQ(r_talking.woken, 1);
    EXPECT_EQ(r_closing.woken, 1);
    EXPECT_EQ(r_quiet.woken, 0);
    EXPECT_EQ(poller.size(), 1u);
    // The bytes are still in the socket for the rebuilt connection to read.
    char c = 0;
    EXPECT_EQ(::read(talking.fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'x');

    poller.remove(quiet.fds[0]);
    ASSERT_EQ(::write(quiet.fds[1], "y", 1), 1);
    spin(d, 30ms);
    EXPECT_EQ(r_quiet.woken, 0);
    EXPECT_EQ(poller.size(), 0u);
  }
  EXPECT_TRUE(d.shutdown());  // its uv_poll_t closed with it
}

TEST(HibernationPoller, RejectsADescriptorItCannotWatch) {
  event::Dispatcher d("test");
  {
    HibernationPoller poller(d);
    Record r;
    EXPECT_FALSE(poller.add(-1, r));
    EXPECT_EQ(poller.size(), 0u);
  }
  EXPECT_TRUE(d.shutdown());
}

TEST(HibernationPoller, ReleasesSpareSlicesAfterManyHibernations) {
  event::Dispatcher d("test");
  {
    HibernationPoller poller(d);
    buffer::SlicePool& pool = buffer::SlicePool::local();
    std::vector<buffer::Slice*> taken;
    for (int i = 0; i < 40; ++i) taken.push_back(pool.take());
    for (buffer::Slice* s : taken) pool.give(s);
    ASSERT_GE(pool.freeCount(), 40u);
    // Fewer than the threshold: nothing is released.
    for (uint32_t i = 0; i + 1 < HibernationPoller::kReleaseMinHibernations; ++i) {
      poller.noteHibernated();
    }
    spin(d, HibernationPoller::kReleaseInterval + 100ms);
    EXPECT_GE(pool.freeCount(), 40u);
    poller.noteHibernated();
    spin(d, HibernationPoller::kReleaseInterval + 100ms);
    EXPECT_EQ(pool.freeCount(), HibernationPoller::kSlicesKeptOnRelease);
    EXPECT_GT(poller.lastReleaseCost().count(), 0);  // measured, for the next interval
  }
  EXPECT_TRUE(d.shutdown());
}

TEST(HibernationPoller, SpacesReleasesByTheirCost) {
  // A cheap release (small heap) waits the minimum interval; an expensive one (malloc_trim over
  // a large, fragmented heap) at least kReleaseCostRatio times its cost.
  EXPECT_EQ(HibernationPoller::releaseIntervalAfter(0ms), HibernationPoller::kReleaseInterval);
  EXPECT_EQ(HibernationPoller::releaseIntervalAfter(1ms), HibernationPoller::kReleaseInterval);
  EXPECT_EQ(HibernationPoller::releaseIntervalAfter(40ms), 2000ms);
  EXPECT_EQ(HibernationPoller::releaseIntervalAfter(std::chrono::microseconds(40010)), 2001ms);
}

}  // namespace
}  // namespace podproxy::server
