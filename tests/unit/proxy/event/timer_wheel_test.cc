#include "proxy/event/timer_wheel.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "tests/unit/proxy/event/run_until.h"

namespace podproxy::event {
namespace {

using namespace std::chrono_literals;

struct Entry final : WheelTimer {
  void onWheelTimeout() override {
    fired_at.push_back(uv_now(loop));
    if (then) then();
  }
  uv_loop_t* loop = nullptr;
  std::vector<uint64_t> fired_at;
  std::function<void()> then;
};

using testing::runUntil;

TEST(TimerWheel, FiresAfterTheTimeoutAndNotBefore) {
  Dispatcher d("test");
  Entry e;
  e.loop = d.loop();
  const uint64_t start = d.nowMs();
  d.timerWheel().arm(e, 100ms);
  EXPECT_TRUE(e.armed());
  runUntil(
      d, [&] { return !e.fired_at.empty(); }, 2s);
  ASSERT_EQ(e.fired_at.size(), 1u);
  const uint64_t elapsed = e.fired_at[0] - start;
  EXPECT_GE(elapsed, 100u);
  EXPECT_LE(elapsed, 100u + TimerWheel::kTick.count() + 50u);
  EXPECT_FALSE(e.armed());
  EXPECT_EQ(d.timerWheel().armedCount(), 0u);
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, DisarmedAndDestroyedEntriesNeverFire) {
  Dispatcher d("test");
  Entry kept;
  kept.loop = d.loop();
  Entry disarmed;
  disarmed.loop = d.loop();
  auto destroyed = std::make_unique<Entry>();
  destroyed->loop = d.loop();
  d.timerWheel().arm(disarmed, 40ms);
  d.timerWheel().arm(*destroyed, 40ms);
  d.timerWheel().arm(kept, 80ms);
  EXPECT_EQ(d.timerWheel().armedCount(), 3u);
  TimerWheel::disarm(disarmed);
  destroyed.reset();
  EXPECT_EQ(d.timerWheel().armedCount(), 1u);
  runUntil(
      d, [&] { return !kept.fired_at.empty(); }, 2s);
  EXPECT_EQ(kept.fired_at.size(), 1u);
  EXPECT_TRUE(disarmed.fired_at.empty());
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, RearmingMovesTheDeadline) {
  Dispatcher d("test");
  Entry e;
  e.loop = d.loop();
  const uint64_t start = d.nowMs();
  d.timerWheel().arm(e, 30ms);
  d.timerWheel().arm(e, 200ms);  // the later deadline replaces the earlier one
  EXPECT_EQ(d.timerWheel().armedCount(), 1u);
  runUntil(
      d, [&] { return !e.fired_at.empty(); }, 2s);
  ASSERT_EQ(e.fired_at.size(), 1u);
  EXPECT_GE(e.fired_at[0] - start, 200u);
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, CallbackMayRearmItselfAndDisarmOthersDueNow) {
  Dispatcher d("test");
  Entry a;
  Entry b;
  a.loop = b.loop = d.loop();
  // Both fall due on the same tick; whichever fires first disarms the other.
  a.then = [&] {
    TimerWheel::disarm(b);
    if (a.fired_at.size() < 3) d.timerWheel().arm(a, 10ms);
  };
  b.then = [&] { TimerWheel::disarm(a); };
  d.timerWheel().arm(a, 20ms);
  d.timerWheel().arm(b, 20ms);
  runUntil(
      d, [&] { return a.fired_at.size() == 3; }, 2s);
  EXPECT_EQ(a.fired_at.size(), 3u);  // a was armed first, so it fired first
  EXPECT_TRUE(b.fired_at.empty());
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, TimeoutsLongerThanOneTurnWaitWholeTurns) {
  Dispatcher d("test");
  Entry far;
  Entry near;
  far.loop = near.loop = d.loop();
  const auto turn = TimerWheel::kTick * TimerWheel::kSlots;
  // Same slot as `near` but one turn later: visiting the slot must not fire it early.
  d.timerWheel().arm(far, turn + 64ms);
  d.timerWheel().arm(near, 64ms);
  runUntil(
      d, [&] { return !near.fired_at.empty(); }, 2s);
  EXPECT_EQ(near.fired_at.size(), 1u);
  EXPECT_TRUE(far.fired_at.empty());
  EXPECT_TRUE(far.armed());
  EXPECT_TRUE(d.shutdown());  // closes the wheel with `far` still armed: no leaked handle
  EXPECT_FALSE(far.armed());
}

TEST(TimerWheel, ATimeoutLongerThanOneTurnFiresAfterItsWholeTurn) {
  Dispatcher d("test");
  Entry far;
  far.loop = d.loop();
  const auto turn = TimerWheel::kTick * TimerWheel::kSlots;
  const auto timeout = turn + 64ms;
  const uint64_t start = d.nowMs();
  d.timerWheel().arm(far, timeout);
  // Its slot comes round once before the deadline (a visit that must not fire it) and again
  // at it (a visit that must).
  runUntil(
      d, [&] { return !far.fired_at.empty(); }, timeout + 2s);
  ASSERT_EQ(far.fired_at.size(), 1u);
  const uint64_t elapsed = far.fired_at[0] - start;
  EXPECT_GE(elapsed, static_cast<uint64_t>(timeout.count()));
  // Not a whole turn late either (the bug this guards against is ~8 s); the margin leaves room
  // for a loaded machine's loop latency, which is no property of the wheel.
  EXPECT_LT(elapsed, static_cast<uint64_t>((timeout + 1s).count()));
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, ManyEntriesFireInDeadlineOrder) {
  Dispatcher d("test");
  std::vector<std::unique_ptr<Entry>> entries;
  std::vector<int> order;
  for (int i = 0; i < 50; ++i) {
    auto e = std::make_unique<Entry>();
    e->loop = d.loop();
    e->then = [&order, i] { order.push_back(i); };
    entries.push_back(std::move(e));
  }
  // Deadlines in reverse creation order, a tick apart.
  const uint64_t start = d.nowMs();
  for (int i = 0; i < 50; ++i) {
    d.timerWheel().arm(*entries[i], TimerWheel::kTick * (50 - i));
  }
  runUntil(
      d, [&] { return order.size() == 50; }, 5s);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(order[i], 49 - i);
    // None early.
    const auto timeout = static_cast<uint64_t>((TimerWheel::kTick * (50 - i)).count());
    ASSERT_EQ(entries[i]->fired_at.size(), 1u) << i;
    EXPECT_GE(entries[i]->fired_at[0] - start, timeout) << i;
  }
  EXPECT_TRUE(d.shutdown());
}

TEST(TimerWheel, FarArmFromACallbackDoesNotDelayNearerEntries) {
  // A callback arming a long timeout (a hibernated connection's idle deadline) used to leave
  // the uv timer set for that far deadline, so entries armed before it, due much sooner,
  // waited for it too.
  Dispatcher d("test");
  Entry first;
  first.loop = d.loop();
  Entry far;
  far.loop = d.loop();
  Entry near;
  near.loop = d.loop();
  first.then = [&] { d.timerWheel().arm(far, 60s); };
  const uint64_t start = d.nowMs();
  d.timerWheel().arm(first, 20ms);
  d.timerWheel().arm(near, 200ms);
  runUntil(
      d, [&] { return !near.fired_at.empty(); }, 3s);
  ASSERT_EQ(first.fired_at.size(), 1u);
  ASSERT_EQ(near.fired_at.size(), 1u);
  EXPECT_GE(near.fired_at[0] - start, 200u);
  EXPECT_LE(near.fired_at[0] - start, 200u + TimerWheel::kTick.count() + 100u);
  EXPECT_TRUE(far.fired_at.empty());
  EXPECT_TRUE(far.armed());
  d.timerWheel().disarm(far);
  EXPECT_TRUE(d.shutdown());
}

}  // namespace
}  // namespace podproxy::event
