#pragma once

// Told once about every HTTP stream when it ends, with what happened to it: the hook for
// Istio metrics and access logs (filters/telemetry/listener_telemetry.h). Runs on the worker
// that owned the stream, so an implementation keeps worker-local state without locks.

#include "proxy/http/header_map.h"
#include "proxy/http/stream_info.h"

namespace podproxy::http {

class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  // The stream completed, was reset, or lost its connection. `request` is null when the request
  // headers never arrived; `response` / `response_trailers` are null when none were sent.
  virtual void onStreamComplete(const StreamInfo& info, const RequestHeaders* request,
                                const ResponseHeaders* response,
                                const TrailerMap* response_trailers) = 0;
};

}  // namespace podproxy::http
