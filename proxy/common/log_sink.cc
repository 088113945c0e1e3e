#include "proxy/common/log_sink.h"

#include <climits>

#include "proxy/common/fd_writer.h"

namespace podproxy {

LogSink::LogSink(int fd, size_t capacity_bytes) : fd_(fd), capacity_(capacity_bytes) {}

LogSink::~LogSink() {
  stop();
}

void LogSink::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void LogSink::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool LogSink::push(std::string_view line) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + line.size() > capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const bool was_empty = pending_.empty();
    pending_.append(line);
    if (!was_empty) return true;  // the writer was already told
  }
  wake_.notify_one();
  return true;
}

bool LogSink::flushUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) return pending_.empty();
  return written_.wait_until(lock, deadline, [this] { return pending_.empty() && !writing_; });
}

void LogSink::run() {
  std::string batch;
  std::unique_lock lock(mutex_);
  while (true) {
    // Sleeps until there is something to write: no polling, so an idle proxy stays idle.
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) break;  // stopping, and everything written
    batch.swap(pending_);
    writing_ = true;
    lock.unlock();
    const size_t lost = writeLineChunks(fd_, batch, PIPE_BUF);
    if (lost > 0) dropped_.fetch_add(lost, std::memory_order_relaxed);
    batch.clear();
    lock.lock();
    writing_ = false;
    if (pending_.empty()) written_.notify_all();
  }
}

}  // namespace podproxy
