#include "proxy/tracing/trace_context.h"

#include <gtest/gtest.h>

namespace podproxy::tracing {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParent, ParsesTheW3cExample) {
  auto tp = TraceParent::parse(kValid);
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(tp->flags, 1);
  EXPECT_TRUE(tp->sampled());
  EXPECT_EQ(tp->toString(), kValid);
}

TEST(TraceParent, RejectsWhatTheSpecRejects) {
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",           // no flags
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // v00 with more
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // bad separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
      "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // bad version
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",       // v01, no '-' after
  };
  for (const char* h : bad) EXPECT_FALSE(TraceParent::parse(h)) << h;
}

TEST(TraceParent, AcceptsALaterVersionWithMoreFieldsAndAnswersInVersion00) {
  auto tp = TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what");
  ASSERT_TRUE(tp);
  EXPECT_FALSE(tp->sampled());
  EXPECT_EQ(tp->toString().substr(0, 3), "00-");
}

TEST(TraceContext, RandomIdsAreLowerHexOfTheRightLengthAndNeverZero) {
  Random random(1);
  for (int i = 0; i < 100; ++i) {
    const std::string id = randomHexId(random, 32);
    EXPECT_EQ(id.size(), 32u);
    EXPECT_TRUE(isLowerHex(id));
    EXPECT_FALSE(isAllZero(id));
  }
  EXPECT_EQ(randomHexId(random, 16).size(), 16u);
}

TEST(B3Context, ParsesMultiAndSingleForms) {
  auto multi =
      B3Context::parseMulti("463ac35c9f6413ad", "a2fb4a1d1a96d312", "0020000000000001", "1", "");
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->trace_id, "463ac35c9f6413ad");
  EXPECT_EQ(multi->parent_span_id, "0020000000000001");
  EXPECT_EQ(multi->sampled, true);

  auto single = B3Context::parseSingle(
      "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->trace_id, "80f198ee56343ba864fe8b2a57d3eff7");
  EXPECT_EQ(single->span_id, "e457b5a2e4d86bd1");
  EXPECT_EQ(single->parent_span_id, "05e3ac9a4f6e3b90");
  EXPECT_EQ(single->toSingle(),
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90");

  EXPECT_FALSE(B3Context::parseSingle("0"));  // sampling state only: no ids
  EXPECT_FALSE(B3Context::parseMulti("xyz", "a2fb4a1d1a96d312", "", "", ""));
  EXPECT_FALSE(B3Context::parseMulti("463ac35c9f6413ad", "", "", "", ""));
}

TEST(TraceParent, ValidAndTheFieldAccessorsAgreeWithParse) {
  const std::string_view h = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  ASSERT_TRUE(TraceParent::valid(h));
  auto tp = TraceParent::parse(h);
  ASSERT_TRUE(tp);
  EXPECT_EQ(TraceParent::traceIdOf(h), tp->trace_id);
  EXPECT_EQ(TraceParent::parentIdOf(h), tp->parent_id);
  EXPECT_EQ(TraceParent::flagsOf(h), 1);
  EXPECT_FALSE(TraceParent::valid("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
  EXPECT_FALSE(TraceParent::valid(""));

  char buf[TraceParent::kLength];
  EXPECT_EQ(TraceParent::format(tp->trace_id, tp->parent_id, 0x03, buf),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
  EXPECT_EQ(TraceParent::format(tp->trace_id, tp->parent_id, tp->flags, buf), tp->toString());
}

TEST(TraceContext, RandomIdIntoABufferMatchesTheStringForm) {
  Random a(11);
  Random b(11);
  char buf[17];
  buf[16] = '#';
  randomHexId(b, buf, 16);
  EXPECT_EQ(std::string(buf, 16), randomHexId(a, 16));
  EXPECT_EQ(buf[16], '#');
}

}  // namespace
}  // namespace podproxy::tracing
