#pragma once

// The one thread that writes access-log lines: it drains every worker's ring and does the
// blocking write(2)s, so a slow stdout never stalls a worker loop (full rings drop lines instead).
// Each write(2) carries whole lines and at most PIPE_BUF bytes, so lines never interleave with
// the process log lines other threads write to the same pipe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log/access_log_ring.h"

namespace podproxy::access_log {

class AccessLogWriter {
 public:
  explicit AccessLogWriter(int fd);
  ~AccessLogWriter();
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  // Before start(): a ring for one producer. Owned by the writer.
  AccessLogRing& addRing(size_t capacity);
  void start();
  // Writes what the rings still hold, then joins the thread. Producers must have stopped.
  void stop();
  // Waits until `deadline` at most for the thread to have written every line pushed before the
  // call; true if it did. Producers may go on. For an exit that cannot wait for stop(): a stalled
  // stdout costs it the time to `deadline`, not a hang.
  bool flushUntil(std::chrono::steady_clock::time_point deadline);

  uint64_t pushed() const;
  uint64_t dropped() const;
  // Lines the thread failed to write (stdout closed); they count as dropped too.
  uint64_t writeErrors() const { return write_errors_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Drains every ring once; returns whether anything was written.
  bool drainOnce();

  struct Source {
    explicit Source(size_t capacity) : ring(capacity) {}
    AccessLogRing ring;
    std::atomic<uint64_t> written_bytes{0};  // of ring.pushedBytes(): taken and written (or lost)
  };

  const int fd_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::thread thread_;
  std::mutex mutex_;  // the writer's sleep and flushUntil's wait; producers never take it
  std::condition_variable wake_;
  std::condition_variable written_;  // a drain round wrote something
  bool stopping_ = false;
  std::string batch_;
  std::atomic<uint64_t> write_errors_{0};
};

}  // namespace podproxy::access_log
