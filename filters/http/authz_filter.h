#pragma once

// The HTTP filter of TLS and mTLS listeners, before the router: authorization per request
// (403 when refused, with a counter and a debug line naming the rule), and the peer identity
// for the app: x-forwarded-client-cert in Envoy's format (By=<our SPIFFE ID>;Hash=<SHA-256 of
// the peer certificate>;URI=<peer SPIFFE ID>), replacing anything the client sent, and
// x-forwarded-proto https.

#include <memory>

#include "filters/authz/authz_policy.h"
#include "proxy/http/filter.h"

namespace podproxy::filters {

// The header value for a verified peer; "" when there is none.
std::string forwardedClientCert(const network::TlsInfo& tls);

class HttpAuthzFilter final : public http::StreamDecoderFilter {
 public:
  // `policy` may be null (identity headers only); it outlives the filter.
  explicit HttpAuthzFilter(const authz::AuthzPolicy* policy) : policy_(policy) {}

  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool end_stream) override;
  http::FilterDataStatus decodeData(buffer::Buffer&, bool) override {
    return denied_ ? http::FilterDataStatus::kStopIterationNoBuffer
                   : http::FilterDataStatus::kContinue;
  }
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap&) override {
    return denied_ ? http::FilterTrailersStatus::kStopIteration
                   : http::FilterTrailersStatus::kContinue;
  }

 private:
  const authz::AuthzPolicy* policy_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  bool denied_ = false;
};

// Adds an HttpAuthzFilter, then the filters of `next` (the router last).
class HttpAuthzFilterChainFactory final : public http::FilterChainFactory {
 public:
  HttpAuthzFilterChainFactory(std::shared_ptr<const authz::AuthzPolicy> policy,
                              std::unique_ptr<http::FilterChainFactory> next)
      : policy_(std::move(policy)), next_(std::move(next)) {}
  void createFilterChain(http::FilterChainFactoryCallbacks& callbacks) override {
    http::addDecoderFilterInPlace<HttpAuthzFilter>(callbacks, policy_.get());
    next_->createFilterChain(callbacks);
  }

 private:
  std::shared_ptr<const authz::AuthzPolicy> policy_;
  std::unique_ptr<http::FilterChainFactory> next_;
};

}  // namespace podproxy::filters
