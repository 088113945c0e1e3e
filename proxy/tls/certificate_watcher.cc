#include "proxy/tls/certificate_watcher.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "proxy/common/logger.h"

namespace podproxy::tls {

CertificateWatcher::CertificateWatcher(event::Dispatcher& dispatcher,
                                       std::vector<std::string> files,
                                       std::function<void()> on_change,
                                       std::chrono::milliseconds debounce,
                                       std::chrono::milliseconds poll_interval)
    : dispatcher_(dispatcher),
      on_change_(std::move(on_change)),
      debounce_(debounce),
      poll_interval_(poll_interval) {
  for (auto& f : files) files_.push_back(FileState{std::move(f)});
}

CertificateWatcher::~CertificateWatcher() {
  stop();
}

void CertificateWatcher::start() {
  statChanged();
  std::set<std::string> dirs;
  for (const FileState& f : files_) {
    dirs.insert(std::filesystem::path(f.path).parent_path().string());
  }
  for (const std::string& dir : dirs) {
    auto* handle = new uv_fs_event_t;
    uv_fs_event_init(dispatcher_.loop(), handle);
    handle->data = this;
    const int rc = uv_fs_event_start(handle, &CertificateWatcher::onFsEvent,
                                     dir.empty() ? "." : dir.c_str(), 0);
    if (rc != 0) {
      LOG_WARN("cannot watch certificate directory; polling it instead", {"directory", dir},
               {"error", uv_err_name(rc)});
      event::closeAndDelete(handle);
      continue;
    }
    watches_.push_back(handle);
  }
  debounce_timer_ = dispatcher_.createTimer([this] {
    statChanged();
    on_change_();
  });
  poll_timer_ = dispatcher_.createTimer([this] { poll(); });
  poll_timer_->enable(poll_interval_);
}

void CertificateWatcher::stop() {
  for (uv_fs_event_t* h : watches_) {
    uv_fs_event_stop(h);
    event::closeAndDelete(h);
  }
  watches_.clear();
  debounce_timer_.reset();
  poll_timer_.reset();
}

void CertificateWatcher::onFsEvent(uv_fs_event_t* handle, const char*, int, int status) {
  auto* self = static_cast<CertificateWatcher*>(handle->data);
  if (self == nullptr || status != 0) return;
  self->schedule();
}

void CertificateWatcher::schedule() {
  // A rotation is a burst of events (several files, a symlink swap): act once it settles.
  if (debounce_timer_) debounce_timer_->enable(debounce_);
}

void CertificateWatcher::poll() {
  if (statChanged()) on_change_();
  poll_timer_->enable(poll_interval_);
}

bool CertificateWatcher::statChanged() {
  bool changed = false;
  for (FileState& f : files_) {
    struct stat st {};
    FileState now{f.path};
    if (::stat(f.path.c_str(), &st) == 0) {  // follows symlinks: a swapped ..data shows
      now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      now.size = st.st_size;
      now.inode = st.st_ino;
    }
    if (now.mtime_ns != f.mtime_ns || now.size != f.size || now.inode != f.inode) {
      changed = true;
      f = std::move(now);
    }
  }
  return changed;
}

}  // namespace podproxy::tls
