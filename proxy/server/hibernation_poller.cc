#include "proxy/server/hibernation_poller.h"

#include <malloc.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "proxy/buffer/slice_pool.h"
#include "proxy/common/logger.h"

namespace podproxy::server {

namespace {
// Ready sockets taken per epoll_wait; more stay ready (level-triggered) for the next poll.
constexpr int kMaxEventsPerPoll = 64;
}  // namespace

HibernationPoller::HibernationPoller(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    LOG_WARN("hibernation disabled: epoll_create1 failed", {"errno", errno});
    return;
  }
  poll_ = new uv_poll_t;
  if (uv_poll_init(dispatcher_.loop(), poll_, epoll_fd_) != 0) {
    delete poll_;
    poll_ = nullptr;
    ::close(epoll_fd_);
    epoll_fd_ = -1;
    return;
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &HibernationPoller::onPoll);
}

HibernationPoller::~HibernationPoller() {
  // Owners wake (and so remove) their records before the poller goes.
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    event::closeAndDelete(poll_);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool HibernationPoller::add(int fd, Sleeper& sleeper) {
  if (epoll_fd_ < 0) return false;
  epoll_event ev{};
  // Level-triggered: a socket left ready when a poll took its maximum is reported again.
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = &sleeper;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  ++size_;
  return true;
}

void HibernationPoller::remove(int fd) {
  epoll_event ev{};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev) == 0) --size_;
}

void HibernationPoller::onPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<HibernationPoller*>(handle->data);
  if (self == nullptr || status != 0) return;
  self->drainReady();
}

void HibernationPoller::drainReady() {
  epoll_event events[kMaxEventsPerPoll];
  const int n = epoll_wait(epoll_fd_, events, kMaxEventsPerPoll, 0);
  // A wake only rebuilds its own connection (nothing here closes another record), so every
  // pointer of this batch stays valid while the batch runs.
  for (int i = 0; i < n; ++i) static_cast<Sleeper*>(events[i].data.ptr)->onSocketReadable();
}

void HibernationPoller::noteHibernated() {
  if (++hibernated_since_release_ < kReleaseMinHibernations) return;
  if (release_timer_ == nullptr) {
    release_timer_ = dispatcher_.createTimer([this] { releaseMemory(); });
  }
  if (!release_timer_->enabled()) {
    release_timer_->enable(releaseIntervalAfter(last_release_cost_));
  }
}

std::chrono::milliseconds HibernationPoller::releaseIntervalAfter(std::chrono::nanoseconds cost) {
  return std::max(kReleaseInterval,
                  std::chrono::ceil<std::chrono::milliseconds>(cost * kReleaseCostRatio));
}

void HibernationPoller::releaseMemory() {
  hibernated_since_release_ = 0;
  const uint64_t start = uv_hrtime();
  // The freed connections sit in free heap chunks, and the slices their requests used in the
  // pool; neither shrinks RSS by itself (free() returns only the top of a heap).
  buffer::SlicePool::local().releaseFree(kSlicesKeptOnRelease);
  malloc_trim(0);
  last_release_cost_ = std::chrono::nanoseconds(uv_hrtime() - start);
}

}  // namespace podproxy::server
