// Authorization decisions: principals by SPIFFE ID, source CIDRs, HTTP conditions, allow/deny.

#include "filters/authz/authz_policy.h"

#include <gtest/gtest.h>

#include "proxy/network/cidr.h"
#include "proxy/tls/spiffe.h"

namespace podproxy::authz {
namespace {

network::TlsInfo peer(std::string id, bool verified = true) {
  network::TlsInfo tls;
  tls.peer_uri_san = std::move(id);
  tls.peer_certificate_presented = true;
  tls.peer_certificate_verified = verified;
  return tls;
}

http::RequestHeaders request(std::string method, std::string path) {
  http::RequestHeaders h;
  h.method = std::move(method);
  h.path = std::move(path);
  return h;
}

const network::Address kLocal = *network::Address::fromIp("127.0.0.1", 5000);
const network::Address kRemote = *network::Address::fromIp("10.1.2.3", 5000);

config::AuthzPrincipal principal(config::AuthzPrincipal::Kind kind, std::string value) {
  return config::AuthzPrincipal{kind, std::move(value)};
}

TEST(AuthzPolicy, AllowNeedsAMatchingRule) {
  config::Authorization c;
  c.action = config::Authorization::Action::kAllow;
  config::AuthzRule reads;
  reads.name = "frontend-reads";
  reads.principals = {principal(config::AuthzPrincipal::Kind::kExact,
                                "spiffe://cluster.local/ns/shop/sa/frontend")};
  reads.methods = {"GET"};
  reads.paths = {"/api/*"};
  c.rules = {reads};
  AuthzPolicy policy(c, "inbound");
  const auto frontend = peer("spiffe://cluster.local/ns/shop/sa/frontend");
  const auto get = request("GET", "/api/orders?x=1");
  auto d = policy.evaluate(kLocal, &frontend, &get);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "frontend-reads");
  const auto post = request("POST", "/api/orders");
  EXPECT_FALSE(policy.evaluate(kLocal, &frontend, &post).allowed);
  const auto admin = request("GET", "/admin");
  EXPECT_FALSE(policy.evaluate(kLocal, &frontend, &admin).allowed);
  const auto other = peer("spiffe://cluster.local/ns/shop/sa/other");
  EXPECT_FALSE(policy.evaluate(kLocal, &other, &get).allowed);
  // An unverified certificate is no identity.
  const auto unverified = peer("spiffe://cluster.local/ns/shop/sa/frontend", false);
  EXPECT_FALSE(policy.evaluate(kLocal, &unverified, &get).allowed);
  EXPECT_FALSE(policy.evaluate(kLocal, nullptr, &get).allowed);
  // TCP: a rule with HTTP conditions never matches.
  EXPECT_FALSE(policy.evaluate(kLocal, &frontend, nullptr).allowed);
}

TEST(AuthzPolicy, DenyRefusesOnlyWhatMatchesAndCounts) {
  config::Authorization c;
  c.action = config::Authorization::Action::kDeny;
  config::AuthzRule outside;
  outside.name = "outside";
  outside.source_ips = {"10.0.0.0/8"};
  config::AuthzRule other_ns;
  other_ns.name = "other-namespace";
  other_ns.principals = {principal(config::AuthzPrincipal::Kind::kNamespace, "dev")};
  c.rules = {outside, other_ns};
  AuthzPolicy policy(c, "inbound");
  const auto dev = peer("spiffe://cluster.local/ns/dev/sa/x");
  const auto prod = peer("spiffe://cluster.local/ns/prod/sa/x");
  auto d = policy.check(kRemote, &prod, nullptr);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "outside");
  EXPECT_EQ(policy.check(kLocal, &dev, nullptr).rule, "other-namespace");
  EXPECT_TRUE(policy.check(kLocal, &prod, nullptr).allowed);
  EXPECT_TRUE(policy.check(kLocal, nullptr, nullptr).allowed);
  EXPECT_EQ(policy.stats().denied.load(), 2u);
  EXPECT_EQ(policy.stats().allowed.load(), 2u);
}

