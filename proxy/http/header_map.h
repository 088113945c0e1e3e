#pragma once

// HTTP messages as the codecs hand them to the connection manager and filters, independent of
// the wire protocol. Header names are stored lower-case; lookups are case-insensitive.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proxy/common/block_cache.h"

namespace podproxy::http {

// The fields of one message. Names and values live in storage the map owns: the first 512
// bytes of them, and the first 16 entries, share one 1 KiB block that comes from a per-thread
// cache, so a typical request or response allocates nothing here in steady state; larger
// messages spill into heap chunks. Views handed out stay valid until the map is cleared or
// destroyed, or the entry is set() or removed.
class HeaderMap {
 public:
  struct Entry {
    std::string_view name;  // lower-case
    std::string_view value;
  };

  HeaderMap() = default;
  HeaderMap(const HeaderMap& other);
  HeaderMap& operator=(const HeaderMap& other);
  HeaderMap(HeaderMap&& other) noexcept;
  HeaderMap& operator=(HeaderMap&& other) noexcept;
  ~HeaderMap() { release(); }

  // `name` is lower-cased on the way in.
  void add(std::string_view name, std::string_view value);
  // Replaces every existing value of `name` with one value.
  void set(std::string_view name, std::string_view value);
  // Returns how many entries were removed.
  size_t remove(std::string_view name);
  // First value of `name`, or nullptr.
  const std::string_view* get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  // All values of `name` joined with ", " (RFC 9110 field combination), or nullopt.
  std::optional<std::string> getJoined(std::string_view name) const;

  std::span<const Entry> entries() const { return {entries_, size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes as they would appear on an HTTP/1 wire (name + ": " + value + CRLF).
  size_t byteSize() const;
  void clear();

 private:
  struct Chunk;

  // Room for `n` more bytes of names and values; returns where they go.
  char* reserveBytes(size_t n);
  char* growBytes(size_t n);
  // Entries and bytes start over in `block`.
  void useBlock(void* block);
  Entry& appendEntry();
  // Frees the heap chunks and a heap entry array; the block stays.
  void releaseSpill();
  // Back to the empty state of a new map, the block returned to the cache.
  void release();

  void* block_ = nullptr;     // the cached block: entries first, then bytes
  Entry* entries_ = nullptr;  // in block_, or a heap array once past the block's 16
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  char* cursor_ = nullptr;  // next free byte of the current byte region
  char* limit_ = nullptr;
  Chunk* chunks_ = nullptr;  // heap chunks for bytes past the block's, newest first
};

// True for ASCII-case-insensitive equality; names in HeaderMap are already lower-case.
bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string toLower(std::string_view s);

// Made and freed once per request: recycled per thread (ThreadCached).
struct RequestHeaders : ThreadCached<RequestHeaders, 128> {
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
  // HTTP/2 only: the request came as an extended CONNECT (RFC 8441, `:protocol` in `upgrade`),
  // which the codec presents as the HTTP/1.1 form (GET with an Upgrade offer). Its 101 goes
  // back to the client as a 200, and its DATA after that are the tunnel's bytes.
  bool extended_connect = false;

  bool isHttp10() const { return http_major == 1 && http_minor == 0; }
};

struct ResponseHeaders : ThreadCached<ResponseHeaders, 128> {
  uint16_t status = 200;
  HeaderMap headers;
};

// Trailers are plain header maps.
using TrailerMap = HeaderMap;

// Canonical reason phrase ("Not Found") for a status code; "Unknown" if none.
std::string_view reasonPhrase(uint16_t status);

}  // namespace podproxy::http
