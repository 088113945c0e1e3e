#include "proxy/access_log/access_log_formatter.h"

#include <charconv>
#include <cstdio>
#include <ctime>

#include "proxy/common/logger.h"

namespace podproxy::access_log {

namespace {

// Runs of plain bytes are appended whole: almost nothing in a request needs escaping, and this
// is the bulk of the formatting cost.
void appendEscaped(std::string& out, std::string_view s) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    Logger::appendJsonEscaped(out, s.substr(i, 1));
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

void appendString(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += "null";
    return;
  }
  out += '"';
  appendEscaped(out, value);
  out += '"';
}

template <typename Int>
void appendInt(std::string& out, Int value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

}  // namespace

AccessLogFormatter::AccessLogFormatter(std::vector<AccessLogField> fields)
    : fields_(std::move(fields)) {
  if (fields_.empty()) {
    for (size_t i = 0; i < kAccessLogFieldNames.size(); ++i) {
      fields_.push_back(static_cast<AccessLogField>(i));
    }
  }
}

void AccessLogFormatter::appendTime(int64_t unix_ms, std::string& out) {
  const int64_t second = unix_ms / 1000;
  if (second != cached_second_) {
    cached_second_ = second;
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(cached_prefix_, sizeof(cached_prefix_), "%04d-%02d-%02dT%02d:%02d:%02d.",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  out += '"';
  out += cached_prefix_;
  const int millis = static_cast<int>(unix_ms % 1000);
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += "Z\"";
}

void AccessLogFormatter::format(const AccessLogRecord& r, std::string& out) {
  out += '{';
  bool first = true;
  for (const AccessLogField field : fields_) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += accessLogFieldName(field);
    out += "\":";
    switch (field) {
      case AccessLogField::kStartTime:
        appendTime(r.start_time_unix_ms, out);
        break;
      case AccessLogField::kMethod:
        appendString(out, r.method);
        break;
      case AccessLogField::kPath:
        appendString(out, r.path);
        break;
      case AccessLogField::kProtocol:
        appendString(out, r.protocol);
        break;
      case AccessLogField::kResponseCode:
        if (r.has_response_code) {
          appendInt(out, r.response_code);
        } else {
          out += "null";
        }
        break;
      case AccessLogField::kResponseFlags:
        appendString(out, r.response_flags);
        break;
      case AccessLogField::kResponseCodeDetails:
        appendString(out, r.response_code_details);
        break;
      case AccessLogField::kBytesReceived:
        appendInt(out, r.bytes_received);
        break;
      case AccessLogField::kBytesSent:
        appendInt(out, r.bytes_sent);
        break;
      case AccessLogField::kDuration:
        appendInt(out, r.duration_ms);
        break;
      case AccessLogField::kUpstreamServiceTime:
        if (r.upstream_service_time_ms >= 0) {
          appendInt(out, r.upstream_service_time_ms);
        } else {
          out += "null";
        }
        break;
      case AccessLogField::kXForwardedFor:
        appendString(out, r.x_forwarded_for);
        break;
      case AccessLogField::kUserAgent:
        appendString(out, r.user_agent);
        break;
      case AccessLogField::kRequestId:
        appendString(out, r.request_id);
        break;
      case AccessLogField::kAuthority:
        appendString(out, r.authority);
        break;
      case AccessLogField::kUpstreamHost:
        appendString(out, r.upstream_host);
        break;
      case AccessLogField::kUpstreamCluster:
        appendString(out, r.upstream_cluster);
        break;
      case AccessLogField::kRouteName:
        appendString(out, r.route_name);
        break;
      case AccessLogField::kDownstreamRemoteAddress:
        appendString(out, r.downstream_remote_address);
        break;
      case AccessLogField::kTraceId:
        appendString(out, r.trace_id);
        break;
      case AccessLogField::kSpanId:
        appendString(out, r.span_id);
        break;
      case AccessLogField::kParentSpanId:
        appendString(out, r.parent_span_id);
        break;
      case AccessLogField::kDownstreamPeerUriSan:
        appendString(out, r.downstream_peer_uri_san);
        break;
      case AccessLogField::kListenerName:
        appendString(out, r.listener_name);
        break;
    }
  }
  out += "}\n";
}

}  // namespace podproxy::access_log
