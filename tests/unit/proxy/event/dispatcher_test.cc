#include "proxy/event/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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

struct Recorder : PostIoCallback {
  Recorder(std::vector<std::string>& log, std::string name, Dispatcher* exit_after = nullptr)
      : log(log), name(std::move(name)), exit_after(exit_after) {}
  void onPostIo() override {
    log.push_back(name);
    if (exit_after != nullptr) exit_after->exit();
  }
  std::vector<std::string>& log;
  std::string name;
  Dispatcher* exit_after;
};

TEST(Dispatcher, PostIoAfterNextPollRunsAfterWhatThatPollBrings) {
  Dispatcher d("test");
  std::vector<std::string> log;
  Recorder now(log, "now");
  Recorder later(log, "later", &d);
  Recorder cancelled(log, "cancelled");
  d.post([&] {
    d.schedulePostIo(&now);
    d.schedulePostIoAfterNextPoll(&later);
    d.schedulePostIoAfterNextPoll(&cancelled);
    d.cancelPostIo(&cancelled);
    d.post([&] { log.push_back("next poll"); });  // an event the next poll delivers
  });
  auto guard = d.createTimer([&] { d.exit(); });
  guard->enable(std::chrono::seconds(5));
  d.run();
  EXPECT_EQ(log, (std::vector<std::string>{"now", "next poll", "later"}));
  guard.reset();
  EXPECT_TRUE(d.shutdown());
}

// Schedules a post-I/O target from a timer on a loop with nothing else to do. True if it ran
// well before a 5 s guard: a poll that blocked would have slept until the guard woke it.
bool runsWithoutOtherIo(void (Dispatcher::*schedule)(PostIoCallback*)) {
  Dispatcher d("test");
  struct Stamp : PostIoCallback {
    explicit Stamp(Dispatcher& d) : d(d) {}
    void onPostIo() override {
      ran_at = d.nowMs();
      d.exit();
    }
    Dispatcher& d;
    std::optional<uint64_t> ran_at;
  } stamp(d);
  uint64_t scheduled_at = 0;
  auto timer = d.createTimer([&] {
    scheduled_at = d.nowMs();
    (d.*schedule)(&stamp);
  });
  auto guard = d.createTimer([&] { d.exit(); });
  timer->enable(std::chrono::milliseconds(1));
  guard->enable(std::chrono::seconds(5));
  d.run();
  timer.reset();
  guard.reset();
  EXPECT_TRUE(d.shutdown());
  return stamp.ran_at && *stamp.ran_at - scheduled_at < 2500;
}

TEST(Dispatcher, PostIoScheduledFromATimerRunsWithoutOtherIo) {
  // A reply written from a timeout (408, 504) must go out at once, not when some unrelated
  // event next wakes the loop.
  EXPECT_TRUE(runsWithoutOtherIo(&Dispatcher::schedulePostIo));
}

TEST(Dispatcher, PostIoAfterNextPollDoesNotWaitForOtherIo) {
  // The poll in between must not block: a quiet loop still sends the HTTP/2 output at once.
  EXPECT_TRUE(runsWithoutOtherIo(&Dispatcher::schedulePostIoAfterNextPoll));
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
