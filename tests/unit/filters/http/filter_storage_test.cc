// The filters every stream gets are built inside the stream (no allocation per request): they
// must keep fitting in its filter storage.

#include <gtest/gtest.h>

#include "filters/http/authz_filter.h"
#include "filters/http/router.h"
#include "filters/http/tracing_filter.h"
#include "proxy/http/active_stream.h"

namespace podproxy {
namespace {

constexpr size_t roundUp(size_t n) {
  return (n + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
         alignof(std::max_align_t);
}

TEST(FilterStorage, TheTypicalChainFitsInTheStream) {
  const size_t chain = roundUp(sizeof(tracing::TracingFilter)) +
                       roundUp(sizeof(filters::HttpAuthzFilter)) + sizeof(router::Router);
  EXPECT_LE(chain, http::ActiveStream::kFilterStorageBytes)
      << "grow ActiveStream::kFilterStorageBytes";
}

}  // namespace
}  // namespace podproxy
