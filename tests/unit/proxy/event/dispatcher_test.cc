#include "proxy/event/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace podproxy::event {
namespace {

TEST(Dispatcher, PostFromAnotherThreadRunsOnTheLoopInOrder) {
  Dispatcher d("test");
  std::vector<int> seen;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) d.post([&seen, i] { seen.push_back(i); });
    d.post([&d] { d.exit(); });
  });
  d.run();
  other.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_TRUE(d.shutdown());
}

TEST(Dispatcher, TimerFiresAndDestroyedTimerLeavesNoHandle) {
  Dispatcher d("test");
  int fired = 0;
  auto timer = d.createTimer([&] {
    ++fired;
    d.exit();
  });
  timer->enable(std::chrono::milliseconds(1));
  d.run();
  EXPECT_EQ(fired, 1);
  timer.reset();
  EXPECT_TRUE(d.shutdown());
}

struct Tracked : DeferredDeletable {
  explicit Tracked(int& counter) : counter_(counter) {}
  ~Tracked() override { ++counter_; }
  int& counter_;
};

TEST(Dispatcher, DeferredDeleteHappensAfterTheCurrentPass) {
  Dispatcher d("test");
  int destroyed = 0;
  d.post([&] {
    d.deferredDelete(std::make_unique<Tracked>(destroyed));
    EXPECT_EQ(destroyed, 0);  // still alive inside the callback that deferred it
    d.post([&] { d.exit(); });
  });
  d.run();
  EXPECT_EQ(destroyed, 1);
  EXPECT_TRUE(d.shutdown());
}

struct Flush : PostIoCallback {
  void onPostIo() override { ++runs; }
  int runs = 0;
};

TEST(Dispatcher, PostIoRunsOnceAndCancelledTargetsDoNot) {
  Dispatcher d("test");
  Flush a;
  Flush b;
  d.post([&] {
    d.schedulePostIo(&a);
    d.schedulePostIo(&b);
    d.cancelPostIo(&b);
    d.post([&] { d.exit(); });
  });
  d.run();
  EXPECT_EQ(a.runs, 1);
  EXPECT_EQ(b.runs, 0);
  EXPECT_TRUE(d.shutdown());
}

struct ExitingFlush : PostIoCallback {
  explicit ExitingFlush(Dispatcher& d) : dispatcher(d) {}
  void onPostIo() override {
    ran = true;
    dispatcher.exit();
  }
  Dispatcher& dispatcher;
  bool ran = false;
};

TEST(Dispatcher, PostIoScheduledFromATimerRunsWithoutOtherIo) {
  // A reply written from a timeout (408, 504) must go out at once, not when some unrelated
  // event next wakes the loop.
  Dispatcher d("test");
  ExitingFlush flush(d);
  bool guard_fired = false;
  auto timer = d.createTimer([&] { d.schedulePostIo(&flush); });
  auto guard = d.createTimer([&] {
    guard_fired = true;
    d.exit();
  });
  timer->enable(std::chrono::milliseconds(1));
  guard->enable(std::chrono::seconds(5));
  d.run();
  EXPECT_TRUE(flush.ran);
  EXPECT_FALSE(guard_fired);
  timer.reset();
  guard.reset();
  EXPECT_TRUE(d.shutdown());
}

TEST(Dispatcher, ShutdownReportsLeakedHandles) {
  Dispatcher d("test");
  auto* leaked = new uv_timer_t;
  uv_timer_init(d.loop(), leaked);
  EXPECT_FALSE(d.shutdown());
  // Clean up after the assertion so the test itself leaks nothing.
  uv_close(reinterpret_cast<uv_handle_t*>(leaked),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_run(d.loop(), UV_RUN_NOWAIT);
  uv_loop_close(d.loop());
}

}  // namespace
}  // namespace podproxy::event
