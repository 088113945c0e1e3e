#pragma once

// HTTP/1 field rules shared by the server and client codecs: token and value checks, the
// Connection header, hop-by-hop removal (RFC 9110 7.6.1) and field serialization.

#include <string>
#include <string_view>
#include <vector>

#include "proxy/buffer/buffer.h"
#include "proxy/http/header_map.h"

namespace podproxy::http::http1 {

// RFC 9110 token (field names, methods, Connection options); empty is not a token.
bool isToken(std::string_view s);
// Strips leading and trailing SP / HTAB.
std::string_view trimOws(std::string_view s);
// A value that cannot end its line early or smuggle another field: no CR, LF or NUL.
bool isSafeFieldValue(std::string_view value);

// What a message's Connection header says.
struct ConnectionOptions {
  bool close = false;
  bool keep_alive = false;
  std::vector<std::string> nominated;  // other options, lower-case: more hop-by-hop field names
};
ConnectionOptions parseConnection(const HeaderMap& headers);

// True for fields that describe one connection, never forwarded: connection, keep-alive,
// proxy-connection, transfer-encoding, te, upgrade. `name` must be lower-case.
bool isHopByHop(std::string_view name);
bool isNominated(const ConnectionOptions& options, std::string_view name);

// Removes hop-by-hop fields and those nominated by Connection. "te" survives as "te: trailers"
// when it offered trailers and `keep_te_trailers` (a request going upstream).
void stripHopByHop(HeaderMap& headers, const ConnectionOptions& options, bool keep_te_trailers);

// Appends "name: value\r\n". Returns false (and appends nothing) for a field that would corrupt
// the message: a name that is not a token or a value with CR, LF or NUL.
bool appendField(std::string& out, std::string_view name, std::string_view value);

// Whether "te" lists the "trailers" option.
bool teOffersTrailers(std::string_view te_value);

// Moves `data` to `out` as one chunk of a chunked body ("<hex size>\r\n<data>\r\n"; nothing
// for empty data); `last` adds the terminating zero-size chunk with no trailers.
void appendChunk(buffer::Buffer& out, buffer::Buffer& data, bool last);
// Appends the terminating zero-size chunk carrying `trailers`, minus the fields a trailer
// section must not carry (hop-by-hop, content-length, host) and any that fail appendField.
void appendLastChunk(buffer::Buffer& out, const HeaderMap& trailers);

}  // namespace podproxy::http::http1
