#include "proxy/access_log/access_log_formatter.h"

#include <gtest/gtest.h>

namespace podproxy::access_log {
namespace {

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

TEST(AccessLogFormatter, FieldNamesResolveBothWays) {
  EXPECT_EQ(accessLogFieldByName("x_forwarded_for"), AccessLogField::kXForwardedFor);
  EXPECT_EQ(accessLogFieldName(AccessLogField::kTraceId), "trace_id");
  EXPECT_FALSE(accessLogFieldByName("nope").has_value());
}

}  // namespace
}  // namespace podproxy::access_log
