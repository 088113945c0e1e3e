#pragma once

// JSON string escaping, shared by the logger, the config dump, the admin API and the access log
// (where it is the bulk of the formatting cost: clean 8-byte words are copied whole).

#include <cstddef>
#include <string>
#include <string_view>

namespace podproxy {

// Escaping grows a byte to at most 6 ("\u00XX").
inline constexpr size_t kMaxJsonEscapedGrowth = 6;

// Writes `s` as a JSON string body (no quotes) at `out`, which has room for
// kMaxJsonEscapedGrowth * s.size() bytes; returns the end. Bytes >= 0x80 (UTF-8) pass through.
char* writeJsonEscaped(char* out, std::string_view s);
// The same, appended to `out`.
void appendJsonEscaped(std::string& out, std::string_view s);

}  // namespace podproxy
