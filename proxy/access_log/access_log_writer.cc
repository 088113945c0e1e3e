#include "proxy/access_log/access_log_writer.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include "proxy/common/fd_writer.h"

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
  sources_.push_back(std::make_unique<Source>(capacity));
  return sources_.back()->ring;
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

bool AccessLogWriter::flushUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  // Without the thread nothing more gets written: look, do not wait.
  if (!thread_.joinable()) deadline = std::chrono::steady_clock::now();
  wake_.notify_one();  // rather than at its next idle poll
  for (const auto& source : sources_) {
    const uint64_t target = source->ring.pushedBytes();
    const bool out = written_.wait_until(lock, deadline, [&] {
      return source->written_bytes.load(std::memory_order_acquire) >= target;
    });
    if (!out) return false;
  }
  return true;
}

uint64_t AccessLogWriter::pushed() const {
  uint64_t total = 0;
  for (const auto& s : sources_) total += s->ring.pushed();
  return total;
}

uint64_t AccessLogWriter::dropped() const {
  uint64_t total = 0;
  for (const auto& s : sources_) total += s->ring.dropped();
  return total;
}

void AccessLogWriter::run() {
  while (true) {
    if (drainOnce()) {
      // One uncontended lock per round of up to 256 KiB per ring; it lets flushUntil sleep.
      std::lock_guard lock(mutex_);
      written_.notify_all();
      continue;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    wake_.wait_for(lock, kIdlePoll);
  }
  while (drainOnce()) {
  }
}

bool AccessLogWriter::drainOnce() {
  bool wrote = false;
  for (auto& source : sources_) {
    // A bounded amount per ring per round, so one busy worker cannot starve the others.
    for (int i = 0; i < 64; ++i) {
      batch_.clear();
      const size_t taken = source->ring.drainTo(batch_, kChunk);
      if (taken == 0) break;
      if (!writeFully(fd_, batch_)) {
        write_errors_.fetch_add(std::ranges::count(batch_, '\n'), std::memory_order_relaxed);
      }
      source->written_bytes.fetch_add(taken, std::memory_order_release);
      wrote = true;
    }
  }
  return wrote;
}

}  // namespace podproxy::access_log
