#pragma once

// One event loop and everything that must run on it. A worker thread owns one Dispatcher; the
// main thread owns another. The only way for another thread to reach a loop is post().

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace podproxy::event {

// Objects that may be destroyed from inside their own callbacks are handed to deferredDelete()
// and destroyed after the current I/O pass instead.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

// Work done once after the current I/O pass, e.g. flushing writes gathered during the pass
// into one writev. A target unregisters itself when destroyed.
class PostIoCallback {
 public:
  virtual ~PostIoCallback() = default;
  virtual void onPostIo() = 0;
};

class Timer;
class TimerWheel;

class Dispatcher {
 public:
  explicit Dispatcher(std::string name);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  uv_loop_t* loop() { return &loop_; }
  const std::string& name() const { return name_; }

  // Thread-safe: runs `fn` on this dispatcher's loop. Wake-ups coalesce; each wake-up drains the
  // whole queue.
  void post(std::function<void()> fn);

  std::unique_ptr<Timer> createTimer(std::function<void()> cb);
  // Coarse timeouts shared by many objects (see timer_wheel.h); created on first use.
  TimerWheel& timerWheel();
  void deferredDelete(std::unique_ptr<DeferredDeletable> object);
  void schedulePostIo(PostIoCallback* target);
  // As schedulePostIo, but after one more (non-blocking) poll: what that poll brings joins the
  // work. For output that many sources share, such as a multiplexed HTTP/2 connection, so that
  // responses arriving a moment apart leave in one write instead of several.
  void schedulePostIoAfterNextPoll(PostIoCallback* target);
  // Cancels either kind.
  void cancelPostIo(PostIoCallback* target);

  // Loop time in milliseconds, cached per iteration (uv_now).
  uint64_t nowMs() const { return uv_now(const_cast<uv_loop_t*>(&loop_)); }

  // Runs until exit() is called (from this thread or through post()).
  void run();
  void exit();

  // Closes every handle the dispatcher itself owns and runs the loop until all handles are
  // closed. Returns false if handles are still open (a leak: tests assert on this).
  bool shutdown();

  bool isThisThread() const;

 private:
  static void onAsync(uv_async_t* handle);
  static void onCheck(uv_check_t* handle);
  void drainPosted();
  void runPostIo();
  // Makes the targets waiting for one more poll due in the next post-I/O run.
  void promoteAfterNextPoll();
  void clearDeferred();
  // Work scheduled outside an I/O pass (from a timer, say) must not wait for unrelated I/O:
  // an active idle handle makes the next poll return at once, so the check phase runs.
  void ensureCheckSoon();

  std::string name_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_check_t check_;
  uv_idle_t idle_;
  bool idle_active_ = false;
  std::mutex post_mutex_;  // guards posted_ only; never taken on a worker's data path
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_batch_;  // being destroyed
  std::vector<PostIoCallback*> post_io_;
  std::vector<PostIoCallback*> after_next_poll_;
  std::unique_ptr<TimerWheel> wheel_;
  uv_thread_t thread_id_{};
  bool thread_known_ = false;
  bool closed_ = false;
};

// A one-shot or repeating timer bound to a dispatcher. Destroying it stops and closes it.
class Timer {
 public:
  Timer(Dispatcher& dispatcher, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void enable(std::chrono::milliseconds timeout);
  void enableRepeating(std::chrono::milliseconds interval);
  void disable();
  bool enabled() const;

 private:
  static void onTimer(uv_timer_t* handle);
  // Heap-allocated so that it can outlive this object until libuv's close callback runs.
  uv_timer_t* handle_;
  std::function<void()> cb_;
};

// Closes any libuv handle and frees it with `delete` once libuv is done with it.
template <typename Handle>
void closeAndDelete(Handle* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

}  // namespace podproxy::event
