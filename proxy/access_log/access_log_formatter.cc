#include "proxy/access_log/access_log_formatter.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "proxy/common/json_escape.h"

namespace podproxy::access_log {

namespace {

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* putString(char* p, std::string_view value) {
  if (value.empty()) return put(p, "null");
  *p++ = '"';
  p = writeJsonEscaped(p, value);
  *p++ = '"';
  return p;
}

template <typename Int>
char* putInt(char* p, Int value) {
  return std::to_chars(p, p + 24, value).ptr;
}

constexpr size_t kMaxNumberOrLiteral = 32;  // also the timestamp (26)

}  // namespace

AccessLogFormatter::AccessLogFormatter(std::vector<AccessLogField> fields) {
  if (fields.empty()) {
    for (size_t i = 0; i < kAccessLogFieldNames.size(); ++i) {
      fields.push_back(static_cast<AccessLogField>(i));
    }
  }
  for (const AccessLogField field : fields) {
    std::string key = fields_.empty() ? "{\"" : ",\"";
    key += accessLogFieldName(field);
    key += "\":";
    fixed_bytes_ += key.size() + kMaxNumberOrLiteral + 2;
    fields_.push_back(Field{field, std::move(key)});
  }
  fixed_bytes_ += 2;  // "}\n"
}

char* AccessLogFormatter::putTime(char* p, int64_t unix_ms) {
  const int64_t second = unix_ms / 1000;
  if (second != cached_second_) {
    cached_second_ = second;
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(cached_prefix_, sizeof(cached_prefix_), "%04d-%02d-%02dT%02d:%02d:%02d.",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  *p++ = '"';
  p = put(p, cached_prefix_);
  const int millis = static_cast<int>(unix_ms % 1000);
  *p++ = static_cast<char>('0' + millis / 100);
  *p++ = static_cast<char>('0' + millis / 10 % 10);
  *p++ = static_cast<char>('0' + millis % 10);
  return put(p, "Z\"");
}

size_t AccessLogFormatter::maxLineBytes(const AccessLogRecord& r) const {
  const size_t text = r.method.size() + r.path.size() + r.protocol.size() +
                      r.response_flags.size() + r.response_code_details.size() +
                      r.x_forwarded_for.size() + r.user_agent.size() + r.request_id.size() +
                      r.authority.size() + r.upstream_host.size() + r.upstream_cluster.size() +
                      r.route_name.size() + r.downstream_remote_address.size() + r.trace_id.size() +
                      r.span_id.size() + r.parent_span_id.size() +
                      r.downstream_peer_uri_san.size() + r.listener_name.size();
  return fixed_bytes_ + text * kMaxJsonEscapedGrowth;
}

char* AccessLogFormatter::putField(char* p, AccessLogField field, const AccessLogRecord& r) {
  switch (field) {
    case AccessLogField::kStartTime:
      return putTime(p, r.start_time_unix_ms);
    case AccessLogField::kMethod:
      return putString(p, r.method);
    case AccessLogField::kPath:
      return putString(p, r.path);
    case AccessLogField::kProtocol:
      return putString(p, r.protocol);
    case AccessLogField::kResponseCode:
      return r.has_response_code ? putInt(p, r.response_code) : put(p, "null");
    case AccessLogField::kResponseFlags:
      return putString(p, r.response_flags);
    case AccessLogField::kResponseCodeDetails:
      return putString(p, r.response_code_details);
    case AccessLogField::kBytesReceived:
      return putInt(p, r.bytes_received);
    case AccessLogField::kBytesSent:
      return putInt(p, r.bytes_sent);
    case AccessLogField::kDuration:
      return putInt(p, r.duration_ms);
    case AccessLogField::kUpstreamServiceTime:
      return r.upstream_service_time_ms >= 0 ? putInt(p, r.upstream_service_time_ms)
                                             : put(p, "null");
    case AccessLogField::kXForwardedFor:
      return putString(p, r.x_forwarded_for);
    case AccessLogField::kUserAgent:
      return putString(p, r.user_agent);
    case AccessLogField::kRequestId:
      return putString(p, r.request_id);
    case AccessLogField::kAuthority:
      return putString(p, r.authority);
    case AccessLogField::kUpstreamHost:
      return putString(p, r.upstream_host);
    case AccessLogField::kUpstreamCluster:
      return putString(p, r.upstream_cluster);
    case AccessLogField::kRouteName:
      return putString(p, r.route_name);
    case AccessLogField::kDownstreamRemoteAddress:
      return putString(p, r.downstream_remote_address);
    case AccessLogField::kTraceId:
      return putString(p, r.trace_id);
    case AccessLogField::kSpanId:
      return putString(p, r.span_id);
    case AccessLogField::kParentSpanId:
      return putString(p, r.parent_span_id);
    case AccessLogField::kDownstreamPeerUriSan:
      return putString(p, r.downstream_peer_uri_san);
    case AccessLogField::kListenerName:
      return putString(p, r.listener_name);
  }
  return p;
}

void AccessLogFormatter::format(const AccessLogRecord& r, std::string& out) {
  // One bound for the whole line, then plain pointer writes: no per-append capacity checks.
  const size_t old_size = out.size();
  out.resize_and_overwrite(old_size + maxLineBytes(r), [&](char* data, size_t) {
    char* p = data + old_size;
    for (const Field& f : fields_) {
      p = put(p, f.key);
      p = putField(p, f.field, r);
    }
    p = put(p, "}\n");
    return static_cast<size_t>(p - data);
  });
}

}  // namespace podproxy::access_log
