#include "filters/http/tracing_filter.h"

#include <gtest/gtest.h>

#include "proxy/tracing/trace_context.h"

namespace podproxy::tracing {
namespace {

constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParent = "00f067aa0ba902b7";

std::string header(const http::HeaderMap& h, std::string_view name) {
  const std::string_view* v = h.get(name);
  return v != nullptr ? std::string(*v) : std::string("<absent>");
}

TEST(TracingFilter, ContinuesATraceparentWithANewSpanAndKeepsTracestate) {
  http::HeaderMap h;
  h.add("traceparent", "00-" + std::string(kTrace) + "-" + std::string(kParent) + "-01");
  h.add("tracestate", "congo=t61rcWkgMzE");
  http::StreamInfo info;
  Random random(7);
  propagateTraceContext(h, info, 0.0, random);

  auto out = TraceParent::parse(header(h, "traceparent"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, kTrace);
  EXPECT_NE(out->parent_id, kParent);  // our span
  EXPECT_EQ(out->flags, 1);            // the caller's sampling decision, not ours (0%)
  EXPECT_EQ(header(h, "tracestate"), "congo=t61rcWkgMzE");
  EXPECT_EQ(info.trace_id, kTrace);
  EXPECT_EQ(info.span_id, out->parent_id);
  EXPECT_EQ(info.parent_span_id, kParent);
}

TEST(TracingFilter, StartsATraceUnderTheSamplingRate) {
  Random random(7);
  for (double rate : {0.0, 100.0}) {
    http::HeaderMap h;
    http::StreamInfo info;
    propagateTraceContext(h, info, rate, random);
    auto out = TraceParent::parse(header(h, "traceparent"));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->sampled(), rate > 0);
    EXPECT_EQ(info.trace_id, out->trace_id);
    EXPECT_TRUE(info.parent_span_id.empty());
  }
  int sampled = 0;
  for (int i = 0; i < 2000; ++i) {
    http::HeaderMap h;
    http::StreamInfo info;
    propagateTraceContext(h, info, 25.0, random);
    sampled += TraceParent::parse(header(h, "traceparent"))->sampled();
  }
  EXPECT_GT(sampled, 400);
  EXPECT_LT(sampled, 600);
}

TEST(TracingFilter, AnInvalidTraceparentStartsANewTraceAndDropsItsTracestate) {
  http::HeaderMap h;
  h.add("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
  h.add("tracestate", "a=b");
  http::StreamInfo info;
  Random random(3);
  propagateTraceContext(h, info, 100.0, random);
  auto out = TraceParent::parse(header(h, "traceparent"));
  ASSERT_TRUE(out);
  EXPECT_NE(out->trace_id, "00000000000000000000000000000000");
  EXPECT_EQ(header(h, "tracestate"), "<absent>");
}

TEST(TracingFilter, B3HeadersFollowTheTraceparentSpan) {
  http::HeaderMap h;
  h.add("traceparent", "00-" + std::string(kTrace) + "-" + std::string(kParent) + "-01");
  h.add("x-b3-traceid", std::string(kTrace));
  h.add("x-b3-spanid", std::string(kParent));
  h.add("x-b3-sampled", "1");
  http::StreamInfo info;
  Random random(9);
  propagateTraceContext(h, info, 0.0, random);
  EXPECT_EQ(header(h, "x-b3-traceid"), kTrace);
  EXPECT_EQ(header(h, "x-b3-spanid"), info.span_id);
  EXPECT_EQ(header(h, "x-b3-parentspanid"), kParent);
  EXPECT_EQ(header(h, "x-b3-sampled"), "1");
}

TEST(TracingFilter, B3AloneContinuesItsTraceAndKeeps64BitIds) {
  http::HeaderMap h;
  h.add("x-b3-traceid", "463ac35c9f6413ad");
  h.add("x-b3-spanid", "a2fb4a1d1a96d312");
  h.add("x-b3-sampled", "0");
  http::StreamInfo info;
  Random random(5);
  propagateTraceContext(h, info, 100.0, random);
  EXPECT_EQ(info.trace_id, "0000000000000000463ac35c9f6413ad");
  EXPECT_EQ(header(h, "x-b3-traceid"), "463ac35c9f6413ad");
  EXPECT_EQ(header(h, "x-b3-spanid"), info.span_id);
  EXPECT_EQ(header(h, "x-b3-parentspanid"), "a2fb4a1d1a96d312");
  EXPECT_EQ(header(h, "x-b3-sampled"), "0");
  auto tp = TraceParent::parse(header(h, "traceparent"));
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id, info.trace_id);
  EXPECT_EQ(tp->parent_id, info.span_id);
  EXPECT_FALSE(tp->sampled());
}

TEST(TracingFilter, SingleB3HeaderIsRewrittenConsistently) {
  http::HeaderMap h;
  h.add("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
  http::StreamInfo info;
  Random random(5);
  propagateTraceContext(h, info, 0.0, random);
  EXPECT_EQ(header(h, "b3"),
            "80f198ee56343ba864fe8b2a57d3eff7-" + info.span_id.str() + "-1-e457b5a2e4d86bd1");
  EXPECT_EQ(info.trace_id, "80f198ee56343ba864fe8b2a57d3eff7");
}

}  // namespace
}  // namespace podproxy::tracing
