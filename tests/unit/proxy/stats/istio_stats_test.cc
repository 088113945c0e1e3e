#include "proxy/stats/istio_stats.h"

#include <gtest/gtest.h>

namespace podproxy::stats {
namespace {

TEST(IstioStats, ResponseFlagsRoundTripInCanonicalOrder) {
  const uint32_t bits = responseFlagBits("UT,UF");
  EXPECT_EQ(responseFlagsLabel(bits), "UF,UT");
  EXPECT_EQ(responseFlagBits(""), 0u);
  EXPECT_EQ(responseFlagsLabel(0), "-");
  EXPECT_EQ(responseFlagsLabel(responseFlagBits("NR")), "NR");
}

TEST(IstioStats, UnknownResponseFlagsCollapseIntoOneBoundedValue) {
  EXPECT_EQ(responseFlagBits("ZZ"), kOtherResponseFlagBit);
  EXPECT_EQ(responseFlagBits("ZZ,YY"), kOtherResponseFlagBit);
  EXPECT_EQ(responseFlagsLabel(responseFlagBits("DC,ZZ")), "DC,OTHER");
}

TEST(IstioStats, HttpKeyPacksAndUnpacksEveryField) {
  HttpSeriesKey k;
  k.response_flags = responseFlagBits("UO,DC");
  k.response_code = 503;
  k.cluster = 17;
  k.grpc_status = grpcStatusKey("14");
  k.protocol = RequestProtocol::kGrpc;
  const HttpSeriesKey u = HttpSeriesKey::unpack(k.pack());
  EXPECT_EQ(u.response_flags, k.response_flags);
  EXPECT_EQ(u.response_code, 503);
  EXPECT_EQ(u.cluster, 17);
  EXPECT_EQ(grpcStatusLabel(u.grpc_status), "14");
  EXPECT_EQ(u.protocol, RequestProtocol::kGrpc);

  HttpSeriesKey other = k;
  other.response_code = 200;
  EXPECT_NE(other.pack(), k.pack());
}

TEST(IstioStats, GrpcStatusKeys) {
  EXPECT_EQ(grpcStatusLabel(grpcStatusKey("")), "");
  EXPECT_EQ(grpcStatusLabel(grpcStatusKey("0")), "0");
  EXPECT_EQ(grpcStatusLabel(grpcStatusKey("16")), "16");
  EXPECT_EQ(grpcStatusKey("17"), kGrpcStatusOther);
  EXPECT_EQ(grpcStatusKey("x"), kGrpcStatusOther);
}

TEST(Histogram, BucketsAreInclusiveUpperBounds) {
  Histogram h(kDurationBucketsMs);
  h.observe(0.5);  // le=0.5
  h.observe(1);    // le=1
  h.observe(3);    // le=5
  h.observe(4e6);  // +Inf
  EXPECT_EQ(h.bucket(0), 1u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(2), 1u);
  EXPECT_EQ(h.bucket(kDurationBucketsMs.size()), 1u);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 4.5 + 4e6);
}

TEST(IstioShard, MergeSumsSeriesOfEqualKeysAndKeepsOthers) {
  IstioShard a;
  IstioShard b;
  HttpSeriesKey ok;
  ok.response_code = 200;
  ok.cluster = 0;
  HttpSeriesKey bad = ok;
  bad.response_code = 503;
  ++a.httpSeries(ok).requests;
  a.httpSeries(ok).duration_ms.observe(3);
  b.httpSeries(ok).requests += 2;
  b.httpSeries(ok).duration_ms.observe(30);
  ++b.httpSeries(bad).requests;
  ++b.tcpSeries({0, 1}).opened;
  b.tcpSeries({0, 1}).bytes.received += 10;

  IstioShard total;
  total.merge(a);
  total.merge(b);
  ASSERT_EQ(total.http.size(), 2u);
  EXPECT_EQ(total.httpSeries(ok).requests, 3u);
  EXPECT_EQ(total.httpSeries(ok).duration_ms.count(), 2u);
  EXPECT_DOUBLE_EQ(total.httpSeries(ok).duration_ms.sum(), 33);
  EXPECT_EQ(total.httpSeries(bad).requests, 1u);
  EXPECT_EQ(total.tcpSeries({0, 1}).bytes.received, 10u);
  // The sources are untouched (they stay the workers' cumulative counters).
  EXPECT_EQ(a.httpSeries(ok).requests, 1u);
}

TEST(PrincipalTable, InternsEachIdOnceAndCapsDistinctIdsCountingTheOverflow) {
  PrincipalTable t;
  EXPECT_EQ(t.intern(""), kNoPrincipal);
  const uint16_t a = t.intern("spiffe://cluster.local/ns/a/sa/x");
  EXPECT_NE(a, kNoPrincipal);
  EXPECT_EQ(t.intern("spiffe://cluster.local/ns/a/sa/x"), a);
  EXPECT_EQ(t.name(a), "spiffe://cluster.local/ns/a/sa/x");
  EXPECT_EQ(t.name(kNoPrincipal), "");
  for (size_t i = t.size(); i < kMaxPrincipalsPerShard; ++i) {
    EXPECT_NE(t.intern("spiffe://td/n" + std::to_string(i)), kNoPrincipal);
  }
  EXPECT_EQ(t.size(), kMaxPrincipalsPerShard);
  EXPECT_EQ(t.intern("spiffe://td/one-too-many"), kNoPrincipal);
  EXPECT_EQ(t.intern("spiffe://td/another"), kNoPrincipal);
  EXPECT_EQ(t.overflow(), 2u);
  EXPECT_EQ(t.intern("spiffe://cluster.local/ns/a/sa/x"), a);  // known ones still resolve
}

TEST(IstioShard, SeriesOfDifferentIdentitiesStayApartAndMergeTranslatesPrincipalIds) {
  IstioShard a;
  IstioShard b;
  // Each worker numbers principals in the order it met them: ids differ across shards.
  b.principals.intern("spiffe://td/other");
  HttpSeriesKey k;
  k.response_code = 200;
  HttpSeriesKey plain = k;
  k.identity = a.identity("spiffe://td/client", "spiffe://td/server", true);
  ++a.httpSeries(k).requests;
  ++a.httpSeries(plain).requests;
  HttpSeriesKey kb = plain;
  kb.identity = b.identity("spiffe://td/client", "spiffe://td/server", true);
  EXPECT_NE(kb.identity, k.identity);
  b.httpSeries(kb).requests += 2;
  EXPECT_EQ(a.http.size(), 2u);

  IstioShard total;
  total.merge(a);
  total.merge(b);
  ASSERT_EQ(total.http.size(), 2u);
  for (const auto& [id, series] : total.http) {
    const IdentityKey ik = IdentityKey::unpack(id.identity);
    if (!ik.mutual_tls) {
      EXPECT_EQ(series.requests, 1u);
      continue;
    }
    EXPECT_EQ(series.requests, 3u);
    EXPECT_EQ(total.principals.name(ik.source_principal), "spiffe://td/client");
    EXPECT_EQ(total.principals.name(ik.destination_principal), "spiffe://td/server");
  }
}

}  // namespace
}  // namespace podproxy::stats
