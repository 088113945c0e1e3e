#pragma once

// Watches certificate files on the main thread and says when they may have changed. Kubernetes
// updates a mounted Secret by swapping a "..data" symlink in the directory, and other tools
// rename or rewrite files in place, so it watches each file's directory (inotify through
// uv_fs_event), debounces bursts of events, and also polls the files' stat() as a fallback for
// file systems without inotify.

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/event/dispatcher.h"

namespace podproxy::tls {

class CertificateWatcher {
 public:
  CertificateWatcher(event::Dispatcher& dispatcher, std::vector<std::string> files,
                     std::function<void()> on_change,
                     std::chrono::milliseconds debounce = std::chrono::milliseconds(100),
                     std::chrono::milliseconds poll_interval = std::chrono::seconds(5));
  ~CertificateWatcher();
  CertificateWatcher(const CertificateWatcher&) = delete;
  CertificateWatcher& operator=(const CertificateWatcher&) = delete;

  void start();
  // Closes every handle (before the loop shuts down).
  void stop();

 private:
  struct FileState {
    std::string path;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
  };
  static void onFsEvent(uv_fs_event_t* handle, const char* filename, int events, int status);
  void schedule();
  void poll();
  // Refreshes the stat() snapshot; true when something differs.
  bool statChanged();

  event::Dispatcher& dispatcher_;
  std::vector<FileState> files_;
  std::function<void()> on_change_;
  std::chrono::milliseconds debounce_;
  std::chrono::milliseconds poll_interval_;
  std::vector<uv_fs_event_t*> watches_;
  std::unique_ptr<event::Timer> debounce_timer_;
  std::unique_ptr<event::Timer> poll_timer_;
};

}  // namespace podproxy::tls
