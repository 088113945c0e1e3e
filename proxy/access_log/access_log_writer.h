#pragma once

// The one thread that writes access-log lines: it drains every worker's ring and does the
// blocking write(2)s, so a slow stdout never stalls a worker loop (full rings drop lines instead).
// Each write(2) carries whole lines and at most PIPE_BUF bytes, so lines never interleave with
// the process log lines other threads write to the same pipe.

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

  uint64_t pushed() const;
  uint64_t dropped() const;
  // Lines the thread failed to write (stdout closed); they count as dropped too.
  uint64_t writeErrors() const { return write_errors_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Drains every ring once; returns whether anything was written.
  bool drainOnce();

  const int fd_;
  std::vector<std::unique_ptr<AccessLogRing>> rings_;
  std::thread thread_;
  std::mutex mutex_;  // the writer's sleep only; producers never take it
  std::condition_variable wake_;
  bool stopping_ = false;
  std::string batch_;
  std::atomic<uint64_t> write_errors_{0};
};

}  // namespace podproxy::access_log
