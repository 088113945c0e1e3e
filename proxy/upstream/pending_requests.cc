#include "proxy/upstream/pending_requests.h"

#include <algorithm>
#include <vector>

#include "proxy/common/logger.h"

namespace podproxy::upstream {

PendingRequests::PendingRequests(const Host& host, ResourceManager& resources, PoolStats& stats,
                                 std::function<void()> on_cancelled)
    : host_(host), resources_(resources), stats_(stats), on_cancelled_(std::move(on_cancelled)) {}

PendingRequests::~PendingRequests() {
  // Pools fail their queue on shutdown; whatever is left still gives its slots back.
  while (!list_.empty()) {
    take(list_.begin());
    resources_.releaseRequest();
  }
}

PendingRequests::Request* PendingRequests::enqueue(http::ResponseDecoder& decoder,
                                                   PoolCallbacks& callbacks,
                                                   http::StreamCallbacks& stream_callbacks,
                                                   bool needs_unused_connection,
                                                   bool needs_pending_slot) {
  if (needs_pending_slot && !resources_.tryAcquirePendingRequest()) {
    resources_.releaseRequest();
    ++stats_.overflow;
    callbacks.onPoolFailure(PoolFailureReason::kOverflow, "upstream overflow: max_pending_requests",
                            host_);
    return nullptr;
  }
  list_.push_back(std::make_unique<Request>(*this, decoder, callbacks, stream_callbacks,
                                            needs_unused_connection));
  Request* request = list_.back().get();
  request->holds_pending_slot_ = needs_pending_slot;
  request->entry_ = std::prev(list_.end());
  ++stats_.pending_total;
  stats_.pending_active = list_.size();
  return request;
}

PendingRequests::List::iterator PendingRequests::firstServable(bool unused_connection) {
  return std::find_if(list_.begin(), list_.end(), [&](const std::unique_ptr<Request>& request) {
    return unused_connection || !request->needs_unused_connection;
  });
}

std::unique_ptr<PendingRequests::Request> PendingRequests::take(List::iterator it) {
  std::unique_ptr<Request> request = std::move(*it);
  list_.erase(it);
  if (request->holds_pending_slot_) resources_.releasePendingRequest();
  stats_.pending_active = list_.size();
  return request;
}

void PendingRequests::cancel(Request& request) {
  std::unique_ptr<Request> owned = take(request.entry_);
  resources_.releaseRequest();
  // A connection opened for it still completes and waits idle for the next request.
  if (on_cancelled_) on_cancelled_();
}

bool PendingRequests::failOnConnectFailure(ClientCloseReason reason, std::string_view details) {
  if (reason != ClientCloseReason::kConnectFailure &&
      reason != ClientCloseReason::kConnectTimeout) {
    return false;
  }
  LOG_DEBUG("upstream connect failed", {"host", host_.addressString()}, {"reason", details});
  failAll(reason == ClientCloseReason::kConnectTimeout ? PoolFailureReason::kTimeout
                                                       : PoolFailureReason::kConnectFailure,
          details);
  return true;
}

void PendingRequests::failAll(PoolFailureReason reason, std::string_view details) {
  // Take them all first, so that a retry submitted from a failure callback is not failed too.
  std::vector<std::unique_ptr<Request>> failed;
  while (!list_.empty()) {
    failed.push_back(take(list_.begin()));
    resources_.releaseRequest();
    ++stats_.pending_failure;
  }
  for (auto& request : failed) request->callbacks.onPoolFailure(reason, details, host_);
}

}  // namespace podproxy::upstream
