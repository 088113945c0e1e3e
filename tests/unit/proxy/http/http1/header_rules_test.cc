// Field rules shared by the HTTP/1 codecs: the word-at-a-time value check, the name classifier,
// hop-by-hop stripping and the head writer.

#include "proxy/http/http1/header_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace podproxy::http::http1 {
namespace {

TEST(Http1HeaderRules, SafeFieldValueFindsCrLfNulAtEveryPosition) {
  for (size_t len = 0; len <= 40; ++len) {
    const std::string clean(len, 'v');
    EXPECT_TRUE(isSafeFieldValue(clean)) << len;
    for (size_t at = 0; at < len; ++at) {
      for (const char bad : {'\r', '\n', '\0'}) {
        std::string value = clean;
        value[at] = bad;
        EXPECT_FALSE(isSafeFieldValue(value))
            << "len " << len << " at " << at << " char " << static_cast<int>(bad);
      }
    }
  }
  // Near misses of the three bytes are fine (the word trick must not flag them).
  EXPECT_TRUE(isSafeFieldValue("\x0b\x0c\x0e\x01\x8d\x8a\x80\xff\t tab and space"));
  EXPECT_TRUE(isSafeFieldValue("\x8d\x8a\x80\xff"));
}

TEST(Http1HeaderRules, ClassifiesSpecialNames) {
  EXPECT_EQ(classifyField("connection"), kFieldConnection);
  EXPECT_EQ(classifyField("keep-alive"), kFieldKeepAlive);
  EXPECT_EQ(classifyField("proxy-connection"), kFieldProxyConnection);
  EXPECT_EQ(classifyField("transfer-encoding"), kFieldTransferEncoding);
  EXPECT_EQ(classifyField("te"), kFieldTe);
  EXPECT_EQ(classifyField("upgrade"), kFieldUpgrade);
  EXPECT_EQ(classifyField("content-length"), kFieldContentLength);
  EXPECT_EQ(classifyField("host"), kFieldHost);
  for (const char* other : {"", "t", "tf", "hosts", "hast", "connectiom", "keep-alivf",
                            "content-type", "x-upgrade", "upgradf", "transfer-encodinh"}) {
    EXPECT_EQ(classifyField(other), 0u) << other;
  }
  EXPECT_TRUE(isHopByHop("te"));
  EXPECT_FALSE(isHopByHop("host"));
  EXPECT_FALSE(isHopByHop("content-length"));
}

TEST(Http1HeaderRules, StripsOnlyWhatIsThereAndWhatWasAsked) {
  HeaderMap headers;
  headers.add("Host", "h");
  headers.add("Connection", "close, X-Private");
  headers.add("x-private", "1");
  headers.add("te", "gzip, trailers");
  headers.add("content-length", "5");
  headers.add("accept", "*/*");
  const ConnectionOptions options = parseConnection(headers);
  EXPECT_TRUE(options.close);
  ASSERT_EQ(options.nominated.size(), 1u);
  EXPECT_EQ(options.nominated[0], "x-private");
  stripHopByHop(headers, options, /*keep_te_trailers=*/true, kFieldHost);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers.entries()[0].name, "content-length");
  EXPECT_EQ(headers.entries()[1].name, "accept");
  EXPECT_EQ(headers.entries()[2].name, "te");
  EXPECT_EQ(headers.entries()[2].value, "trailers");
}

TEST(Http1HeaderRules, TeTrailersCountsInAnyOfSeveralTeFields) {
  HeaderMap headers;
  headers.add("te", "gzip");
  headers.add("accept", "*/*");
  headers.add("TE", "deflate, trailers");
  stripHopByHop(headers, ConnectionOptions{}, /*keep_te_trailers=*/true);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers.entries()[0].name, "accept");
  EXPECT_EQ(headers.entries()[1].name, "te");
  EXPECT_EQ(headers.entries()[1].value, "trailers");

  HeaderMap no_trailers;
  no_trailers.add("te", "gzip");
  no_trailers.add("te", "deflate");
  stripHopByHop(no_trailers, ConnectionOptions{}, /*keep_te_trailers=*/true);
  EXPECT_TRUE(no_trailers.empty());
}

TEST(Http1HeaderRules, HeadWriterWritesIntoTheBuffer) {
  buffer::Buffer out;
  out.add("before|");
  {
    HeadWriter w(out, 128);
    w.append("HTTP/1.1 ");
    w.appendNumber(204);
    w.push(' ');
    EXPECT_TRUE(w.field("a", "1"));
    EXPECT_TRUE(w.field("name-of-eight", "value of more than sixteen bytes"));
    EXPECT_FALSE(w.field("bad name", "v"));
    EXPECT_FALSE(w.field("n", "v\r\nx: y"));
    EXPECT_TRUE(w.field("abcd", "wxyz"));
    w.finish();
  }
  EXPECT_EQ(out.toString(),
            "before|HTTP/1.1 204 a: 1\r\nname-of-eight: value of more than sixteen bytes\r\n"
            "abcd: wxyz\r\n");
}

TEST(Http1HeaderRules, HeadWriterTakesHeadsLargerThanASlice) {
  const std::string big(buffer::kSliceSize, 'b');
  buffer::Buffer out;
  HeadWriter w(out, big.size() + 64);
  EXPECT_TRUE(w.field("x-big", big));
  w.append("\r\n");
  w.finish();
  EXPECT_EQ(out.length(), big.size() + 11);
  EXPECT_EQ(out.toString(), "x-big: " + big + "\r\n\r\n");
}

TEST(Http1HeaderRules, HeadWriterFillsAWholeSliceBehindOtherBytes) {
  // The bound is exactly a slice and the Buffer's tail slice already holds bytes: the head
  // goes into a slice of its own, every byte of it.
  const std::string head(buffer::kSliceSize, 'h');
  buffer::Buffer out;
  out.add("before|");
  HeadWriter w(out, buffer::kSliceSize);
  w.append(head);
  w.finish();
  EXPECT_EQ(out.length(), head.size() + 7);
  EXPECT_EQ(out.toString(), "before|" + head);
}

TEST(Http1HeaderRules, AppendFieldChecksAndAppends) {
  std::string s = "x";
  EXPECT_TRUE(appendField(s, "k", "v"));
  EXPECT_FALSE(appendField(s, "", "v"));
  EXPECT_FALSE(appendField(s, "k", std::string("a\0b", 3)));
  EXPECT_EQ(s, "xk: v\r\n");
}

TEST(Http1HeaderRules, FirstUpgradeProtocolDropsTheVersionTheOthersAndOws) {
  EXPECT_EQ(firstUpgradeProtocol("websocket"), "websocket");
  EXPECT_EQ(firstUpgradeProtocol(" WebSocket/13 , h2c"), "WebSocket");
  EXPECT_EQ(firstUpgradeProtocol("\tfoo\t,bar"), "foo");
  EXPECT_EQ(firstUpgradeProtocol(""), "");
}

}  // namespace
}  // namespace podproxy::http::http1
