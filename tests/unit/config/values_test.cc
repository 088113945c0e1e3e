#include "config/values.h"

#include <gtest/gtest.h>

namespace podproxy::config {
namespace {

TEST(ConfigValues, ParsesDurationsInEveryUnit) {
  EXPECT_EQ(parseDuration("250ms").value(), Duration(250));
  EXPECT_EQ(parseDuration("5s").value(), Duration(5000));
  EXPECT_EQ(parseDuration("1m").value(), Duration(60000));
  EXPECT_EQ(parseDuration("1h").value(), Duration(3600000));
  EXPECT_EQ(parseDuration("0s").value(), Duration(0));
  EXPECT_EQ(parseDuration("1500").value(), Duration(1500));  // plain integer: milliseconds
}

TEST(ConfigValues, RejectsMalformedDurations) {
  for (const char* junk : {"", "s", "-5s", "5 s", "5sec", "1.5s", "5S", "5sm", "0x10", "ms"}) {
    auto parsed = parseDuration(junk);
    EXPECT_FALSE(parsed.has_value()) << "'" << junk << "'";
    if (!parsed) {
      EXPECT_EQ(parsed.error(),
                "expected a duration like 250ms or 5s (units: ms, s, m, h; a plain integer is ms)");
    }
  }
}

TEST(ConfigValues, RejectsDurationsLongerThanAYear) {
  EXPECT_TRUE(parseDuration("8760h").has_value());
  EXPECT_FALSE(parseDuration("8761h").has_value());
  EXPECT_FALSE(parseDuration("99999999999999999999999ms").has_value());
}

TEST(ConfigValues, ParsesSizesWithBinarySuffixes) {
  EXPECT_EQ(parseSize("65536").value(), 65536u);
  EXPECT_EQ(parseSize("60KiB").value(), 60u * 1024);
  EXPECT_EQ(parseSize("1MiB").value(), 1024u * 1024);
  EXPECT_EQ(parseSize("3GiB").value(), 3u * 1024 * 1024 * 1024);
  EXPECT_EQ(parseSize("0").value(), 0u);
}

TEST(ConfigValues, RejectsMalformedOrOversizedSizes) {
  for (const char* junk : {"", "KiB", "60kb", "60KB", "60 KiB", "-1", "1.5MiB", "1Mi", "4GiB"}) {
    EXPECT_FALSE(parseSize(junk).has_value()) << "'" << junk << "'";
  }
  EXPECT_EQ(parseSize("4294967295").value(), 4294967295u);
  EXPECT_FALSE(parseSize("4294967296").has_value());
}

TEST(ConfigValues, ParsesUnsignedWithinRange) {
  EXPECT_EQ(parseUnsigned("256", 0, 256).value(), 256u);
  EXPECT_EQ(parseUnsigned("257", 0, 256).error(), "must be between 0 and 256");
  EXPECT_EQ(parseUnsigned("+1", 0, 256).error(), "expected a non-negative integer");
  EXPECT_FALSE(parseUnsigned("1 ", 0, 256).has_value());
}

TEST(ConfigValues, ParsesIpv4AndBracketedIpv6Addresses) {
  auto v4 = parseSocketAddress("127.0.0.1:10000", HostKind::kIpOnly, false);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 10000);
  auto v6 = parseSocketAddress("[::1]:15001", HostKind::kIpOnly, false);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 15001);
  EXPECT_EQ(formatSocketAddress(*v6), "[::1]:15001");
  EXPECT_EQ(formatSocketAddress(*v4), "127.0.0.1:10000");
}

TEST(ConfigValues, PortZeroOnlyWhereAllowed) {
  EXPECT_TRUE(parseSocketAddress("0.0.0.0:0", HostKind::kIpOnly, true).has_value());
  auto refused = parseSocketAddress("0.0.0.0:0", HostKind::kIpOnly, false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), "port must be between 1 and 65535");
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:65536", HostKind::kIpOnly, true).has_value());
}

TEST(ConfigValues, HostNamesOnlyForDnsEndpoints) {
  auto name = parseSocketAddress("app.svc.cluster.local:8080", HostKind::kIpOrDnsName, false);
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->host, "app.svc.cluster.local");
  auto ip_only = parseSocketAddress("localhost:8080", HostKind::kIpOnly, false);
  ASSERT_FALSE(ip_only.has_value());
  EXPECT_NE(ip_only.error().find("'localhost' is not an IP address"), std::string::npos);
}

TEST(ConfigValues, RejectsMalformedAddresses) {
  for (const char* junk :
       {"", "127.0.0.1", ":80", "127.0.0.1:", "::1:80", "[::1]80", "[::1]", "[localhost]:80",
        "[127.0.0.1]:80", "bad_host:80", "-a.b:80", "a..b:80", "127.0.0.1:http"}) {
    EXPECT_FALSE(parseSocketAddress(junk, HostKind::kIpOrDnsName, true).has_value())
        << "'" << junk << "'";
  }
}

TEST(ConfigValues, ValidatesDnsNames) {
  EXPECT_TRUE(isValidDnsName("localhost"));
  EXPECT_TRUE(isValidDnsName("a-b.example.com."));
  EXPECT_FALSE(isValidDnsName(std::string(64, 'a')));
  EXPECT_TRUE(isValidDnsName(std::string(63, 'a')));
  EXPECT_FALSE(isValidDnsName("a-.b"));
  EXPECT_FALSE(isValidDnsName("a_b"));
}

TEST(ConfigValues, ValidatesTokensAndHeaderValues) {
  EXPECT_TRUE(isValidToken("x-request-id"));
  EXPECT_TRUE(isValidToken("GET"));
  EXPECT_FALSE(isValidToken(""));
  EXPECT_FALSE(isValidToken("x request"));
  EXPECT_FALSE(isValidToken("x:y"));
  EXPECT_FALSE(isValidToken(":path"));
  EXPECT_TRUE(isValidHeaderValue("a value; with=stuff"));
  EXPECT_FALSE(isValidHeaderValue("a\r\nb"));
  EXPECT_FALSE(isValidHeaderValue(std::string_view("a\0b", 3)));
}

TEST(ConfigValues, AcceptsTheFourDomainForms) {
  for (const char* domain : {"*", "api.local", "*.local", "api.*", "10.0.0.1", "[::1]", "a_b.c"}) {
    EXPECT_TRUE(validateDomain(domain).has_value()) << domain;
  }
}

TEST(ConfigValues, RejectsOtherDomainForms) {
  for (const char* domain : {"", "**", "*.", ".*", "a.*.b", "*a.local", "api*", "*.*",
                             "api.local:80", "a..b", ".a", "[::1", "[zz]", "sp ace"}) {
    EXPECT_FALSE(validateDomain(domain).has_value()) << domain;
  }
  EXPECT_EQ(validateDomain("api.local:80").error(),
            "a domain is matched without its port: drop ':PORT'");
}

TEST(ConfigValues, LowerCasesAsciiOnly) {
  EXPECT_EQ(toLowerAscii("X-Foo_Ü"), "x-foo_Ü");
}

TEST(ConfigValues, KnowsTheLogLevels) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    EXPECT_TRUE(isValidLogLevel(level)) << level;
  }
  EXPECT_FALSE(isValidLogLevel("warning"));
  EXPECT_FALSE(isValidLogLevel("INFO"));
}

}  // namespace
}  // namespace podproxy::config
