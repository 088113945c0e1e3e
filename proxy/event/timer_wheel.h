#pragma once

// Coarse timeouts for many objects on one loop (connection idle and request-headers
// timeouts): one uv_timer for all of them and an intrusive entry in each owner, so arming and
// disarming are O(1) list operations with no allocation and an idle connection pays for three
// pointers instead of a uv_timer_t.

#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>

namespace podproxy::event {

class Dispatcher;
class TimerWheel;

// Embed in the owner and implement onWheelTimeout(). Destroying an armed entry disarms it.
class WheelTimer {
 public:
  WheelTimer() = default;
  WheelTimer(const WheelTimer&) = delete;
  WheelTimer& operator=(const WheelTimer&) = delete;
  bool armed() const { return next_ != nullptr; }

  // Runs on the loop once the deadline passed (at most one tick late). The entry is disarmed
  // first, so the callback may re-arm it or destroy its owner's other state.
  virtual void onWheelTimeout() = 0;

 protected:
  ~WheelTimer() { unlink(); }

 private:
  friend class TimerWheel;
  void unlink() {
    if (next_ == nullptr) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

  WheelTimer* prev_ = nullptr;
  WheelTimer* next_ = nullptr;  // nullptr: not armed
  uint64_t deadline_tick_ = 0;
};

class TimerWheel {
 public:
  // Resolution: deadlines round up to the next tick, so a timeout fires between `timeout` and
  // `timeout + kTick` after it was armed (plus loop latency), never early.
  static constexpr std::chrono::milliseconds kTick{32};
  static constexpr size_t kSlots = 256;  // one turn: ~8 s; longer timeouts wait whole turns

  explicit TimerWheel(Dispatcher& dispatcher);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // (Re)arms `timer` to fire `timeout` from now. A zero timeout fires on the next tick.
  void arm(WheelTimer& timer, std::chrono::milliseconds timeout);
  static void disarm(WheelTimer& timer) { timer.unlink(); }
  size_t armedCount() const;

  // Closes the uv_timer (Dispatcher::shutdown); armed entries never fire afterwards.
  void close();

 private:
  // A slot is a circular list with a sentinel, so an entry unlinks itself without the wheel.
  struct Sentinel final : WheelTimer {
    Sentinel() { selfLink(); }
    void selfLink();
    void onWheelTimeout() override {}
    bool empty() const;
    WheelTimer* first() const;
  };

  static void onUvTimer(uv_timer_t* handle);
  uint64_t nowTick() const;
  void expire();
  void reschedule();

  Dispatcher& dispatcher_;
  uv_timer_t* handle_;  // heap: freed by its close callback
  std::array<Sentinel, kSlots> slots_;
  uint64_t current_tick_;    // every slot before this tick has been processed
  uint64_t scheduled_tick_;  // the uv_timer fires for this tick (0: not running)
  bool closed_ = false;
};

}  // namespace podproxy::event
