#pragma once

// HTTP/1 field rules shared by the server and client codecs: token and value checks, the
// Connection header, hop-by-hop removal (RFC 9110 7.6.1) and field serialization.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/buffer/buffer.h"
#include "proxy/http/header_map.h"

namespace podproxy::http::http1 {

// RFC 9110 token (field names, methods, Connection options); empty is not a token.
bool isToken(std::string_view s);
// Strips leading and trailing SP / HTAB.
inline std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
// Calls `f` with every comma-separated element of `value` (RFC 9110 5.6.1), OWS trimmed, empty
// ones skipped.
template <typename F>
void forEachListElement(std::string_view value, F&& f) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view element = trimOws(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}
// The protocol an Upgrade field offers first, its version dropped (RFC 9110 7.8:
// protocol-name ["/" protocol-version]): what routes list and what RFC 8441's :protocol names.
inline std::string_view firstUpgradeProtocol(std::string_view upgrade) {
  const std::string_view first = upgrade.substr(0, upgrade.find(','));
  return trimOws(first.substr(0, first.find('/')));
}
// A value that cannot end its line early or smuggle another field: no CR, LF or NUL.
bool isSafeFieldValue(std::string_view value);
// One or more ASCII digits: a Content-Length value the encoders pass on as it is.
inline bool isDigits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Field names the codecs treat specially, as bits (several at once for a set of names).
inline constexpr uint32_t kFieldConnection = 1u << 0;
inline constexpr uint32_t kFieldKeepAlive = 1u << 1;
inline constexpr uint32_t kFieldProxyConnection = 1u << 2;
inline constexpr uint32_t kFieldTransferEncoding = 1u << 3;
inline constexpr uint32_t kFieldTe = 1u << 4;
inline constexpr uint32_t kFieldUpgrade = 1u << 5;
inline constexpr uint32_t kFieldContentLength = 1u << 6;
inline constexpr uint32_t kFieldHost = 1u << 7;
inline constexpr uint32_t kFieldHopByHop = kFieldConnection | kFieldKeepAlive |
                                           kFieldProxyConnection | kFieldTransferEncoding |
                                           kFieldTe | kFieldUpgrade;
// The kField* bit of a lower-case name, 0 for any other name. One length switch and at most
// two compares: every field of every message goes through this.
inline uint32_t classifyField(std::string_view name) {
  const auto is = [&](std::string_view lit) {
    return std::memcmp(name.data(), lit.data(), lit.size()) == 0;
  };
  switch (name.size()) {
    case 2:
      return is("te") ? kFieldTe : 0;
    case 4:
      return is("host") ? kFieldHost : 0;
    case 7:
      return is("upgrade") ? kFieldUpgrade : 0;
    case 10:
      if (is("connection")) return kFieldConnection;
      return is("keep-alive") ? kFieldKeepAlive : 0;
    case 14:
      return is("content-length") ? kFieldContentLength : 0;
    case 16:
      return is("proxy-connection") ? kFieldProxyConnection : 0;
    case 17:
      return is("transfer-encoding") ? kFieldTransferEncoding : 0;
    default:
      return 0;
  }
}

// What a message's Connection header says.
struct ConnectionOptions {
  bool close = false;
  bool keep_alive = false;
  std::vector<std::string> nominated;  // other options, lower-case: more hop-by-hop field names
};
ConnectionOptions parseConnection(const HeaderMap& headers);

// True for fields that describe one connection, never forwarded: connection, keep-alive,
// proxy-connection, transfer-encoding, te, upgrade. `name` must be lower-case.
inline bool isHopByHop(std::string_view name) {
  return (classifyField(name) & kFieldHopByHop) != 0;
}
bool isNominatedSlow(const ConnectionOptions& options, std::string_view name);
inline bool isNominated(const ConnectionOptions& options, std::string_view name) {
  return !options.nominated.empty() && isNominatedSlow(options, name);
}

// Removes hop-by-hop fields and those nominated by Connection. "te" survives as "te: trailers"
// when it offered trailers and `keep_te_trailers` (a request going upstream). `also` names more
// kField* fields to remove in the same pass (kFieldHost, kFieldContentLength).
void stripHopByHop(HeaderMap& headers, const ConnectionOptions& options, bool keep_te_trailers,
                   uint32_t also = 0);

// Appends "name: value\r\n". Returns false (and appends nothing) for a field that would corrupt
// the message: a name that is not a token or a value with CR, LF or NUL.
bool appendField(std::string& out, std::string_view name, std::string_view value);

// Writes a message head straight into the free tail of a Buffer (one slice); a head larger than
// a slice goes through a scratch string instead. Nothing reaches the Buffer before finish().
class HeadWriter {
 public:
  // `max_size`: an upper bound of the bytes that will be written.
  HeadWriter(buffer::Buffer& out, size_t max_size);
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;

  void append(std::string_view s) {
    std::memcpy(pos_, s.data(), s.size());
    pos_ += s.size();
  }
  void push(char c) { *pos_++ = c; }
  // The decimal digits of `n`.
  void appendNumber(uint32_t n);
  // As appendField: false (and nothing written) for a field that would corrupt the message.
  bool field(std::string_view name, std::string_view value);
  // Commits what was written to the Buffer.
  void finish();

 private:
  buffer::Buffer& out_;
  std::string spill_;  // used only for heads larger than a slice
  char* begin_;
  char* pos_;
};

// Whether "te" lists the "trailers" option.
bool teOffersTrailers(std::string_view te_value);

// Moves `data` to `out` as one chunk of a chunked body ("<hex size>\r\n<data>\r\n"; nothing
// for empty data); `last` adds the terminating zero-size chunk with no trailers.
void appendChunk(buffer::Buffer& out, buffer::Buffer& data, bool last);
// Appends the terminating zero-size chunk carrying `trailers`, minus the fields a trailer
// section must not carry (hop-by-hop, content-length, host) and any that fail appendField.
void appendLastChunk(buffer::Buffer& out, const HeaderMap& trailers);

}  // namespace podproxy::http::http1