TEST(AuthzPolicy, PrincipalKinds) {
  using Kind = config::AuthzPrincipal::Kind;
  const std::string id = "spiffe://cluster.local/ns/shop/sa/web";
  EXPECT_TRUE(principalMatches(principal(Kind::kExact, id), id));
  EXPECT_FALSE(principalMatches(principal(Kind::kExact, id), id + "2"));
  EXPECT_TRUE(principalMatches(principal(Kind::kPrefix, "spiffe://cluster.local/ns/shop/"), id));
  EXPECT_TRUE(principalMatches(principal(Kind::kTrustDomain, "cluster.local"), id));
  EXPECT_FALSE(principalMatches(principal(Kind::kTrustDomain, "cluster"), id));
  EXPECT_TRUE(principalMatches(principal(Kind::kNamespace, "shop"), id));
  EXPECT_FALSE(principalMatches(principal(Kind::kNamespace, "sho"), id));
}

TEST(AuthzPolicy, HeaderConditions) {
  config::Authorization c;
  config::AuthzRule rule;
  config::HeaderMatcher m;
  m.name = "x-team";
  m.kind = config::HeaderMatcher::Kind::kRegex;
  m.value = "pay(ments)?";
  rule.headers = {m};
  c.rules = {rule};
  AuthzPolicy policy(c, "l");
  auto r = request("GET", "/");
  EXPECT_FALSE(policy.evaluate(kLocal, nullptr, &r).allowed);
  r.headers.add("x-team", "payments");
  EXPECT_TRUE(policy.evaluate(kLocal, nullptr, &r).allowed);
}

TEST(Cidr, MatchesPrefixesOfBothFamilies) {
  auto v4 = network::Cidr::parse("10.1.0.0/17");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains(*network::Address::fromIp("10.1.127.255", 1)));
  EXPECT_FALSE(v4->contains(*network::Address::fromIp("10.1.128.0", 1)));
  EXPECT_TRUE(v4->contains(*network::Address::fromIp("::ffff:10.1.0.1", 1)));
  EXPECT_FALSE(v4->contains(*network::Address::fromIp("::1", 1)));
  auto v6 = network::Cidr::parse("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*network::Address::fromIp("fd12::1", 1)));
  EXPECT_FALSE(v6->contains(*network::Address::fromIp("fe80::1", 1)));
  EXPECT_TRUE(network::Cidr::parse("127.0.0.1")->contains(kLocal));
  EXPECT_FALSE(network::Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(network::Cidr::parse("10.0.0/8"));
  EXPECT_FALSE(network::Cidr::parse("10.0.0.0/"));
}

TEST(SpiffeId, ParsesKubernetesIdentities) {
  auto id = tls::parseSpiffeId("spiffe://cluster.local/ns/shop/sa/web");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->trust_domain, "cluster.local");
  EXPECT_EQ(id->namespace_name, "shop");
  EXPECT_EQ(id->service_account, "web");
  EXPECT_TRUE(tls::parseSpiffeId("spiffe://example.org"));
  EXPECT_FALSE(tls::parseSpiffeId("spiffe://Example.org/x"));
  EXPECT_FALSE(tls::parseSpiffeId("spiffe://example.org/"));
  EXPECT_FALSE(tls::parseSpiffeId("spiffe://example.org//x"));
  EXPECT_FALSE(tls::parseSpiffeId("spiffe:///x"));
  EXPECT_FALSE(tls::parseSpiffeId("https://example.org/x"));
  EXPECT_FALSE(tls::parseSpiffeId("spiffe://example.org/x?y"));
  EXPECT_EQ(tls::kubernetesSpiffeId("td", "ns1", "sa1"), "spiffe://td/ns/ns1/sa/sa1");
}

}  // namespace
}  // namespace podproxy::authz
