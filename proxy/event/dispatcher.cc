#include "proxy/event/dispatcher.h"

#include <algorithm>
#include <cstdlib>

#include "proxy/common/logger.h"
#include "proxy/event/timer_wheel.h"

namespace podproxy::event {

Dispatcher::Dispatcher(std::string name) : name_(std::move(name)) {
  if (uv_loop_init(&loop_) != 0) std::abort();
  uv_async_init(&loop_, &async_, &Dispatcher::onAsync);
  async_.data = this;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, &Dispatcher::onCheck);
  // The check handle must not keep the loop alive by itself.
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
}

void Dispatcher::ensureCheckSoon() {
  if (idle_active_ || closed_) return;
  idle_active_ = true;
  uv_idle_start(&idle_, [](uv_idle_t*) {});
}

Dispatcher::~Dispatcher() {
  if (!closed_) shutdown();
}

void Dispatcher::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Dispatcher::onAsync(uv_async_t* handle) {
  static_cast<Dispatcher*>(handle->data)->drainPosted();
}

void Dispatcher::drainPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

std::unique_ptr<Timer> Dispatcher::createTimer(std::function<void()> cb) {
  return std::make_unique<Timer>(*this, std::move(cb));
}

TimerWheel& Dispatcher::timerWheel() {
  if (wheel_ == nullptr) wheel_ = std::make_unique<TimerWheel>(*this);
  return *wheel_;
}

void Dispatcher::deferredDelete(std::unique_ptr<DeferredDeletable> object) {
  deferred_.push_back(std::move(object));
  ensureCheckSoon();
}

void Dispatcher::schedulePostIo(PostIoCallback* target) {
  post_io_.push_back(target);
  ensureCheckSoon();
}

void Dispatcher::schedulePostIoAfterNextPoll(PostIoCallback* target) {
  after_next_poll_.push_back(target);
  ensureCheckSoon();
}

void Dispatcher::cancelPostIo(PostIoCallback* target) {
  std::replace(post_io_.begin(), post_io_.end(), target, static_cast<PostIoCallback*>(nullptr));
  std::replace(after_next_poll_.begin(), after_next_poll_.end(), target,
               static_cast<PostIoCallback*>(nullptr));
}

void Dispatcher::promoteAfterNextPoll() {
  post_io_.insert(post_io_.end(), after_next_poll_.begin(), after_next_poll_.end());
  after_next_poll_.clear();
}

void Dispatcher::onCheck(uv_check_t* handle) {
  auto* self = static_cast<Dispatcher*>(handle->data);
  self->runPostIo();
  self->clearDeferred();
  if (self->idle_active_) {
    self->idle_active_ = false;
    uv_idle_stop(&self->idle_);
  }
  if (!self->after_next_poll_.empty()) {
    // Due at the next check; the idle handle keeps the poll in between from blocking.
    self->promoteAfterNextPoll();
    self->ensureCheckSoon();
  }
}

void Dispatcher::runPostIo() {
  // Callbacks may schedule more work (a flush that completes a response may start another).
  for (size_t i = 0; i < post_io_.size(); ++i) {
    if (PostIoCallback* target = post_io_[i]) {
      post_io_[i] = nullptr;
      target->onPostIo();
    }
  }
  post_io_.clear();
}

void Dispatcher::clearDeferred() {
  // Destructors may defer further deletions; loop until none are left.
  // The two vectors trade places and keep their capacity: no allocation per loop pass.
  while (!deferred_.empty()) {
    deferred_batch_.swap(deferred_);
    deferred_batch_.clear();
  }
}

void Dispatcher::run() {
  thread_id_ = uv_thread_self();
  thread_known_ = true;
  uv_run(&loop_, UV_RUN_DEFAULT);
  promoteAfterNextPoll();
  runPostIo();
  clearDeferred();
}

void Dispatcher::exit() {
  uv_stop(&loop_);
}

bool Dispatcher::isThisThread() const {
  if (!thread_known_) return true;
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &thread_id_) != 0;
}

bool Dispatcher::shutdown() {
  if (closed_) return true;
  closed_ = true;
  drainPosted();
  promoteAfterNextPoll();
  runPostIo();
  clearDeferred();
  if (wheel_ != nullptr) wheel_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_idle_stop(&idle_);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  // Let every pending close callback run.
  for (int i = 0; i < 16 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; ++i) {
  }
  bool clean = true;
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) {
        if (!uv_is_closing(h)) {
          *static_cast<bool*>(arg) = false;
          LOG_ERROR("leaked libuv handle", {"type", uv_handle_type_name(h->type)});
        }
      },
      &clean);
  if (uv_loop_close(&loop_) != 0) clean = false;
  return clean;
}

Timer::Timer(Dispatcher& dispatcher, std::function<void()> cb)
    : handle_(new uv_timer_t), cb_(std::move(cb)) {
  uv_timer_init(dispatcher.loop(), handle_);
  handle_->data = this;
}

Timer::~Timer() {
  uv_timer_stop(handle_);
  handle_->data = nullptr;
  closeAndDelete(handle_);
}

void Timer::onTimer(uv_timer_t* handle) {
  if (auto* self = static_cast<Timer*>(handle->data)) self->cb_();
}

void Timer::enable(std::chrono::milliseconds timeout) {
  uv_timer_start(handle_, &Timer::onTimer, static_cast<uint64_t>(timeout.count()), 0);
}

void Timer::enableRepeating(std::chrono::milliseconds interval) {
  const auto ms = static_cast<uint64_t>(interval.count());
  uv_timer_start(handle_, &Timer::onTimer, ms, ms);
}

void Timer::disable() {
  uv_timer_stop(handle_);
}

bool Timer::enabled() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0;
}

}  // namespace podproxy::event
