#include "proxy/access_log/access_log_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>

namespace podproxy::access_log {

namespace {
// Producers never signal (that would need a lock); the writer polls its rings this often when
// they are empty. At 100k lines/s of 400 bytes a 4 MiB ring spans 100 ms, far above this.
constexpr auto kIdlePoll = std::chrono::milliseconds(5);
constexpr size_t kChunk = PIPE_BUF;
}  // namespace

AccessLogWriter::AccessLogWriter(int fd) : fd_(fd) {}

AccessLogWriter::~AccessLogWriter() {
  stop();
}

AccessLogRing& AccessLogWriter::addRing(size_t capacity) {
  rings_.push_back(std::make_unique<AccessLogRing>(capacity));
  return *rings_.back();
}

void AccessLogWriter::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void AccessLogWriter::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

uint64_t AccessLogWriter::pushed() const {
  uint64_t total = 0;
  for (const auto& r : rings_) total += r->pushed();
  return total;
}

uint64_t AccessLogWriter::dropped() const {
  uint64_t total = 0;
  for (const auto& r : rings_) total += r->dropped();
  return total;
}

void AccessLogWriter::run() {
  while (true) {
    if (drainOnce()) continue;
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    wake_.wait_for(lock, kIdlePoll);
  }
  while (drainOnce()) {
  }
}

bool AccessLogWriter::drainOnce() {
  bool wrote = false;
  for (auto& ring : rings_) {
    // A bounded amount per ring per round, so one busy worker cannot starve the others.
    for (int i = 0; i < 64; ++i) {
      batch_.clear();
      if (ring->drainTo(batch_, kChunk) == 0) break;
      writeAll(batch_);
      wrote = true;
    }
  }
  return wrote;
}

void AccessLogWriter::writeAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

}  // namespace podproxy::access_log
