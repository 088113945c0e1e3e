#include "proxy/event/timer_wheel.h"

#include "proxy/event/dispatcher.h"

namespace podproxy::event {

namespace {
constexpr uint64_t kTickMs = static_cast<uint64_t>(TimerWheel::kTick.count());
}  // namespace

void TimerWheel::Sentinel::selfLink() {
  prev_ = this;
  next_ = this;
}

bool TimerWheel::Sentinel::empty() const {
  return next_ == this;
}

WheelTimer* TimerWheel::Sentinel::first() const {
  return next_;
}

TimerWheel::TimerWheel(Dispatcher& dispatcher)
    : dispatcher_(dispatcher), handle_(new uv_timer_t), scheduled_tick_(0) {
  uv_timer_init(dispatcher.loop(), handle_);
  handle_->data = this;
  current_tick_ = nowTick();
}

TimerWheel::~TimerWheel() {
  close();
}

void TimerWheel::close() {
  if (closed_) return;
  closed_ = true;
  // Owners outliving the wheel must find their entries disarmed, not linked into freed slots.
  for (Sentinel& slot : slots_) {
    while (!slot.empty()) slot.first()->unlink();
  }
  uv_timer_stop(handle_);
  handle_->data = nullptr;
  closeAndDelete(handle_);
}

uint64_t TimerWheel::nowTick() const {
  return dispatcher_.nowMs() / kTickMs;
}

size_t TimerWheel::armedCount() const {
  size_t n = 0;
  for (const Sentinel& slot : slots_) {
    for (const WheelTimer* t = slot.next_; t != &slot; t = t->next_) ++n;
  }
  return n;
}

void TimerWheel::arm(WheelTimer& timer, std::chrono::milliseconds timeout) {
  timer.unlink();
  if (closed_) return;
  const uint64_t ms = timeout.count() > 0 ? static_cast<uint64_t>(timeout.count()) : 0;
  uint64_t deadline = (dispatcher_.nowMs() + ms + kTickMs - 1) / kTickMs;
  if (deadline < current_tick_) deadline = current_tick_;
  timer.deadline_tick_ = deadline;
  Sentinel& slot = slots_[deadline % kSlots];
  // Append at the tail: entries of one slot fire in the order they were armed.
  timer.prev_ = slot.prev_;
  timer.next_ = &slot;
  slot.prev_->next_ = &timer;
  slot.prev_ = &timer;
  if (scheduled_tick_ == 0 || deadline < scheduled_tick_) {
    scheduled_tick_ = deadline;
    const uint64_t at = deadline * kTickMs;
    const uint64_t now = dispatcher_.nowMs();
    uv_timer_start(handle_, &TimerWheel::onUvTimer, at > now ? at - now : 0, 0);
  }
}

void TimerWheel::onUvTimer(uv_timer_t* handle) {
  if (auto* self = static_cast<TimerWheel*>(handle->data)) {
    self->scheduled_tick_ = 0;
    self->expire();
    if (!self->closed_) self->reschedule();
  }
}

void TimerWheel::expire() {
  const uint64_t now = nowTick();
  if (now < current_tick_) return;
  // Collect what is due first: callbacks may arm and disarm entries anywhere, including the
  // ones still waiting in `due`, which simply unlink themselves.
  Sentinel due;
  const uint64_t span = now - current_tick_ + 1;
  const uint64_t visits = span < kSlots ? span : kSlots;
  for (uint64_t i = 0; i < visits; ++i) {
    Sentinel& slot = slots_[(current_tick_ + i) % kSlots];
    WheelTimer* t = slot.next_;
    while (t != &slot) {
      WheelTimer* next = t->next_;
      if (t->deadline_tick_ <= now) {
        t->unlink();
        t->prev_ = due.prev_;
        t->next_ = &due;
        due.prev_->next_ = t;
        due.prev_ = t;
      }
      t = next;
    }
  }
  current_tick_ = now + 1;
  while (!due.empty()) {
    WheelTimer* t = due.first();
    t->unlink();
    t->onWheelTimeout();
    if (closed_) break;
  }
  // The wheel closed from a callback: what is left never fires.
  while (!due.empty()) due.first()->unlink();
}

void TimerWheel::reschedule() {
  for (uint64_t i = 0; i < kSlots; ++i) {
    const uint64_t tick = current_tick_ + i;
    const Sentinel& slot = slots_[tick % kSlots];
    if (slot.empty()) continue;
    // A callback may have armed something and started the timer, possibly for a later tick
    // than entries armed before it (it only compared against "not running").
    if (scheduled_tick_ != 0 && scheduled_tick_ <= tick) return;
    // The slot's entries may be turns away; waking at its next visit costs one empty pass.
    const uint64_t wake = tick;
    scheduled_tick_ = wake;
    const uint64_t at = wake * kTickMs;
    const uint64_t now_ms = dispatcher_.nowMs();
    uv_timer_start(handle_, &TimerWheel::onUvTimer, at > now_ms ? at - now_ms : 0, 0);
    return;
  }
}

}  // namespace podproxy::event
