// Filter-chain choice by TLS server name.

#include "proxy/tls/server_name_matcher.h"

#include <gtest/gtest.h>

namespace podproxy::tls {
namespace {

TEST(ServerNameMatcher, ExactBeatsWildcardAndLongerWildcardBeatsShorter) {
  const ServerNameMatcher matcher({{"*.example.com"}, {"api.example.com"}, {"*.eu.example.com"}});
  EXPECT_EQ(matcher.match("api.example.com"), 1);
  EXPECT_EQ(matcher.match("web.example.com"), 0);
  EXPECT_EQ(matcher.match("a.b.example.com"), 0);  // any name under example.com
  EXPECT_EQ(matcher.match("db.eu.example.com"), 2);
  EXPECT_EQ(matcher.match("eu.example.com"), 0);
}

TEST(ServerNameMatcher, UnknownOrMissingNameIsTheDefaultChain) {
  const ServerNameMatcher matcher(
      std::vector<std::vector<std::string>>{{"api.example.com", "*.api.example.com"}});
  EXPECT_EQ(matcher.match(""), -1);
  EXPECT_EQ(matcher.match("example.com"), -1);
  EXPECT_EQ(matcher.match("api.example.org"), -1);
  EXPECT_EQ(matcher.match("xapi.example.com"), -1);  // not under api.example.com
  EXPECT_EQ(matcher.match("v1.api.example.com"), 0);
}

TEST(ServerNameMatcher, ComparesCaseInsensitivelyAndIgnoresATrailingDot) {
  const ServerNameMatcher matcher({{"api.example.com"}, {"*.example.org"}});
  EXPECT_EQ(matcher.match("API.Example.COM"), 0);
  EXPECT_EQ(matcher.match("api.example.com."), 0);
  EXPECT_EQ(matcher.match("WWW.EXAMPLE.ORG"), 1);
}

}  // namespace
}  // namespace podproxy::tls
