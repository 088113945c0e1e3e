#include "proxy/access_log/access_log_formatter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

namespace podproxy::access_log {
namespace {

// The JSON escaping the word-at-a-time escaper must match, written byte by byte (RFC 8259:
// quote, backslash and control characters escaped; \n \r \t short; the rest as \u00XX).
std::string referenceEscape(std::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

TEST(AccessLogFormatter, WritesEnvoyFieldNamesWithNullsForMissingValues) {
  AccessLogFormatter formatter({AccessLogField::kStartTime, AccessLogField::kMethod,
                                AccessLogField::kPath, AccessLogField::kResponseCode,
                                AccessLogField::kResponseFlags, AccessLogField::kDuration,
                                AccessLogField::kUpstreamServiceTime, AccessLogField::kUserAgent});
  AccessLogRecord r;
  r.start_time_unix_ms = 1700000000123;  // 2023-11-14T22:13:20.123Z
  r.method = "GET";
  r.path = "/a\"b";
  r.response_code = 404;
  r.response_flags = "NR";
  r.duration_ms = 7;
  std::string out;
  formatter.format(r, out);
  EXPECT_EQ(out,
            "{\"start_time\":\"2023-11-14T22:13:20.123Z\",\"method\":\"GET\",\"path\":\"/a\\\"b\","
            "\"response_code\":404,\"response_flags\":\"NR\",\"duration\":7,"
            "\"upstream_service_time\":null,\"user_agent\":null}\n");
}

TEST(AccessLogFormatter, DefaultIsEveryFieldInDeclarationOrder) {
  AccessLogFormatter formatter;
  AccessLogRecord r;
  r.start_time_unix_ms = 5;
  std::string out;
  formatter.format(r, out);
  size_t at = 0;
  for (std::string_view name : kAccessLogFieldNames) {
    const size_t found = out.find("\"" + std::string(name) + "\":", at);
    ASSERT_NE(found, std::string::npos) << name;
    at = found;
  }
  EXPECT_EQ(out.back(), '\n');
}

// The word-at-a-time escaper must agree with the byte-at-a-time reference wherever the special byte
// falls in an 8-byte word, and for every length around the word size.
TEST(AccessLogFormatter, EscapesLikeTheReferenceAtEveryOffsetAndLength) {
  // Includes a NUL byte, hence the explicit length.
  const std::string alphabet("aZ/-. \x7f\xc3\xa9\"\\\n\r\t\x01\x1f\0", 17);
  std::mt19937 rng(7);
  AccessLogFormatter formatter({AccessLogField::kPath});
  for (int round = 0; round < 2000; ++round) {
    std::string value(rng() % 40 + 1, 'x');
    for (char& c : value) {
      // Mostly plain bytes, sometimes a special one, so clean and dirty words both occur.
      if (rng() % 6 == 0) c = alphabet[rng() % alphabet.size()];
    }
    AccessLogRecord r;
    r.path = value;
    std::string out;
    formatter.format(r, out);
    const std::string expected = "{\"path\":\"" + referenceEscape(value) + "\"}\n";
    ASSERT_EQ(out, expected) << "round " << round;
  }
}

TEST(AccessLogFormatter, AppendsToWhatTheBufferAlreadyHolds) {
  AccessLogFormatter formatter({AccessLogField::kMethod, AccessLogField::kBytesSent});
  AccessLogRecord r;
  r.method = "POST";
  r.bytes_sent = 18446744073709551615ULL;
  std::string out = "previous line\n";
  formatter.format(r, out);
  formatter.format(r, out);
  EXPECT_EQ(out,
            "previous line\n"
            "{\"method\":\"POST\",\"bytes_sent\":18446744073709551615}\n"
            "{\"method\":\"POST\",\"bytes_sent\":18446744073709551615}\n");
}

TEST(AccessLogFormatter, WorstCaseEscapingFitsTheBound) {
  AccessLogFormatter formatter;
  AccessLogRecord r;
  const std::string controls(300, '\x01');
  r.method = r.path = r.protocol = r.user_agent = r.listener_name = controls;
  std::string out;
  formatter.format(r, out);
  const std::string escaped = referenceEscape(controls);
  EXPECT_NE(out.find("\"user_agent\":\"" + escaped + "\""), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
}

TEST(AccessLogFormatter, FieldNamesResolveBothWays) {
  EXPECT_EQ(accessLogFieldByName("x_forwarded_for"), AccessLogField::kXForwardedFor);
  EXPECT_EQ(accessLogFieldName(AccessLogField::kTraceId), "trace_id");
  EXPECT_FALSE(accessLogFieldByName("nope").has_value());
}

}  // namespace
}  // namespace podproxy::access_log
