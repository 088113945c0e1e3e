#pragma once

// One worker's watch over its hibernated downstream connections: their sockets sit in one epoll
// set that the loop polls through a single uv_poll_t, so a hibernated connection costs no libuv
// handle; and after many connections went to sleep, the memory they left is given back.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "proxy/event/dispatcher.h"

namespace podproxy::server {

class HibernationPoller {
 public:
  // A hibernated connection's record; told once its socket is readable (a request, or the
  // peer's FIN or RST), after it was removed from the set.
  class Sleeper {
   public:
    virtual void onSocketReadable() = 0;

   protected:
    ~Sleeper() = default;
  };

  explicit HibernationPoller(event::Dispatcher& dispatcher);
  ~HibernationPoller();
  HibernationPoller(const HibernationPoller&) = delete;
  HibernationPoller& operator=(const HibernationPoller&) = delete;

  // False when the set could not be created (the worker then keeps every connection awake).
  bool valid() const { return epoll_fd_ >= 0; }
  // Watches `fd` until remove(); false if the kernel refused.
  bool add(int fd, Sleeper& sleeper);
  void remove(int fd);
  size_t size() const { return size_; }

  // A connection just hibernated: its Connection, manager and socket handle are being freed.
  // After enough of them, the worker's free memory (spare buffer slices, free heap pages) goes
  // back to the system shortly after, once per releaseIntervalAfter(last release's cost) at most.
  void noteHibernated();

  // Fewer hibernations than this since the last release are not worth a heap walk.
  static constexpr uint32_t kReleaseMinHibernations = 64;
  static constexpr std::chrono::milliseconds kReleaseInterval{200};
  // malloc_trim walks every free chunk of every arena on the worker's loop: ~40 ms for a heap
  // of 100,000 connection-sized chunks with half of them free. Releases are spaced at least
  // this many times their last cost apart, so under steady churn they take at most 2% of the
  // loop however large the heap grows.
  static constexpr uint32_t kReleaseCostRatio = 50;
  static std::chrono::milliseconds releaseIntervalAfter(std::chrono::nanoseconds cost);
  std::chrono::nanoseconds lastReleaseCost() const { return last_release_cost_; }
  // Spare slices kept through a release: enough for the next few requests without malloc.
  static constexpr size_t kSlicesKeptOnRelease = 8;

 private:
  static void onPoll(uv_poll_t* handle, int status, int events);
  void drainReady();
  void releaseMemory();

  event::Dispatcher& dispatcher_;
  int epoll_fd_ = -1;
  uv_poll_t* poll_ = nullptr;  // heap: freed by its close callback
  size_t size_ = 0;
  uint32_t hibernated_since_release_ = 0;
  std::unique_ptr<event::Timer> release_timer_;
  std::chrono::nanoseconds last_release_cost_{0};
};

}  // namespace podproxy::server
