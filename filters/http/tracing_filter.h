#pragma once

// The tracing filter: runs before the router on every request. It continues a W3C traceparent
// (same trace id and flags, a new span id for this hop, the caller's span kept as the parent,
// tracestate passed on) or starts a new trace under the configured sampling rate, and keeps any
// B3 headers consistent with it. The trace ids land in StreamInfo for the access log.

#include <memory>

#include "config/model.h"
#include "proxy/common/random.h"
#include "proxy/http/filter.h"

namespace podproxy::tracing {

// The propagation rules, on a request's headers (unit-tested directly).
void propagateTraceContext(http::HeaderMap& headers, http::StreamInfo& info,
                           double sampling_percent, Random& random);

class TracingFilter final : public http::StreamDecoderFilter {
 public:
  TracingFilter(const config::TracingConfig& config, Random& random)
      : config_(config), random_(random) {}

  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    propagateTraceContext(headers.headers, callbacks_->streamInfo(), config_.sampling, random_);
    return http::FilterHeadersStatus::kContinue;
  }
  http::FilterDataStatus decodeData(buffer::Buffer&, bool) override {
    return http::FilterDataStatus::kContinue;
  }
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap&) override {
    return http::FilterTrailersStatus::kContinue;
  }

 private:
  const config::TracingConfig& config_;
  Random& random_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
};

// Adds the tracing filter, then the listener's own chain (the router last).
class TracingFilterChainFactory final : public http::FilterChainFactory {
 public:
  TracingFilterChainFactory(const config::TracingConfig& config, Random& random,
                            std::unique_ptr<http::FilterChainFactory> inner)
      : config_(config), random_(random), inner_(std::move(inner)) {}
  void createFilterChain(http::FilterChainFactoryCallbacks& callbacks) override {
    http::addDecoderFilterInPlace<TracingFilter>(callbacks, config_, random_);
    inner_->createFilterChain(callbacks);
  }

 private:
  const config::TracingConfig& config_;
  Random& random_;
  std::unique_ptr<http::FilterChainFactory> inner_;
};

}  // namespace podproxy::tracing
