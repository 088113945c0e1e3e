#include "filters/http/header_mutations.h"

#include <gtest/gtest.h>

namespace podproxy::router {
namespace {

TEST(HeaderMutations, RequestRemovesThenAddsAndReplaces) {
  config::HeaderMutations mutations;
  mutations.request_headers_to_remove = {"x-internal", "x-env"};
  mutations.request_headers_to_add = {
      {"x-env", "prod", true}, {"x-tag", "b", true}, {"x-single", "new", false}};

  http::RequestHeaders request;
  request.headers.add("X-Internal", "secret");
  request.headers.add("x-env", "dev");
  request.headers.add("x-tag", "a");
  request.headers.add("x-single", "old1");
  request.headers.add("x-single", "old2");
  applyRequestMutations(mutations, request);

  EXPECT_FALSE(request.headers.has("x-internal"));
  EXPECT_EQ(request.headers.getJoined("x-env"), "prod");  // removed first, then added
  EXPECT_EQ(request.headers.getJoined("x-tag"), "a, b");
  EXPECT_EQ(request.headers.getJoined("x-single"), "new");
}

TEST(HeaderMutations, RequestHostEditGoesToAuthority) {
  config::HeaderMutations mutations;
  mutations.request_headers_to_add = {{"host", "rewritten.local", false}};
  http::RequestHeaders request;
  request.authority = "original.local";
  applyRequestMutations(mutations, request);
  EXPECT_EQ(request.authority, "rewritten.local");
  EXPECT_FALSE(request.headers.has("host"));
}

TEST(HeaderMutations, RequestAuthorityAndMixedCaseHostEditsGoToAuthority) {
  for (const char* name : {":authority", "Host"}) {
    config::HeaderMutations mutations;
    mutations.request_headers_to_add = {{"x-other", "1", true}, {name, "rewritten.local", true}};
    http::RequestHeaders request;
    request.authority = "original.local";
    applyRequestMutations(mutations, request);
    EXPECT_EQ(request.authority, "rewritten.local") << name;
    EXPECT_FALSE(request.headers.has("host")) << name;
    EXPECT_FALSE(request.headers.has(":authority")) << name;
    EXPECT_EQ(request.headers.size(), 1u) << name;
  }
}

TEST(HeaderMutations, ResponseUsesResponseListsOnly) {
  config::HeaderMutations mutations;
  mutations.request_headers_to_add = {{"x-request-only", "1", true}};
  mutations.response_headers_to_remove = {"server"};
  mutations.response_headers_to_add = {{"x-served-by", "podproxy", false}};

  http::ResponseHeaders response;
  response.headers.add("server", "backend");
  response.headers.add("x-served-by", "backend");
  applyResponseMutations(mutations, response);

  EXPECT_FALSE(response.headers.has("server"));
  EXPECT_FALSE(response.headers.has("x-request-only"));
  EXPECT_EQ(response.headers.getJoined("x-served-by"), "podproxy");
}

}  // namespace
}  // namespace podproxy::router
