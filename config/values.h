#pragma once

// Parsers and validators for the scalar forms used in config files (durations, sizes, host:port,
// header names, domains), independent of YAML so the overrides and tests can use them too.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "config/model.h"

namespace podproxy::config {

// "250ms", "5s", "1m", "1h", "0s", or a plain integer of milliseconds.
std::expected<Duration, std::string> parseDuration(std::string_view text);

// A plain integer of bytes, or an integer with a binary suffix: "60KiB", "1MiB", "1GiB".
// The result must fit in uint32_t because every byte limit in the model is 32-bit.
std::expected<uint32_t, std::string> parseSize(std::string_view text);

// A non-negative decimal integer within [min, max]; no sign, no spaces, no leading "0x".
std::expected<uint64_t, std::string> parseUnsigned(std::string_view text, uint64_t min,
                                                   uint64_t max);

enum class HostKind {
  kIpOnly,      // listeners, admin, static endpoints
  kIpOrDnsName  // strict_dns endpoints
};

// "127.0.0.1:80", "[::1]:80" and, with kIpOrDnsName, "app.svc.cluster.local:80". The host of an
// IPv6 literal is stored without brackets. Port 0 is accepted only when allow_port_zero.
std::expected<SocketAddress, std::string> parseSocketAddress(std::string_view text, HostKind kind,
                                                             bool allow_port_zero);

// "host:port" back into the YAML form ("[::1]:80" for IPv6).
std::string formatSocketAddress(const SocketAddress& address);

// An RFC 1123 host name: dot-separated labels of letters, digits and '-', 1..63 chars each.
bool isValidDnsName(std::string_view name);

// An HTTP token (RFC 9110 tchar), the form every header name and method must have.
bool isValidToken(std::string_view token);

// A header value may not contain CR, LF or NUL (they would split or truncate the header).
bool isValidHeaderValue(std::string_view value);

// trace, debug, info, warn, error or off.
bool isValidLogLevel(std::string_view level);

// Lower-cases ASCII letters only.
std::string toLowerAscii(std::string_view text);

// A virtual host domain: "*", an exact name ("api.local", "10.0.0.1", "[::1]"), a suffix wildcard
// ("*.local") or a prefix wildcard ("api.*"). Expects the lower-cased form.
std::expected<void, std::string> validateDomain(std::string_view domain);

}  // namespace podproxy::config
