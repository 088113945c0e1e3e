#pragma once

// The thread that writes the process's own log lines while the server runs, so that no event
// loop ever blocks on a stalled stdout. Logger::log hands each whole line to push() (a short
// lock: log lines are rare and off the request path); when the bounded buffer is full the line is
// dropped and counted. Before start-up and after shutdown Logger writes directly, so a failing
// start prints its error at once.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace podproxy {

class LogSink {
 public:
  LogSink(int fd, size_t capacity_bytes);
  ~LogSink();
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  void start();
  // Writes what is buffered, then joins the thread.
  void stop();

  // Any thread. False (and counted) when the line does not fit.
  bool push(std::string_view line);

  // Waits until `deadline` at most for the thread to have written everything pushed so far;
  // true if it did. For an exit that cannot wait for stop(): a stalled stdout costs it the time
  // to `deadline`, not a hang.
  bool flushUntil(std::chrono::steady_clock::time_point deadline);

  // Lines dropped because the buffer was full, or that stdout refused.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void run();

  const int fd_;
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable written_;  // pending_ is empty and no batch is being written
  std::string pending_;              // whole lines, under mutex_
  bool writing_ = false;             // a batch is out of pending_ but not yet written
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace podproxy
