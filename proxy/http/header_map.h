#pragma once

// HTTP messages as the codecs hand them to the connection manager and filters, independent of
// the wire protocol. Header names are stored lower-case; lookups are case-insensitive.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podproxy::http {

class HeaderMap {
 public:
  struct Entry {
    std::string name;  // lower-case
    std::string value;
  };

  // `name` is lower-cased on the way in.
  void add(std::string_view name, std::string_view value);
  // Replaces every existing value of `name` with one value.
  void set(std::string_view name, std::string_view value);
  // Returns how many entries were removed.
  size_t remove(std::string_view name);
  // First value of `name`, or nullptr.
  const std::string* get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  // All values of `name` joined with ", " (RFC 9110 field combination), or nullopt.
  std::optional<std::string> getJoined(std::string_view name) const;

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Bytes as they would appear on an HTTP/1 wire (name + ": " + value + CRLF).
  size_t byteSize() const;
  void clear() { entries_.clear(); }

 private:
  // 12 entries are 768 bytes: under glibc's 1 KiB large-chunk threshold, where every malloc
  // first consolidates the fast bins (measured: one consolidation per HTTP/2 request at 16).
  static constexpr size_t kTypicalFieldCount = 12;

  std::vector<Entry> entries_;
};

// True for ASCII-case-insensitive equality; names in HeaderMap are already lower-case.
bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string toLower(std::string_view s);

struct RequestHeaders {
  std::string method;     // "GET"
  std::string scheme;     // "http" unless known otherwise
  std::string authority;  // Host header (HTTP/1) or :authority (HTTP/2)
  std::string path;       // origin-form path and query ("/a?b=c"), also for absolute-form input
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  HeaderMap headers;  // regular headers; Host is carried in `authority`, not here
  // HTTP/1.1 only: the Upgrade field when Connection nominated "upgrade" (both are hop-by-hop
  // and so not in `headers`). Empty: no upgrade offered, or not to be forwarded.
  std::string upgrade;

  bool isHttp10() const { return http_major == 1 && http_minor == 0; }
};

struct ResponseHeaders {
  uint16_t status = 200;
  HeaderMap headers;
};

// Trailers are plain header maps.
using TrailerMap = HeaderMap;

// Canonical reason phrase ("Not Found") for a status code; "Unknown" if none.
std::string_view reasonPhrase(uint16_t status);

}  // namespace podproxy::http
