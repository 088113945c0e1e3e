#pragma once

// Formats one access-log record as one JSON line with the configured fields, into a buffer the
// caller reuses (no allocation once it has grown; one capacity check per line). Empty strings and
// unknown values are JSON null, as in Envoy's JSON access logs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/access_log/access_log_fields.h"

namespace podproxy::access_log {

// What one HTTP request or TCP session did; views are valid for the format() call only.
struct AccessLogRecord {
  int64_t start_time_unix_ms = 0;
  std::string_view method;
  std::string_view path;
  std::string_view protocol;   // "HTTP/1.1", "tcp"
  uint16_t response_code = 0;  // 0: none (TCP, or no response); written as 0 for HTTP, null for TCP
  bool has_response_code = true;
  std::string_view response_flags;  // "-" when none
  std::string_view response_code_details;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t duration_ms = 0;
  int64_t upstream_service_time_ms = -1;  // -1: null
  std::string_view x_forwarded_for;
  std::string_view user_agent;
  std::string_view request_id;
  std::string_view authority;
  std::string_view upstream_host;
  std::string_view upstream_cluster;
  std::string_view route_name;
  std::string_view downstream_remote_address;
  std::string_view trace_id;
  std::string_view span_id;
  std::string_view parent_span_id;
  std::string_view downstream_peer_uri_san;
  std::string_view listener_name;
};

class AccessLogFormatter {
 public:
  // Empty `fields`: every field in declaration order.
  explicit AccessLogFormatter(std::vector<AccessLogField> fields = {});

  // Appends one line (ending in '\n') to `out`.
  void format(const AccessLogRecord& record, std::string& out);

 private:
  struct Field {
    AccessLogField field;
    std::string key;  // `{"name":` for the first field, `,"name":` for the others
  };

  // An upper bound of the line's length: escaping can grow each byte of text sixfold.
  size_t maxLineBytes(const AccessLogRecord& record) const;
  char* putField(char* p, AccessLogField field, const AccessLogRecord& record);
  char* putTime(char* p, int64_t unix_ms);

  std::vector<Field> fields_;
  size_t fixed_bytes_ = 0;  // keys, numbers, nulls, quotes and braces
  // gmtime_r once per second, not per line.
  int64_t cached_second_ = -1;
  char cached_prefix_[64] = {};  // "2026-11-21T06:12:34."; room for any year gmtime_r gives
};

}  // namespace podproxy::access_log
